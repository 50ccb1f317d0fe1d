"""What judging one gate gives: a frozen ``GateResult`` (status, observed value, evidence)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from loadkit.gates.model import LATENCY_KINDS, RATIO_KINDS, StatKind
from loadkit.units import format_ms, format_percent, format_rate


class GateStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NO_DATA = "no data"  # nothing (or too little) to judge: neither pass nor fail, with a reason
    WARN = "warn"  # failed, but the gate is declared 'as warn'


class GateKind(StrEnum):
    THRESHOLD = "threshold"
    INVARIANT = "invariant"
    REGRESSION = "regression"
    PROBE = "probe"


@dataclass(frozen=True)
class BreachSpan:
    """Consecutive breached windows, seconds after t0, and the worst value seen in them."""

    start_s: float
    end_s: float
    worst: float


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome. ``observed`` is in the threshold's canonical unit (ms, fraction, /s).

    ``samples`` is what the gate judged: requests (or arrivals) in its range, or, for a
    windowed gate, in the windows that had data. ``reason`` says why a gate has no data.
    ``warn`` gates never change the verdict, whatever their status.
    """

    text: str
    kind: GateKind
    status: GateStatus
    observed: float | None
    observed_text: str
    limit_text: str
    detail: str = ""
    location: str | None = None
    samples: int = 0
    breaches: tuple[BreachSpan, ...] = ()
    windows_total: int = 0
    windows_no_data: int = 0
    windows_breached: int = 0
    stat: str = ""  # the stat's label, e.g. p(95), error_rate (empty for invariants/probes)
    stat_kind: str = ""  # a StatKind value: tells the unit of observed and limit
    limit: float | None = None  # the threshold value in the canonical unit
    selector: tuple[tuple[str, str], ...] = ()
    window_s: float | None = None
    warn: bool = False
    reason: str = ""  # why there is no data (status NO_DATA), else empty

    @property
    def failed(self) -> bool:
        return self.status is GateStatus.FAILED

    @property
    def decides(self) -> bool:
        """True when this gate can change the verdict (it is not ``as warn``)."""
        return not self.warn


def format_value(kind: StatKind, value: float | None, *, relative: bool = False) -> str:
    """Human form of a value in the stat's canonical unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if relative or kind in RATIO_KINDS:
        return format_percent(value)
    if kind in LATENCY_KINDS:
        return format_ms(value)
    if kind is StatKind.RATE:
        return format_rate(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


__all__ = ["BreachSpan", "GateKind", "GateResult", "GateStatus", "format_value"]
