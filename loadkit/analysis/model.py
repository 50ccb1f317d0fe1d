"""What an analysis produces: the verdict, gates, validity and the tables the reports draw.

Every model is a frozen dataclass; tables are pandas DataFrames (tidy, one row per thing) so
reports and notebooks can use them directly. ``Verdict`` → exit code is the contract of
DESIGN.md §3: 0 passed · 1 a gate failed · 3 invalid or inconclusive · 130 aborted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from loadkit.errors import ExitCode
from loadkit.gates import BreachSpan, GateKind, GateResult, GateStatus
from loadkit.profiles import Phase


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # a gate failed (threshold, invariant, regression, probe)
    INVALID = "invalid"  # the generator fell behind, workers were lost, the run is partial
    INCONCLUSIVE = "inconclusive"  # too little data to decide a gate
    ABORTED = "aborted"  # stopped early (Ctrl-C); analyzed anyway

    @property
    def exit_code(self) -> ExitCode:
        return {
            Verdict.PASSED: ExitCode.PASSED,
            Verdict.FAILED: ExitCode.FAILED,
            Verdict.INVALID: ExitCode.INVALID,
            Verdict.INCONCLUSIVE: ExitCode.INVALID,
            Verdict.ABORTED: ExitCode.INTERRUPTED,
        }[self]


@dataclass(frozen=True)
class ValidityBudget:
    """How far behind the generator may fall before a run is reported invalid."""

    lateness_p99_ms: float = 250.0
    max_drop_fraction: float = 0.001
    max_lost_workers: int = 0
    max_cpu_percent: float = 90.0
    max_generator_faults: int = 0  # requests the generator's own resources failed (fds, ports)
    min_ok_requests: int = 1


@dataclass(frozen=True)
class ValidityCheck:
    name: str
    ok: bool
    observed_text: str
    budget_text: str
    detail: str = ""


@dataclass(frozen=True)
class Validity:
    checks: tuple[ValidityCheck, ...]

    @property
    def valid(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(
            c.detail or f"{c.name}: {c.observed_text} (budget {c.budget_text})"
            for c in self.checks
            if not c.ok
        )


@dataclass(frozen=True)
class RunInfo:
    """What the reports say about the run itself (from the manifest)."""

    run_id: str
    path: str
    status: str
    partial: bool
    partial_reasons: tuple[str, ...]
    t0_ns: int
    onsale_offset_s: float
    duration_s: float
    phases: tuple[Phase, ...]
    target: str
    scenario: str
    versions: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None


@dataclass(frozen=True, eq=False)
class Analysis:
    """The result of ``analyze``: verdict first, then the evidence.

    Tables: ``steps`` (per step × phase, phase ``all`` for the whole run), ``windows`` (1 s
    windows per step), ``generator`` (1 s generator health), ``funnel``, ``hdr`` (percentile
    curves per step), ``comparison`` (with a baseline, else None); ``queue_wait_s`` holds the
    join → admission waits; ``outcomes`` (how each persona's journeys ended, with reasons)
    and ``labels`` (outcome labels given per persona and step), see ``analysis.journeys``.
    """

    run: RunInfo
    verdict: Verdict
    reasons: tuple[str, ...]
    gates: tuple[GateResult, ...]
    validity: Validity
    steps: pd.DataFrame
    windows: pd.DataFrame
    generator: pd.DataFrame
    funnel: pd.DataFrame
    hdr: pd.DataFrame
    queue_wait_s: np.ndarray
    comparison: pd.DataFrame | None = None
    probes: tuple[Any, ...] = ()
    # failed requests by status, error and step (analysis/failures.py); None: not computed
    failures: pd.DataFrame | None = None
    baseline_hdr: pd.DataFrame | None = None  # the baseline's ``hdr`` when compared with one
    # per persona: outcome, reason, visitors, share; and step, label, requests (journeys.py)
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)
    labels: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def exit_code(self) -> ExitCode:
        return self.verdict.exit_code

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.failed)


__all__ = [
    "Analysis",
    "BreachSpan",
    "GateKind",
    "GateResult",
    "GateStatus",
    "RunInfo",
    "Validity",
    "ValidityBudget",
    "ValidityCheck",
    "Verdict",
]
