"""What a gate is once parsed: the frozen ``Threshold`` and its parts (stat, comparison, time).

Values are stored in canonical units: milliseconds for latency stats, fractions for rates of
errors/drops and regressions, events per second for ``rate``, plain numbers for counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from loadkit.errors import Location


class StatKind(StrEnum):
    RESPONSE = "response"  # response time from the intended start, ms, ok requests only
    SERVICE = "service"  # service time (start → last byte), ms, ok requests only
    LATENESS = "lateness"  # arrival start lateness, ms
    ERROR_RATE = "error_rate"  # fraction of requests not ok (selector outcome= narrows it)
    RATE = "rate"  # achieved requests per second (outcome=dropped: dropped arrivals per s)
    COUNT = "count"  # number of requests
    DROPS = "drops"  # number of dropped arrivals
    DROP_RATE = "drop_rate"  # fraction of arrivals dropped
    SHARE = "share"  # fraction of started arrivals matching the selector (reason=, outcome=)
    INVARIANT = "invariant"


class Comparison(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def holds(self, observed: float, limit: float) -> bool:
        """True when ``observed <op> limit`` (the gate passes)."""
        return {
            "<": observed < limit,
            "<=": observed <= limit,
            ">": observed > limit,
            ">=": observed >= limit,
            "==": observed == limit,
            "!=": observed != limit,
        }[self.value]


LATENCY_KINDS = (StatKind.RESPONSE, StatKind.SERVICE, StatKind.LATENESS)
# Stats that are a value *of* samples (a percentile, a share): they need a minimum sample count.
# Counts and rates are totals: an empty window is 0, never "no data".
# Stats that are a fraction (limits are percentages).
RATIO_KINDS = (StatKind.ERROR_RATE, StatKind.DROP_RATE, StatKind.SHARE)
SAMPLED_KINDS = (*LATENCY_KINDS, *RATIO_KINDS)
SELECTOR_KEYS = ("step", "name", "persona", "method", "outcome", "status", "worker", "hop",
                 "label", "reason", "per")  # fmt: skip
# Keys only arrival records have: a gate selecting on them counts arrivals.
ARRIVAL_KEYS = ("reason",)
# per=request (default): one sample per attempt; per=intent: one per intent, attempts folded
PER_VALUES = ("request", "intent")
INVARIANTS: dict[str, tuple[str, ...]] = {  # name → accepted parameters
    "no_oversell": (),
    "no_shop_without_token": (),
    "admission_rate": ("max", "tolerance"),
    "fifo": ("max", "slack"),
    "retry_amplification": ("max",),
    "quota": ("max",),
}


@dataclass(frozen=True)
class ThresholdSpec:
    """One gate as written, with where it was written (parsed by ``parse_threshold``)."""

    text: str
    location: Location | None


@dataclass(frozen=True)
class Stat:
    """What a threshold measures. ``q`` is a percentile 0–100 (max is 100); None means mean."""

    kind: StatKind
    q: float | None = None
    is_mean: bool = False

    @property
    def label(self) -> str:
        if self.kind not in LATENCY_KINDS:
            return self.kind.value
        prefix = "" if self.kind is StatKind.RESPONSE else f"{self.kind.value}_"
        if self.is_mean:
            return prefix + "avg"
        if self.q == 100.0:
            return prefix + "max"
        if self.q == 0.0:
            return prefix + "min"
        return f"{prefix}p({self.q:g})"


@dataclass(frozen=True)
class TimeRef:
    """A point in run time: ``anchor`` (t0 or onsale) plus ``offset_s``."""

    anchor: str
    offset_s: float

    def resolve_s(self, onsale_offset_s: float) -> float:
        return self.offset_s + (onsale_offset_s if self.anchor == "onsale" else 0.0)


@dataclass(frozen=True)
class Threshold:
    """One parsed gate (the grammar is in ``loadkit.gates.language``).

    ``selector_at`` holds the 0-based column, in ``text``, of each selector value, so a later
    check (a step the scenario does not define) can put its caret under the value.
    """

    text: str
    location: Location | None
    stat: Stat
    selector: tuple[tuple[str, str], ...] = ()
    op: Comparison = Comparison.LE
    value: float = 0.0
    value_text: str = "0"
    over_s: float | None = None
    for_s: float | None = None
    in_windows: float | None = None  # fraction of windows that must pass
    phase: str | None = None
    start: TimeRef | None = None
    end: TimeRef | None = None
    min_samples: int | None = None
    abort: bool = False
    abort_after_s: float | None = None
    warn: bool = False
    invariant: str | None = None
    params: tuple[tuple[str, float], ...] = ()
    regression: bool = False
    selector_at: tuple[int, ...] = field(default=(), compare=False)

    @property
    def windowed(self) -> bool:
        return self.over_s is not None or self.for_s is not None or self.in_windows is not None

    @property
    def window_s(self) -> float:
        """Window width: ``over``, else the 1 s base when ``for``/``in`` ask for windows."""
        return self.over_s if self.over_s is not None else 1.0

    def select(self, key: str) -> str | None:
        return dict(self.selector).get(key)

    def param(self, name: str, default: float) -> float:
        return dict(self.params).get(name, default)

    def passes(self, observed: float) -> bool:
        return self.op.holds(observed, self.value)

    def __str__(self) -> str:
        return self.text


__all__ = [
    "ARRIVAL_KEYS",
    "INVARIANTS",
    "LATENCY_KINDS",
    "RATIO_KINDS",
    "SAMPLED_KINDS",
    "SELECTOR_KEYS",
    "Comparison",
    "Stat",
    "StatKind",
    "Threshold",
    "ThresholdSpec",
    "TimeRef",
]
