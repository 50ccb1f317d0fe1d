"""How many local workers a crowd needs: available cores, and the generator's measured cost.

The cost figures are BENCHMARKS.md's (measured on the project's shared 2-core machine, one
generator process per core): starting an arrival whose visitor opens a new connection and sends
one GET costs about 685 µs of generator CPU (table "Schedule accuracy", row "500/s for 8 s, one
GET each", this tree: 629–718 µs), and each further keep-alive request in the journey about
176 µs (table "loadkit visitor path", loadkit rows: 156–187 µs). A worker is planned at
``WORKER_BUSY_FRACTION`` of a core, under the validity budget (90 % CPU) that would make the run
invalid.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from loadkit.scenario import Scenario, Step
from loadkit.scenario.models import RequestStep
from loadkit.scenario.summary import mean_along

FIRST_REQUEST_US = 685.0
FURTHER_REQUEST_US = 176.0
COST_SOURCE = (
    "BENCHMARKS.md, measured on a shared 2-core machine: 685 µs per arrival with one GET on a "
    "new connection ('Schedule accuracy', 500/s row) + 176 µs per further keep-alive request "
    "('loadkit visitor path')"
)
WORKER_BUSY_FRACTION = 0.7


def available_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def mean_requests(steps: Sequence[Step]) -> float:
    """Mean HTTP requests along ``steps`` (``scenario.summary.mean_along``: branches weighted,
    ``if`` the larger branch, a loop's body once)."""
    return mean_along(steps, lambda s: 1.0 if isinstance(s, RequestStep) else 0.0)


@dataclass(frozen=True)
class WorkerPlan:
    peak_rate_per_s: float
    requests_per_arrival: float
    cost_per_arrival_us: float
    workers_needed: int
    cores: int

    def text(self) -> str:
        cpu = self.peak_rate_per_s * self.cost_per_arrival_us / 1e6
        verdict = (
            "fits this machine"
            if self.workers_needed <= self.cores
            else f"more than this machine's {self.cores} cores: add worker machines"
        )
        return (
            f"workers: the peak of {self.peak_rate_per_s:,.1f} arrivals/s × "
            f"~{self.cost_per_arrival_us:,.0f} µs per arrival (~{self.requests_per_arrival:.1f}"
            f" requests each, loops counted once) ≈ {cpu:.2f} core(s) of generator CPU → "
            f"{self.workers_needed} worker(s) at ≤ {WORKER_BUSY_FRACTION:.0%} of a core each; "
            f"{verdict} (--workers auto = {self.cores}).\n"
            f"  cost source: {COST_SOURCE}"
        )


def plan_workers(scenario: Scenario, peak_rate_per_s: float) -> WorkerPlan:
    """Workers needed for ``peak_rate_per_s`` arrivals/s of ``scenario`` on this machine."""
    total = sum(p.weight for p in scenario.personas) or 1.0
    requests = sum(p.weight * mean_requests(p.steps) for p in scenario.personas) / total
    cost_us = FIRST_REQUEST_US + FURTHER_REQUEST_US * max(0.0, requests - 1)
    needed = max(1, math.ceil(peak_rate_per_s * cost_us / 1e6 / WORKER_BUSY_FRACTION))
    return WorkerPlan(peak_rate_per_s, requests, cost_us, needed, available_cores())


__all__ = ["COST_SOURCE", "WorkerPlan", "available_cores", "mean_requests", "plan_workers"]
