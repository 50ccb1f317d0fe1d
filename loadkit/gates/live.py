"""Live evaluation of ``abort after D`` thresholds, for the runner (pure: no clock, no I/O).

The runner keeps the request records of the last few seconds and, once per tick, calls
``AbortWatch.update(now_s, recent, span_s)``; it answers True once the threshold has been
breached without interruption for ``abort_after_s``. The rules are the offline ones
(``loadkit.gates.rules``): a tick with fewer samples than the threshold's floor neither extends
nor resets a breach (an empty count/rate tick is 0, and is judged); ticks outside the
threshold's range (phase, ``during drain``, ``from .. to``) reset it; a rate divides by the
span (``span_s``, or the time since t0 when the run is younger than that).
The stat itself is computed by the same ``per_group`` as offline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loadkit.gates.model import StatKind, Threshold
from loadkit.gates.rules import min_samples, named_range, on_arrivals
from loadkit.gates.windows import per_group
from loadkit.profiles import Phase

LIVE_KINDS = (
    StatKind.RESPONSE,
    StatKind.SERVICE,
    StatKind.ERROR_RATE,
    StatKind.RATE,
    StatKind.COUNT,
)


class NotLive(ValueError):
    """The threshold cannot be judged live (the analyzer still judges it after the run)."""


@dataclass(frozen=True)
class LiveReading:
    """One tick: the value (NaN without samples), the samples, and whether it breached."""

    value: float
    samples: int
    breached: bool | None  # None: too few samples, or outside the threshold's time range
    breached_for_s: float


class AbortWatch:
    """Tracks one threshold with an abort action across ticks (see the module docstring).

    Raises ``NotLive`` for a threshold the live evaluator cannot judge (arrival stats,
    invariants, regressions) and ``InputError`` for a phase the run does not have.
    """

    def __init__(
        self,
        threshold: Threshold,
        *,
        phases: Sequence[Phase] = (),
        onsale_offset_s: float = 0.0,
    ) -> None:
        th = threshold
        if th.invariant is not None or th.regression:
            raise NotLive(f"'{th.text}': invariants and regressions are judged after the run")
        if th.select("per") == "intent":
            raise NotLive(f"'{th.text}': per=intent folds retries, so it is judged after the run")
        if th.stat.kind not in LIVE_KINDS or on_arrivals(th):
            raise NotLive(f"'{th.text}': live evaluation supports request stats only")
        self.threshold = th
        self.after_s = th.abort_after_s or 0.0
        self.floor = min_samples(th)
        self.range_s = named_range(th, tuple(phases), onsale_offset_s)
        self._since_s: float | None = None
        self.last: LiveReading | None = None

    def measure(self, now_s: float, recent: pd.DataFrame, span_s: float) -> tuple[float, int]:
        """The stat over ``recent`` (the rows of the last ``span_s`` seconds at ``now_s``)."""
        # the rows are not filtered by time, so only the run's own start (t0) shortens the span
        seconds = np.array([min(span_s, now_s) if now_s > 0 else span_s])
        codes = np.zeros(len(recent), dtype=np.int64)
        values, samples = per_group(self.threshold, recent, codes, seconds)
        return float(values[0]), int(samples[0])

    def update(self, now_s: float, recent: pd.DataFrame, span_s: float) -> bool:
        """Feed the records of the last ``span_s`` seconds at ``now_s`` (seconds after t0).

        ``recent`` needs the REQUEST_SCHEMA columns the threshold uses (outcome, response_ms,
        service_ms and selected keys). Returns True when the run should be aborted.
        """
        value, samples = self.measure(now_s, recent, span_s)
        inside = self.range_s[0] <= now_s < self.range_s[1]
        breached: bool | None = None
        if not inside:
            self._since_s = None
        elif samples >= self.floor and not math.isnan(value):
            breached = not self.threshold.passes(value)
            if not breached:
                self._since_s = None
            elif self._since_s is None:
                self._since_s = now_s
        held = now_s - self._since_s if self._since_s is not None else 0.0
        self.last = LiveReading(value, samples, breached, held)
        return self._since_s is not None and held >= self.after_s


__all__ = ["LIVE_KINDS", "AbortWatch", "LiveReading", "NotLive"]
