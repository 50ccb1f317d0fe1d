"""The rules every gate follows, live and offline: sample floors, time ranges and phases.

- **Sample floor.** ``min N samples`` (any N ≥ 0) is the floor; without it, stats that are a
  value *of* samples (percentiles, means, error and drop rates) need ``DEFAULT_MIN_SAMPLES``,
  and counts and rates need none: an empty count/rate window is 0, which ``>=`` can breach.
- **Phases.** ``during NAME`` is the profile's phase ``[start_s, end_s)``; ``during drain`` is
  the time after the last phase (journeys finishing) unless the profile names its own drain.
- **Names.** A selector value must name (or a glob match) a step, request name, method or
  persona the scenario defines (``check_selectors``, exit 2 at validate).
- **Covered time.** A run covers ``[first intended start, last end]``. A gate's range (its
  phase, its ``from .. to``, else the whole run) is clipped to it, and rates divide by the
  clipped length: a rate is never diluted by time the run did not cover.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Collection, Mapping, Sequence

from loadkit.errors import did_you_mean
from loadkit.gates.language import GLOB_CHARS, caret_error
from loadkit.gates.model import ARRIVAL_KEYS, SAMPLED_KINDS, StatKind, Threshold
from loadkit.profiles import Phase
from loadkit.results.frames import AFTER_PHASES
from loadkit.results.schema import ArrivalOutcome, Outcome

DEFAULT_MIN_SAMPLES = 5
DRAIN_PHASE = AFTER_PHASES  # "drain": what every report calls the time after the phases
_ARRIVAL_OUTCOMES = {o.value for o in ArrivalOutcome} - {o.value for o in Outcome}


def min_samples(th: Threshold) -> int:
    """The sample floor of ``th`` (see the module docstring)."""
    if th.min_samples is not None:
        return th.min_samples
    return DEFAULT_MIN_SAMPLES if th.stat.kind in SAMPLED_KINDS else 0


def on_arrivals(th: Threshold) -> bool:
    """True when ``th`` is judged on arrival records (lateness, drops, dropped-arrival rate)."""
    kind = th.stat.kind
    if kind in (StatKind.LATENESS, StatKind.DROPS, StatKind.DROP_RATE, StatKind.SHARE):
        return True
    if any(key in ARRIVAL_KEYS for key, _ in th.selector):  # count{reason=...}
        return True
    return kind is StatKind.RATE and th.select("outcome") in _ARRIVAL_OUTCOMES


def phase_names(phases: Sequence[Phase]) -> list[str]:
    """The names ``during`` accepts: the profile's phases, then ``drain``."""
    names = [p.name for p in phases]
    return names + ([] if DRAIN_PHASE in names else [DRAIN_PHASE])


def check_phase(th: Threshold, phases: Sequence[Phase]) -> None:
    """Raise ``InputError`` (exit 2) when ``th`` names a phase the run or profile lacks."""
    if th.phase is None or th.phase in phase_names(phases):
        return
    col = th.text.find(th.phase, th.text.find("during"))
    names = phase_names(phases) if phases else [DRAIN_PHASE]
    raise caret_error(
        th.text,
        th.location,
        max(col, 0),
        f"threshold names phase '{th.phase}', which is not a phase of this run",
        f"Phases: {', '.join(names)}." + ("" if phases else " (the run lists no phases)"),
    )


def named_range(
    th: Threshold, phases: Sequence[Phase], onsale_offset_s: float
) -> tuple[float, float]:
    """``[lo, hi)`` in seconds after t0 that ``th`` names, not yet clipped to what ran:
    its phase, its ``from .. to``, else everything. Raises ``InputError`` for an unknown phase."""
    if th.phase is not None:
        check_phase(th, phases)
        for p in phases:
            if p.name == th.phase:
                return p.start_s, p.end_s
        return (max((p.end_s for p in phases), default=-math.inf), math.inf)  # drain
    lo = th.start.resolve_s(onsale_offset_s) if th.start is not None else -math.inf
    hi = th.end.resolve_s(onsale_offset_s) if th.end is not None else math.inf
    return lo, hi


def range_text(th: Threshold, lo: float, hi: float) -> str:
    """How a reason names a gate's range: ``phase spike (30s–60s)``, ``30s–90s``."""
    span = f"{_s(lo)}–{_s(hi)}"
    return f"phase {th.phase} ({span})" if th.phase is not None else span


def _s(t: float) -> str:
    return "∞" if math.isinf(t) else f"{t:g}s"


def clip(named: tuple[float, float], covered: tuple[float, float]) -> tuple[float, float]:
    """``named`` clipped to the covered time; empty (hi <= lo) when they do not meet."""
    return max(named[0], covered[0]), min(named[1], covered[1])


def not_run_reason(th: Threshold, named: tuple[float, float], covered: tuple[float, float]) -> str:
    """Why a gate whose range does not meet the covered time has no data."""
    first, last = round(covered[0], 1), round(covered[1], 1)
    return f"{range_text(th, *named)} did not run: the run covered {first:g}s–{last:g}s"


def check_selectors(th: Threshold, defined: Mapping[str, Collection[str]]) -> None:
    """Raise ``InputError`` (exit 2, caret under the value) when a selector value names, or a
    glob matches, none of the ``defined`` names of its key (e.g. the scenario's steps). Keys
    absent from ``defined`` are not checked."""
    columns = th.selector_at or (0,) * len(th.selector)
    for (key, value), col in zip(th.selector, columns, strict=True):
        names = defined.get(key)
        if names is None or any(fnmatch.fnmatchcase(n, value) for n in names):
            continue
        known = sorted(names)
        if any(c in value for c in GLOB_CHARS):
            problem = f"threshold {key} '{value}' matches no {key} the scenario defines"
        else:
            problem = f"threshold names {key} '{value}', which the scenario does not define"
            problem += did_you_mean(value, known)
        hint = f"{key}s the scenario defines: {', '.join(known) or 'none'}."
        raise caret_error(th.text, th.location, col, problem, hint)


__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "DRAIN_PHASE",
    "check_phase",
    "check_selectors",
    "clip",
    "min_samples",
    "named_range",
    "not_run_reason",
    "on_arrivals",
    "phase_names",
    "range_text",
]
