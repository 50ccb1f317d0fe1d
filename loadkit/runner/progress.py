"""Progress lines: what a person watching ``loadkit run`` sees every few seconds."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadkit.profiles import Phase

WAITING_PHASE = "start"
AFTER_PHASE = "drain"


@dataclass(frozen=True)
class Progress:
    """A snapshot of the run. ``elapsed_s`` is from t0 (negative before it); rates are over the
    last interval; ``lateness_p99_ms`` is over arrivals started in the last interval (None if
    none started)."""

    elapsed_s: float
    phase: str
    scheduled: int  # arrivals due so far
    started: int
    dropped: int
    in_flight: int
    requests_per_s: float
    errors: int  # requests with an outcome other than ok, so far
    lateness_p99_ms: float | None
    final: bool = False
    cpu_percent: float | None = None  # this process's CPU over the last interval (100 = 1 core)
    generator_faults: int = 0  # of ``errors``: requests the generator's own resources failed


def phase_at(phases: Sequence[Phase], elapsed_s: float) -> str:
    """The name of the phase holding ``elapsed_s`` (before the first: start; after the last:
    drain)."""
    for p in phases:
        if p.start_s <= elapsed_s < p.end_s:
            return p.name
    if not phases or elapsed_s < min(p.start_s for p in phases):
        return WAITING_PHASE
    return AFTER_PHASE


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0-100) of values, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def format_progress(p: Progress) -> str:
    """``[  12.0s spike] arrivals 340/355 started, 0 dropped, 42 in flight, 310 req/s, 0 errors,
    lateness p99 1.2ms``"""
    late = "-" if p.lateness_p99_ms is None else f"{p.lateness_p99_ms:.1f}ms"
    head = f"[{p.elapsed_s:6.1f}s {p.phase}]"
    if p.final:
        head += " done:"
    cpu = "" if p.cpu_percent is None else f", cpu {p.cpu_percent:.0f}%"
    if p.generator_faults:  # said only when there are some: they make the run invalid
        cpu += f", {p.generator_faults} generator faults (run invalid: see the error text)"
    return (
        f"{head} arrivals {p.started}/{p.scheduled} started, {p.dropped} dropped, "
        f"{p.in_flight} in flight, {p.requests_per_s:.0f} req/s, {p.errors} errors, "
        f"lateness p99 {late}{cpu}"
    )


def process_cpu_s() -> float:
    """CPU seconds this process has used so far (user + system, every thread)."""
    t = os.times()
    return t.user + t.system


class CpuMeter:
    """This process's CPU use per wall second, in percent of one core, between samples.

    Each ``sample`` covers the time since the previous one (or since creation). A process using
    gevent's thread pool (Parquet writes) can go above 100 % on a multi-core machine.
    """

    def __init__(
        self,
        wall_s: Callable[[], float] = time.monotonic,
        cpu_s: Callable[[], float] = process_cpu_s,
    ) -> None:
        self._wall_s = wall_s
        self._cpu_s = cpu_s
        self._mark = (wall_s(), cpu_s())
        self.samples: list[float] = []

    @property
    def since_s(self) -> float:
        """Wall seconds since the last sample."""
        return self._wall_s() - self._mark[0]

    def sample(self) -> float | None:
        """CPU percent since the last sample (None if no wall time passed); kept in ``samples``."""
        wall, cpu = self._wall_s(), self._cpu_s()
        dt_s = wall - self._mark[0]
        if dt_s <= 0:
            return None
        percent = 100.0 * max(0.0, cpu - self._mark[1]) / dt_s
        self._mark = (wall, cpu)
        self.samples.append(percent)
        return percent

    def summary(self) -> dict[str, float]:
        """``cpu_percent_max`` and ``cpu_percent_p95`` (nearest rank) of the samples, rounded to
        0.1; empty without samples."""
        p95 = percentile(self.samples, 95.0)
        if p95 is None:
            return {}
        return {"cpu_percent_max": round(max(self.samples), 1), "cpu_percent_p95": round(p95, 1)}


__all__ = [
    "CpuMeter",
    "Progress",
    "format_progress",
    "percentile",
    "phase_at",
    "process_cpu_s",
]
