"""Live evaluation of ``abort after D`` thresholds, for the runner (pure: no clock, no I/O).

The runner keeps the request records of the last few seconds and, once per tick, calls
``AbortWatch.update(now_s, recent)``; it answers True once the threshold has been breached
without interruption for ``abort_after_s``. A tick with too few samples (fewer than the
threshold's ``min N samples``, default 5, for latency and error-rate stats) neither extends
nor resets a breach. Ticks outside the threshold's ``during``/``from..to`` range reset it.

The threshold is any object with the attributes of ``loadkit.scenario.thresholds.Threshold``
(``results`` sits below ``scenario`` in the layering, so it is typed by a Protocol here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from loadkit.results.frames import measure_requests

DEFAULT_MIN_SAMPLES = 5
_SAMPLED = ("response", "service", "error_rate")
_REQUEST_KINDS = (*_SAMPLED, "rate", "count")


class _Stat(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def q(self) -> float | None: ...
    @property
    def is_mean(self) -> bool: ...


class _TimeRef(Protocol):
    def resolve_s(self, onsale_offset_s: float) -> float: ...


class LiveThreshold(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def stat(self) -> _Stat: ...
    @property
    def selector(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def abort_after_s(self) -> float | None: ...
    @property
    def min_samples(self) -> int | None: ...
    @property
    def phase(self) -> str | None: ...
    @property
    def start(self) -> _TimeRef | None: ...
    @property
    def end(self) -> _TimeRef | None: ...

    def passes(self, observed: float) -> bool: ...


@dataclass(frozen=True)
class LiveReading:
    """One tick: the value (NaN without samples), the samples, and whether it breached."""

    value: float
    samples: int
    breached: bool | None  # None: too few samples, or outside the threshold's time range
    breached_for_s: float


class AbortWatch:
    """Tracks one threshold with an abort action across ticks (see the module docstring)."""

    def __init__(
        self,
        threshold: LiveThreshold,
        *,
        phases: Sequence[tuple[str, float, float]] = (),
        onsale_offset_s: float = 0.0,
    ) -> None:
        kind = str(threshold.stat.kind)
        if kind not in _REQUEST_KINDS:
            raise ValueError(f"'{threshold.text}': live evaluation supports request stats only")
        self.threshold = threshold
        self.kind = kind
        self.after_s = threshold.abort_after_s or 0.0
        self.range_s = self._range(threshold, phases, onsale_offset_s)
        self._since_s: float | None = None
        self.last: LiveReading | None = None

    @staticmethod
    def _range(
        th: LiveThreshold, phases: Sequence[tuple[str, float, float]], onsale_s: float
    ) -> tuple[float, float]:
        if th.phase is not None:
            for name, start, end in phases:
                if name == th.phase:
                    return start, end
            raise ValueError(f"'{th.text}': unknown phase '{th.phase}'")
        lo = th.start.resolve_s(onsale_s) if th.start is not None else float("-inf")
        hi = th.end.resolve_s(onsale_s) if th.end is not None else float("inf")
        return lo, hi

    def update(self, now_s: float, recent: pd.DataFrame, span_s: float) -> bool:
        """Feed the records of the last ``span_s`` seconds at ``now_s`` (seconds after t0).

        ``recent`` needs the REQUEST_SCHEMA columns the threshold uses (outcome, response_ms,
        service_ms and selected keys). Returns True when the run should be aborted.
        """
        th = self.threshold
        value, samples = measure_requests(
            recent, self.kind, None if th.stat.is_mean else th.stat.q, th.selector, span_s
        )
        need = (th.min_samples or DEFAULT_MIN_SAMPLES) if self.kind in _SAMPLED else 0
        inside = self.range_s[0] <= now_s < self.range_s[1]
        breached: bool | None = None
        if not inside:
            self._since_s = None
        elif samples >= need and value == value:
            breached = not th.passes(value)
            if not breached:
                self._since_s = None
            elif self._since_s is None:
                self._since_s = now_s
        held = now_s - self._since_s if self._since_s is not None else 0.0
        self.last = LiveReading(value, samples, breached, held)
        return self._since_s is not None and held >= self.after_s


__all__ = ["DEFAULT_MIN_SAMPLES", "AbortWatch", "LiveReading", "LiveThreshold"]
