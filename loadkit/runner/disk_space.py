"""Will the records fit? A free-space estimate from the plan, checked before any load is sent.

A run that fills its disk stops (records that cannot be written stop the load, exit 3); better
to know before it starts. The estimate is deliberately generous: the row sizes are zstd
Parquet as loadkit writes it (measured on synthetic runs: ~28 bytes a request row, ~60 an
arrival row; doubled here for long error texts and small segments), plus each segment's own
footer, times two because compaction writes a copy before it removes the segments.
No gevent here (the CLI calls it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadkit.errors import InputError
from loadkit.scenario.models import (
    ChoiceStep,
    IfStep,
    PollStep,
    RepeatStep,
    RequestStep,
    RetryStep,
    Scenario,
    Step,
)

REQUEST_ROW_BYTES = 60
ARRIVAL_ROW_BYTES = 120
SEGMENT_BYTES = 8 * 1024  # a segment's footer and schema, per kind and flush
COMPACTION_FACTOR = 2.0
LOOP_GUESS = 10  # requests counted for a poll loop or an open-ended repeat (target-dependent)
RETRY_GUESS = 2
WARN_FACTOR = 3.0  # warn when the free space is less than this many estimates


def requests_per_journey(steps: Sequence[Step]) -> float:
    """A rough count of the requests one journey through ``steps`` makes."""
    total = 0.0
    for step in steps:
        if isinstance(step, RequestStep):
            total += 1
        elif isinstance(step, PollStep):
            limit = step.max_polls if step.max_polls is not None else LOOP_GUESS
            total += limit * requests_per_journey(step.steps)
        elif isinstance(step, RepeatStep):
            times = step.times if step.times is not None else LOOP_GUESS
            total += times * requests_per_journey(step.steps)
        elif isinstance(step, RetryStep):
            total += RETRY_GUESS * requests_per_journey(step.steps)
        elif isinstance(step, ChoiceStep):
            weights = sum(b.weight for b in step.branches) or 1.0
            total += sum(b.weight * requests_per_journey(b.steps) for b in step.branches) / weights
        elif isinstance(step, IfStep):
            total += max(requests_per_journey(step.then), requests_per_journey(step.otherwise))
    return total


@dataclass(frozen=True)
class SpaceEstimate:
    arrivals: int
    requests: int
    bytes_needed: int

    def text(self) -> str:
        return (
            f"~{_size(self.bytes_needed)} for ~{self.requests:,} request and "
            f"{self.arrivals:,} arrival records"
        )


def estimate_records(
    scenario: Scenario, arrivals: float, run_s: float, flush_interval_s: float
) -> SpaceEstimate:
    """The space a run's records may take: ``arrivals`` planned, ``run_s`` of flushing."""
    weights = sum(p.weight for p in scenario.personas) or 1.0
    per_journey = sum(p.weight * requests_per_journey(p.steps) for p in scenario.personas)
    requests = int(arrivals * per_journey / weights)
    segments = 2 * (run_s / max(flush_interval_s, 0.1) + 1)
    raw = requests * REQUEST_ROW_BYTES + arrivals * ARRIVAL_ROW_BYTES + segments * SEGMENT_BYTES
    return SpaceEstimate(int(arrivals), requests, int(raw * COMPACTION_FACTOR))


def check_free_space(folder: Path, estimate: SpaceEstimate, warn: Callable[[str], None]) -> None:
    """Refuse (InputError, exit 2, nothing sent) when ``folder``'s file system cannot hold the
    estimate; warn when it is tight (less than ``WARN_FACTOR`` estimates free)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < estimate.bytes_needed:
        raise InputError(
            f"not enough free space for the records under {folder}: the run needs "
            f"{estimate.text()}, {_size(free)} is free.",
            hint="Free some space, or pass --out DIR on a larger disk.",
        )
    if free < estimate.bytes_needed * WARN_FACTOR:
        warn(
            f"warning: {_size(free)} free under {folder}; the records may take "
            f"{estimate.text()}. A full disk stops the run (exit 3)."
        )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


__all__ = ["SpaceEstimate", "check_free_space", "estimate_records", "requests_per_journey"]
