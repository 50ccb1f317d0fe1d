"""Progress lines: what a person watching ``loadkit run`` sees every few seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

WAITING_PHASE = "start"
AFTER_PHASE = "drain"


class PhaseLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


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


def phase_at(phases: Sequence[PhaseLike], elapsed_s: float) -> str:
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
    return (
        f"{head} arrivals {p.started}/{p.scheduled} started, {p.dropped} dropped, "
        f"{p.in_flight} in flight, {p.requests_per_s:.0f} req/s, {p.errors} errors, "
        f"lateness p99 {late}"
    )


__all__ = ["Progress", "format_progress", "percentile", "phase_at"]
