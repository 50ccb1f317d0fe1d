"""Epoch timestamps derived from the monotonic clock, so records never go backwards in time."""

from __future__ import annotations

import time
from dataclasses import dataclass

_SAMPLES = 7


@dataclass(frozen=True)
class Clock:
    """``epoch_ns = monotonic_ns + offset_ns``, with the offset measured once at start.

    Wall-clock steps (NTP) during a run then cannot reorder records; the offset goes into the
    manifest so records can be lined up with other machines.
    """

    offset_ns: int

    @classmethod
    def measure(cls) -> Clock:
        """Measure the offset, keeping the sample with the tightest monotonic bracket."""
        best: tuple[int, int] | None = None  # (bracket width, offset)
        for _ in range(_SAMPLES):
            before = time.monotonic_ns()
            wall = time.time_ns()
            after = time.monotonic_ns()
            sample = (after - before, wall - (before + after) // 2)
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        return cls(best[1])

    def now_ns(self) -> int:
        """Current time, epoch nanoseconds."""
        return time.monotonic_ns() + self.offset_ns

    def to_monotonic_ns(self, epoch_ns: int) -> int:
        return epoch_ns - self.offset_ns


__all__ = ["Clock"]
