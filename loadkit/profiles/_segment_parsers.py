"""One parser per segment kind: a YAML mapping in, a ``Segment`` (or problems) out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from loadkit.errors import InputError
from loadkit.profiles._fields import FieldReader, parse_number
from loadkit.profiles.segments import (
    Constant,
    OnsaleReference,
    Ramp,
    Segment,
    Spike,
    Steps,
    Trace,
)
from loadkit.profiles.trace import read_trace
from loadkit.sources import LIMITS, YamlList, YamlMap, data_file, expect_list, expect_map


@dataclass
class SegmentContext:
    """What every segment parser needs: typed reads and where relative files live."""

    reader: FieldReader
    base_dir: Path
    allowed: tuple[Path, ...] = ()  # folders outside ``base_dir`` that files may come from


Parser = Callable[[YamlMap, SegmentContext], Segment | None]


def _ordered(m: YamlMap, ctx: SegmentContext, start: float | None, end: float | None) -> bool:
    if start is None or end is None:
        return False
    if end <= start:
        ctx.reader.problems.add(
            f"the segment ends ({end:g}s) before it starts ({start:g}s).",
            m.value_loc("to"),
            hint="'to' must be later than 'from'.",
        )
        return False
    return True


def _within(m: YamlMap, ctx: SegmentContext, key: str, start: float, end: float) -> bool:
    duration = ctx.reader.duration_s
    if start < 0 or (duration is not None and end > duration + 1e-9):
        ctx.reader.problems.add(
            f"this segment runs from {start:g}s to {end:g}s, outside the profile "
            f"(0s to {duration:g}s).",
            m.value_loc(key) if key in m else m.loc,
            hint="Shorten the segment or lengthen the profile's 'duration'.",
        )
        return False
    return True


def parse_constant(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    r = ctx.reader
    start, end, rate = r.time(m, "from"), r.time(m, "to"), r.rate(m, "rate")
    if not _ordered(m, ctx, start, end) or rate is None:
        return None
    assert start is not None and end is not None
    return Constant(start, end, rate)


def parse_ramp(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    r = ctx.reader
    start, end = r.time(m, "from"), r.time(m, "to")
    a, b = r.rate(m, "start_rate"), r.rate(m, "end_rate")
    if not _ordered(m, ctx, start, end) or a is None or b is None:
        return None
    assert start is not None and end is not None
    return Ramp(start, end, a, b)


def parse_steps(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    r = ctx.reader
    start, every = r.time(m, "from"), r.span(m, "every")
    rates: list[float] | None = None
    if "rates" not in m:
        r.problems.add("missing required key 'rates'.", m.loc)
    elif (
        items := expect_list(m["rates"], m.value_loc("rates"), "'rates'", r.problems)
    ) is not None:
        rates = _rates(items, r)
        if not items:
            r.problems.add("'rates' must list at least one rate.", m.value_loc("rates"))
        if len(rates) != len(items):
            rates = None
    if start is None or every is None or not rates:
        return None
    seg = Steps(start, every, tuple(rates))
    return seg if _within(m, ctx, "rates", seg.start_s, seg.end_s) else None


def _rates(items: YamlList, r: FieldReader) -> list[float]:
    out = []
    for i, item in enumerate(items):
        rate = r.rate_value(item, items.item_loc(i), f"rates[{i}]")
        if rate is not None:
            out.append(rate)
    return out


def parse_spike(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    r = ctx.reader
    at = r.time(m, "at")
    until = r.time(m, "until")
    peak = r.rate(m, "peak")
    baseline = r.rate(m, "baseline", required=False)
    rise = r.span(m, "rise", required=False, allow_zero=True)
    decay = r.span(m, "decay")
    if None in (at, until, peak, decay) or ("baseline" in m and baseline is None):
        return None
    if "rise" in m and rise is None:
        return None
    assert at is not None and until is not None and peak is not None and decay is not None
    if until <= at:
        r.problems.add(
            f"'until' ({until:g}s) must come after 'at' ({at:g}s).", m.value_loc("until")
        )
        return None
    base = baseline or 0.0
    if peak < base:
        r.problems.add(
            f"the spike's peak ({peak:g}/s) is below its baseline ({base:g}/s).",
            m.value_loc("peak"),
            hint="A spike's peak must be at least its baseline.",
        )
        return None
    return Spike(at, until, base, peak, rise or 0.0, decay)


def parse_trace(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    r = ctx.reader
    start = r.time(m, "from", required=False)
    file_value = m.get("file")
    if not isinstance(file_value, str) or not file_value.strip():
        r.problems.add(
            "a trace needs 'file': the path of a CSV (time,rate or time,count).",
            m.value_loc("file") if "file" in m else m.loc,
        )
        return None
    path = ctx.base_dir / file_value
    try:
        data_file(file_value, ctx.base_dir, ctx.allowed, m.value_loc("file"), "trace file",
                  LIMITS.trace_bytes)  # fmt: skip
    except InputError as exc:
        r.problems.add_error(exc)
        return None
    except OSError:
        r.problems.add(
            f"trace file not found: {file_value!r} (looked for {path}).",
            m.value_loc("file"),
            hint="The path is relative to the profile file's folder.",
        )
        return None
    data = read_trace(path, str(path), r.problems)
    if data is None or ("from" in m and start is None):
        return None
    offset = start or 0.0
    knots, a, b = data.knots_and_rates()
    seg = Trace(
        file_value, tuple(k + offset for k in knots), tuple(a), tuple(b), data.mode, data.sha256
    )
    return seg if _within(m, ctx, "file", seg.start_s, seg.end_s) else None


_REFERENCE_SPANS = {
    "prequeue": "prequeue_s",
    "build_up": "build_up_s",
    "rush": "rush_s",
    "tail": "tail_s",
    "tail_decay": "tail_decay_s",
}
_SHARE_KEYS = ("prequeue", "rush", "tail")


def parse_onsale_reference(m: YamlMap, ctx: SegmentContext) -> Segment | None:
    r = ctx.reader
    at = r.time(m, "at") if "at" in m else r.onsale_at_s
    if at is None:
        r.problems.add("the reference on-sale needs 'at' or the profile's 'onsale_at'.", m.loc)
    visitors = r.positive_number(m, "visitors")
    if "visitors" not in m:
        r.problems.add("missing required key 'visitors' (the full-scale crowd).", m.loc)
    spans = {field: r.span(m, key) for key, field in _REFERENCE_SPANS.items() if key in m}
    shares = _shares(m, r)
    if at is None or visitors is None or None in spans.values() or shares is None:
        return None
    kwargs: dict[str, float] = {f: v for f, v in spans.items() if v is not None}
    seg = replace(OnsaleReference(onsale_s=at, visitors=visitors), **kwargs, **shares)
    return seg if _within(m, ctx, "at", seg.start_s, seg.end_s) else None


def _shares(m: YamlMap, r: FieldReader) -> dict[str, float] | None:
    if "shares" not in m:
        return {}
    shares = expect_map(m["shares"], m.value_loc("shares"), "'shares'", r.problems)
    if shares is None:
        return None
    r.problems.check_keys(shares, _SHARE_KEYS, what="shares")
    out: dict[str, float] = {}
    for key in _SHARE_KEYS:
        if key in shares:
            value = _share(shares[key])
            if value is None:
                r.problems.add(
                    f"bad share {shares[key]!r}: expected a percentage such as 70% "
                    "or a fraction such as 0.7, zero or more.",
                    shares.value_loc(key),
                )
                return None
            out[f"{key}_share"] = value
    if out and sum(out.values()) <= 0:
        r.problems.add("the shares add up to zero.", m.value_loc("shares"))
        return None
    return out


def _share(value: object) -> float | None:
    if isinstance(value, str) and value.strip().endswith("%"):
        number = parse_number(value.strip()[:-1])
        number = None if number is None else number / 100.0
    else:
        number = parse_number(value)
    return number if number is not None and number >= 0 else None


KIND_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("from", "to", "rate"),
    "ramp": ("from", "to", "start_rate", "end_rate"),
    "steps": ("from", "every", "rates"),
    "spike": ("at", "until", "baseline", "peak", "rise", "decay"),
    "trace": ("file", "from"),
    "onsale-reference": ("at", "visitors", *_REFERENCE_SPANS, "shares"),
}
PARSERS: dict[str, Parser] = {
    "constant": parse_constant,
    "ramp": parse_ramp,
    "steps": parse_steps,
    "spike": parse_spike,
    "trace": parse_trace,
    "onsale-reference": parse_onsale_reference,
}


__all__ = ["KIND_KEYS", "PARSERS", "SegmentContext"]
