"""The capacity search as a pure strategy: given ``probe(rate) -> ProbeResult``, find the largest
peak arrival rate at which every gate passes.

It never runs anything itself: the caller's ``probe`` does (a short rehearsal, or a fake target
in the tests), and ``clock`` says how much of the time budget is spent. The strategy:

1. **Step up** geometrically from ``start_rate_per_s`` (× ``growth``) until a probe fails or
   ``max_rate_per_s`` is reached. A first probe that fails steps *down* (÷ ``growth``) until one
   passes or the rate drops below ``min_rate_per_s`` (then the gates never pass: inconclusive).
2. **Bisect** (geometric midpoint) between the highest passing and lowest failing rate until
   they are within ``resolution`` of each other.
3. **Confirm** the boundary: repeat both rates until each has ``repeats`` probes. A rate *holds*
   only when every probe at it passed; a repeat that fails moves the boundary down and the
   search goes on, so a noisy wall is reported at the rate that held every time.

It stops, and says why, when a probe is generator-bound (the load generator saturated before
the target: the figure would be false), when a probe is inconclusive, when gates pass although
the target is plainly saturated (they cannot see the wall), and at the time budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loadkit.units import format_rate

SATURATED_ERROR_RATE = 0.5  # gates that pass with half the requests failing cannot see a wall


class ProbeOutcome(StrEnum):
    PASSED = "passed"  # every gate passed
    FAILED = "failed"  # a gate failed: the target did not hold this rate
    GENERATOR_BOUND = "generator_bound"  # the run is invalid: the generator fell behind
    INCONCLUSIVE = "inconclusive"  # too little data, or invalid for another reason


class Stop(StrEnum):
    """Why the search ended."""

    FOUND = "found"  # a confirmed boundary: holds lo, fails hi
    MAX_RATE = "max_rate"  # passed at --max: capacity is at least that
    GENERATOR_BOUND = "generator_bound"
    NEVER_PASSES = "never_passes"  # failed even at the lowest rate tried
    GATES_BLIND = "gates_blind"  # passed although the target was saturated
    NO_WALL = "no_wall"  # passed every step up to the step limit
    INCONCLUSIVE_PROBE = "inconclusive_probe"
    BUDGET = "budget"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class ProbeResult:
    """One probe at ``rate_per_s`` (the profile's peak arrival rate).

    ``error_rate`` (0..1, all requests) lets the search notice gates that cannot fail;
    ``first_failed_gate`` and ``reasons`` are for the reader; ``details`` is anything the
    caller wants kept in ``capacity.json`` (run folder, percentiles, ...).
    """

    rate_per_s: float
    outcome: ProbeOutcome
    error_rate: float = 0.0
    first_failed_gate: str | None = None
    reasons: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is ProbeOutcome.PASSED


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of the search. Rates in arrivals/s; ``resolution`` is relative (0.05 = the gap
    between holds and fails is at most 5 %); ``budget_s`` counts the caller's ``clock``."""

    start_rate_per_s: float
    max_rate_per_s: float | None = None
    min_rate_per_s: float | None = None  # default: start / growth³
    growth: float = 2.0
    resolution: float = 0.05
    repeats: int = 2
    budget_s: float | None = None
    max_steps: int = 16  # steps up (or down) before giving up on finding a wall
    max_probes: int = 40

    def __post_init__(self) -> None:
        if not (self.start_rate_per_s > 0 and math.isfinite(self.start_rate_per_s)):
            raise ValueError("the start rate must be a positive number")
        if self.growth <= 1.0:
            raise ValueError("growth must be more than 1")
        if not 0 < self.resolution < 1:
            raise ValueError("resolution must be between 0 and 1")
        if self.repeats < 1:
            raise ValueError("repeats must be at least 1")
        if self.max_rate_per_s is not None and self.max_rate_per_s < self.start_rate_per_s:
            raise ValueError("the max rate is below the start rate")

    @property
    def floor_rate_per_s(self) -> float:
        return self.min_rate_per_s or self.start_rate_per_s / self.growth**3


@dataclass(frozen=True)
class SearchResult:
    """The answer with its uncertainty: ``holds_per_s`` passed every probe at it (None: no rate
    held), ``fails_per_s`` is the lowest rate that failed (None: none failed)."""

    stop: Stop
    message: str
    holds_per_s: float | None
    fails_per_s: float | None
    probes: tuple[ProbeResult, ...]

    def at(self, rate_per_s: float | None) -> list[ProbeResult]:
        return [p for p in self.probes if rate_per_s is not None and p.rate_per_s == rate_per_s]

    @property
    def holds_repeats(self) -> tuple[int, int]:
        """(passed, probes) at the holding rate."""
        ps = self.at(self.holds_per_s)
        return sum(p.passed for p in ps), len(ps)

    @property
    def fails_repeats(self) -> tuple[int, int]:
        """(failed, probes) at the failing rate."""
        ps = self.at(self.fails_per_s)
        return sum(p.outcome is ProbeOutcome.FAILED for p in ps), len(ps)

    @property
    def conclusive(self) -> bool:
        return self.stop in (Stop.FOUND, Stop.MAX_RATE)

    @property
    def first_failed_gate(self) -> str | None:
        for p in self.at(self.fails_per_s):
            if p.first_failed_gate:
                return p.first_failed_gate
        return None


class _Done(Exception):
    def __init__(self, stop: Stop, message: str) -> None:
        self.stop = stop
        self.message = message


Probe = Callable[[float], ProbeResult]
Clock = Callable[[], float]


class _Search:
    def __init__(self, probe: Probe, settings: SearchSettings, clock: Clock) -> None:
        self.probe_fn = probe
        self.s = settings
        self.clock = clock
        self.started = clock()
        self.probes: list[ProbeResult] = []
        self.longest_s = 0.0

    # -- bookkeeping ---------------------------------------------------------------------

    def holds(self, rate: float) -> bool:
        ps = [p for p in self.probes if p.rate_per_s == rate]
        return bool(ps) and all(p.passed for p in ps)

    def lo(self) -> float | None:
        held = [p.rate_per_s for p in self.probes if self.holds(p.rate_per_s)]
        failed = [p.rate_per_s for p in self.probes if not p.passed]
        below = [r for r in held if not failed or r < min(failed)]
        return max(below) if below else None

    def hi(self) -> float | None:
        failed = [p.rate_per_s for p in self.probes if p.outcome is ProbeOutcome.FAILED]
        return min(failed) if failed else None

    def count(self, rate: float) -> int:
        return sum(p.rate_per_s == rate for p in self.probes)

    def run(self, rate: float) -> ProbeResult:
        """One probe, with every stop condition that a single probe can trigger."""
        if len(self.probes) >= self.s.max_probes:
            raise _Done(Stop.BUDGET, f"stopped after {len(self.probes)} probes (the limit)")
        if self.s.budget_s is not None:
            spent = self.clock() - self.started
            if spent + self.longest_s > self.s.budget_s:
                raise _Done(
                    Stop.BUDGET, f"time budget spent ({spent:.0f}s of {self.s.budget_s:g}s)"
                )
        before = self.clock()
        result = self.probe_fn(rate)
        self.longest_s = max(self.longest_s, self.clock() - before)
        self.probes.append(result)
        shown = format_rate(rate)
        if result.outcome is ProbeOutcome.GENERATOR_BOUND:
            why = "; ".join(result.reasons[:2]) or "the generator fell behind"
            raise _Done(Stop.GENERATOR_BOUND, f"generator-bound at {shown}: add workers ({why})")
        if result.outcome is ProbeOutcome.INCONCLUSIVE:
            why = "; ".join(result.reasons[:2]) or "no verdict"
            raise _Done(Stop.INCONCLUSIVE_PROBE, f"the probe at {shown} was inconclusive ({why})")
        if result.passed and result.error_rate >= SATURATED_ERROR_RATE:
            raise _Done(
                Stop.GATES_BLIND,
                f"every gate passed at {shown} although {result.error_rate:.0%} of requests "
                "failed: these gates cannot see the wall (add an error_rate or latency gate)",
            )
        return result

    # -- phases --------------------------------------------------------------------------

    def step(self) -> None:
        s = self.s
        rate = s.start_rate_per_s
        first = self.run(rate)
        if not first.passed:
            for _ in range(s.max_steps):
                rate /= s.growth
                if rate < s.floor_rate_per_s:
                    raise _Done(
                        Stop.NEVER_PASSES,
                        f"the gates fail even at {format_rate(rate * s.growth)}"
                        f" ({first.first_failed_gate or 'a gate'}): they may never pass",
                    )
                if self.run_lower(rate, first).passed:
                    return
            raise _Done(Stop.NEVER_PASSES, "no rate passed")
        for _ in range(s.max_steps):
            if s.max_rate_per_s is not None and rate >= s.max_rate_per_s:
                raise _Done(Stop.MAX_RATE, f"holds at least {format_rate(rate)} (the --max)")
            rate = rate * s.growth
            if s.max_rate_per_s is not None:
                rate = min(rate, s.max_rate_per_s)
            if not self.run(rate).passed:
                return
        raise _Done(
            Stop.NO_WALL,
            f"every gate passed at every rate up to {format_rate(rate)}: no wall found"
            " (the gates may never fail; set --max to bound the search)",
        )

    def run_lower(self, rate: float, first: ProbeResult) -> ProbeResult:
        """A probe below a failing start: too little data there means no rate will pass."""
        try:
            return self.run(rate)
        except _Done as done:
            if done.stop is not Stop.INCONCLUSIVE_PROBE:
                raise
            raise _Done(
                Stop.NEVER_PASSES,
                f"the gates fail at {format_rate(rate * self.s.growth)}"
                f" ({first.first_failed_gate or 'a gate'}) and lower probes are too small to"
                f" judge ({done.message}): they may never pass",
            ) from None

    def step_below(self, hi: float) -> None:
        """No rate below ``hi`` holds any more (a repeat failed): step down to one that does."""
        rate = hi / self.s.growth
        if rate < self.s.floor_rate_per_s:
            raise _Done(
                Stop.NEVER_PASSES,
                f"the gates fail even at {format_rate(hi)}: they may never pass",
            )
        self.run(_round(rate))

    def bisect(self) -> None:
        while True:
            lo, hi = self.lo(), self.hi()
            assert hi is not None
            if lo is None:
                self.step_below(hi)
                continue
            if hi / lo <= 1 + self.s.resolution:
                return
            self.run(_round(math.sqrt(lo * hi)))

    def confirm(self) -> None:
        """Repeat both sides of the boundary; a failing repeat re-opens the search below."""
        while True:
            self.bisect()
            lo, hi = self.lo(), self.hi()
            assert lo is not None and hi is not None  # bisect returns with both
            if self.count(lo) < self.s.repeats:
                self.run(lo)
                continue  # a failure moved lo down; bisect again
            if self.count(hi) < self.s.repeats:
                self.run(hi)
                continue
            return

    def search(self) -> SearchResult:
        try:
            self.step()
            self.confirm()
            stop, message = Stop.FOUND, ""
        except _Done as done:
            stop, message = done.stop, done.message
        except KeyboardInterrupt:
            stop, message = Stop.INTERRUPTED, "interrupted: the probes so far are kept"
        return self.result(stop, message)

    def result(self, stop: Stop, message: str) -> SearchResult:
        lo, hi = self.lo(), self.hi()
        out = SearchResult(stop, message, lo, hi, tuple(self.probes))
        if stop is Stop.FOUND:
            return SearchResult(stop, describe(out), lo, hi, out.probes)
        return out


def _round(rate: float) -> float:
    """Three significant figures: probe rates people can read and repeat."""
    if rate <= 0:
        return rate
    digits = 2 - math.floor(math.log10(rate))
    return round(rate, digits)


def describe(result: SearchResult) -> str:
    """ "holds 310/s, fails at 340/s (2 of 2 repeats)" — the figure with its uncertainty."""
    parts = []
    if result.holds_per_s is not None:
        ok, n = result.holds_repeats
        parts.append(f"holds {format_rate(result.holds_per_s)} ({ok} of {n} repeats)")
    if result.fails_per_s is not None:
        bad, n = result.fails_repeats
        parts.append(f"fails at {format_rate(result.fails_per_s)} ({bad} of {n} repeats)")
    return ", ".join(parts) or "no rate was probed"


def search_capacity(
    probe: Probe, settings: SearchSettings, clock: Clock | None = None
) -> SearchResult:
    """Run the search (see the module docstring). ``probe`` may raise ``KeyboardInterrupt``:
    the result then has ``Stop.INTERRUPTED`` and every probe finished so far."""
    import time

    return _Search(probe, settings, clock or time.monotonic).search()


__all__ = [
    "ProbeOutcome",
    "ProbeResult",
    "SearchResult",
    "SearchSettings",
    "Stop",
    "describe",
    "search_capacity",
]
