"""Load a profile file (YAML) into a frozen ``Profile``, reporting every problem in one pass.

The file format is documented in docs/profiles.md. Problems are ``InputError``s located at
``file:line:column`` with the key path, the bad value, what is accepted and, for unknown keys
and kinds, the closest valid name; several are raised together as ``ValidationErrors``
(exit code 2).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from loadkit.errors import InputError, Location, did_you_mean
from loadkit.profiles._fields import FieldReader, parse_number
from loadkit.profiles._segment_parsers import KIND_KEYS, PARSERS, SegmentContext
from loadkit.profiles.model import (
    MAX_ARRIVALS,
    MAX_DURATION_S,
    ArrivalProcess,
    Phase,
    Profile,
    Scale,
)
from loadkit.profiles.segments import Segment, Trace
from loadkit.sources import (
    Problems,
    YamlMap,
    allow_paths,
    expect_list,
    expect_map,
    load_yaml_text,
    read_source_text,
)

TOP_KEYS = (
    "name",
    "description",
    "arrivals",
    "duration",
    "onsale_at",
    "scale",
    "segments",
    "phases",
    "allow_paths",
)
PHASE_KEYS = ("name", "from", "to")
DEFAULT_PHASE = "run"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_TOLERANCE_S = 1e-9


def load_profile(path: str | Path, *, scale: Scale | None = None) -> Profile:
    """Read and validate the profile at ``path``.

    ``scale``, if given, replaces the file's own ``scale``. Raises ``InputError`` (one problem)
    or ``ValidationErrors`` (several), both exit code 2.
    """
    text = read_source_text(path, "profile file")
    return load_profile_text(text, str(path), scale=scale)


def load_profile_text(text: str, path: str = "<string>", *, scale: Scale | None = None) -> Profile:
    """Parse profile YAML ``text``; ``path`` names it in messages and anchors trace files."""
    raw = load_yaml_text(text, path)
    problems = Problems()
    doc = expect_map(raw, Location(path, 1, 1), "a profile", problems)
    if doc is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")
    problems.check_keys(doc, TOP_KEYS, required=("duration", "segments"), what="the profile")
    reader = FieldReader(problems, onsale_at_s=None, duration_s=None)
    duration = reader.span(doc, "duration", required=False)
    reader.duration_s = duration
    if "onsale_at" in doc:
        reader.onsale_at_s = reader.time(doc, "onsale_at")
        reader.onsale_is_broken = reader.onsale_at_s is None
    name = _name(doc, path, problems)
    process = _arrival_process(doc, problems)
    file_scale = _scale(doc, reader)
    base_dir = Path(path).parent
    allowed = allow_paths(doc.get("allow_paths"), doc.value_loc("allow_paths"), base_dir, problems)
    segments = _segments(doc, SegmentContext(reader, base_dir, allowed))
    phases = _phases(doc, reader, duration)
    problems.raise_if_any()
    assert duration is not None
    profile = Profile(
        name=name,
        duration_s=duration,
        onsale_at_s=reader.onsale_at_s,
        phases=phases,
        arrival_process=process,
        segments=segments,
        description=str(doc.get("description") or ""),
        source=path,
        sha256=_content_hash(text, segments),
    )
    chosen = scale if scale is not None else file_scale
    scaled = profile if chosen.is_identity else profile.scaled(chosen)
    _check_size(scaled, doc)
    return scaled


def parse_scale(text: str) -> Scale:
    """Parse a scale given on a command line: ``"0.5"`` (time and crowd), ``"1/25"``, or
    ``"time=1/25,crowd=1/100"`` (either part may be left out). Raises ``ValueError``.
    """
    both = parse_number(text)
    if both is not None:
        return Scale(both, both)
    parts: dict[str, float] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        number = parse_number(value)
        if key.strip() not in ("time", "crowd") or number is None:
            raise ValueError(
                f"expected a scale such as 0.5, 1/25 or time=1/25,crowd=1/100, got {text!r}"
            )
        parts[key.strip()] = number
    return Scale(parts.get("time", 1.0), parts.get("crowd", 1.0))


def _name(doc: YamlMap, path: str, problems: Problems) -> str:
    value = doc.get("name", Path(path).stem)
    if not isinstance(value, str) or not value.strip():
        problems.add(f"'name' must be a non-empty text, got {value!r}.", doc.value_loc("name"))
        return Path(path).stem
    return value.strip()


def _arrival_process(doc: YamlMap, problems: Problems) -> ArrivalProcess:
    value = doc.get("arrivals", ArrivalProcess.POISSON.value)
    choices = [a.value for a in ArrivalProcess]
    if value in choices:
        return ArrivalProcess(value)
    problems.add(
        f"bad value for 'arrivals': {value!r}.",
        doc.value_loc("arrivals"),
        hint=(
            did_you_mean(str(value), choices).strip() + f" Accepted: {', '.join(choices)}."
        ).strip(),
    )
    return ArrivalProcess.POISSON


def _scale(doc: YamlMap, reader: FieldReader) -> Scale:
    if "scale" not in doc:
        return Scale()
    value = doc["scale"]
    if not isinstance(value, YamlMap):
        both = reader.positive_number(doc, "scale")
        return Scale(both, both) if both is not None else Scale()
    reader.problems.check_keys(value, ("time", "crowd"), what="scale")
    time = reader.positive_number(value, "time")
    crowd = reader.positive_number(value, "crowd")
    return Scale(time or 1.0, crowd or 1.0)


def _segments(doc: YamlMap, ctx: SegmentContext) -> tuple[Segment, ...]:
    problems = ctx.reader.problems
    if "segments" not in doc:
        return ()
    items = expect_list(doc["segments"], doc.value_loc("segments"), "'segments'", problems)
    if items is None:
        return ()
    if not items:
        problems.add(
            "'segments' is empty: the profile would send nobody.", doc.value_loc("segments")
        )
    out: list[Segment] = []
    for i, item in enumerate(items):
        m = expect_map(item, items.item_loc(i), f"segment {i + 1}", problems)
        if m is None:
            continue
        segment = _segment(m, ctx)
        if segment is not None:
            out.append(segment)
    return tuple(out)


def _segment(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    problems = ctx.reader.problems
    kind = m.get("kind")
    kinds = list(PARSERS)
    if not isinstance(kind, str) or kind not in PARSERS:
        shown = "missing" if kind is None else f"unknown: {kind!r}"
        problems.add(
            f"the segment's 'kind' is {shown}.",
            m.value_loc("kind") if "kind" in m else m.loc,
            hint=(
                did_you_mean(str(kind), kinds).strip() + f" Accepted: {', '.join(kinds)}."
            ).strip(),
        )
        return None
    problems.check_keys(m, ("kind", *KIND_KEYS[kind]), what=f"a {kind} segment")
    segment = PARSERS[kind](m, ctx)
    try:
        if segment is not None:
            segment.pieces()
    except ValueError as exc:  # spans too small for float arithmetic, e.g. every: 1e-300s
        problems.add(f"this {kind} segment cannot be drawn: {exc}.", m.loc)
        return None
    return segment


def _phases(doc: YamlMap, reader: FieldReader, duration: float | None) -> tuple[Phase, ...]:
    if "phases" not in doc:
        return () if duration is None else (Phase(DEFAULT_PHASE, 0.0, duration),)
    problems = reader.problems
    items = expect_list(doc["phases"], doc.value_loc("phases"), "'phases'", problems)
    if items is None:
        return ()
    if not items:
        problems.add(
            "'phases' is empty; list at least one phase or leave the key out.",
            doc.value_loc("phases"),
        )
    phases: list[tuple[Phase, YamlMap]] = []
    for i, item in enumerate(items):
        m = expect_map(item, items.item_loc(i), f"phase {i + 1}", problems)
        if m is None:
            continue
        problems.check_keys(m, PHASE_KEYS, required=PHASE_KEYS, what="a phase")
        phase = _phase(m, reader)
        if phase is not None:
            phases.append((phase, m))
    if len(phases) == len(items) and duration is not None:
        _check_tiling(phases, duration, problems)
    return tuple(p for p, _ in phases)


def _phase(m: YamlMap, reader: FieldReader) -> Phase | None:
    name = m.get("name")
    if "name" in m and not (isinstance(name, str) and _NAME_RE.match(name)):
        reader.problems.add(
            f"bad phase name {name!r}: use letters, digits, '_', '-' or '.', starting with "
            "a letter (thresholds refer to it: 'during spike').",
            m.value_loc("name"),
        )
        return None
    start, end = reader.time(m, "from", required=False), reader.time(m, "to", required=False)
    if not isinstance(name, str) or start is None or end is None:
        return None
    if end <= start:
        reader.problems.add(
            f"phase '{name}' ends ({end:g}s) before it starts ({start:g}s).", m.value_loc("to")
        )
        return None
    return Phase(name, start, end)


def _check_tiling(phases: list[tuple[Phase, YamlMap]], duration: float, problems: Problems) -> None:
    """Phases must cover [0, duration] in order, with no gap and no overlap."""
    hint = "Phases must follow each other without gaps or overlaps, from 0s to the duration."
    seen: dict[str, int] = {}
    expected_start = 0.0
    for phase, m in phases:
        if phase.name in seen:
            problems.add(
                f"phase '{phase.name}' is defined twice (first at line {seen[phase.name]}).",
                m.value_loc("name"),
            )
        seen.setdefault(phase.name, m.loc.line or 0)
        if abs(phase.start_s - expected_start) > _TOLERANCE_S:
            what = "a gap" if phase.start_s > expected_start else "an overlap"
            problems.add(
                f"phase '{phase.name}' starts at {phase.start_s:g}s but the previous "
                f"one ends at {expected_start:g}s: {what}.",
                m.value_loc("from"),
                hint=hint,
            )
        expected_start = phase.end_s
    if phases and abs(expected_start - duration) > _TOLERANCE_S:
        last, m = phases[-1]
        problems.add(
            f"the last phase '{last.name}' ends at {last.end_s:g}s but the profile "
            f"lasts {duration:g}s.",
            m.value_loc("to"),
            hint=hint,
        )


def _content_hash(text: str, segments: tuple[Segment, ...]) -> str:
    """sha256 of the profile text and of every trace it replays: a changed curve shows."""
    digest = hashlib.sha256(text.encode("utf-8"))
    for segment in segments:
        if isinstance(segment, Trace):
            digest.update(segment.sha256.encode("ascii"))
    return digest.hexdigest()


def _check_size(profile: Profile, doc: YamlMap) -> None:
    """Refuse what a schedule cannot hold: no one at all, too many, or too long."""
    total = profile.expected_arrivals()
    where = doc.value_loc("segments")
    if not total > 0:
        raise InputError(
            "the profile's rates are zero everywhere: it would send nobody.",
            location=where,
            hint="Give at least one segment a rate above zero.",
        )
    if total > MAX_ARRIVALS:
        raise InputError(
            f"the profile expects {total:,.0f} arrivals, more than a schedule "
            f"can hold ({MAX_ARRIVALS:,}).",
            location=where,
            hint="Lower the rates, or use a scale with a smaller crowd.",
        )
    if profile.duration_s > MAX_DURATION_S:
        raise InputError(
            f"the profile lasts {profile.duration_s:g}s, longer than a schedule "
            f"can span ({MAX_DURATION_S:g}s, 366 days).",
            location=doc.value_loc("duration"),
            hint="Check the duration and the scale's time factor.",
        )


__all__ = ["DEFAULT_PHASE", "load_profile", "load_profile_text", "parse_scale"]
