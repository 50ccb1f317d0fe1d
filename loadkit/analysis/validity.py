"""Can the run be trusted? Generator health against a ``ValidityBudget`` (DESIGN.md §2.2).

A run whose generator fell behind is *invalid*, whatever its latencies: start lateness p99
over budget, too many dropped arrivals, lost workers (manifest ``workers[].fate`` in
``LOST_FATES``), generator CPU over budget (per worker, the first the manifest records of
``cpu_percent_p95``, ``cpu_percent_max``, ``cpu_percent``: the p95 of 1 s samples is preferred
so one GC pause does not invalidate a run), requests that failed for want of the generator's
own file descriptors or ports (generator faults), a partial folder, or status ``failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis.model import Validity, ValidityBudget, ValidityCheck
from loadkit.results.schema import ArrivalOutcome, RunStatus
from loadkit.units import format_ms, format_percent

LOST_FATES = frozenset({"lost", "crashed", "failed", "killed", "unresponsive", "missing"})
_CPU_KEYS = ("cpu_percent_p95", "cpu_percent_max", "cpu_percent")  # preferred first


def _lateness(arrivals: pd.DataFrame, budget: ValidityBudget) -> ValidityCheck:
    late = arrivals["lateness_ms"].dropna().to_numpy(dtype=float)
    if late.size == 0:
        return ValidityCheck(
            "lateness p99", True, "no started arrivals", format_ms(budget.lateness_p99_ms)
        )
    p99 = float(np.percentile(late, 99))
    ok = p99 <= budget.lateness_p99_ms
    detail = (
        ""
        if ok
        else (
            f"the generator fell behind: arrival start lateness p99 "
            f"{format_ms(p99)} > budget {format_ms(budget.lateness_p99_ms)}"
        )
    )
    return ValidityCheck(
        "lateness p99", ok, format_ms(p99), format_ms(budget.lateness_p99_ms), detail
    )


def _drops(arrivals: pd.DataFrame, budget: ValidityBudget) -> ValidityCheck:
    n = len(arrivals)
    dropped = int((arrivals["outcome"] == ArrivalOutcome.DROPPED.value).sum())
    share = dropped / n if n else 0.0
    ok = share <= budget.max_drop_fraction
    detail = (
        ""
        if ok
        else (
            f"{dropped:,} of {n:,} arrivals were dropped ({format_percent(share)}"
            f" > {format_percent(budget.max_drop_fraction)}): the in-flight cap "
            "was full"
        )
    )
    return ValidityCheck(
        "dropped arrivals",
        ok,
        f"{dropped:,} ({format_percent(share)})",
        f"≤ {format_percent(budget.max_drop_fraction)}",
        detail,
    )


def _workers(manifest: dict[str, Any], budget: ValidityBudget) -> list[ValidityCheck]:
    workers = [w for w in manifest.get("workers") or () if isinstance(w, dict)]
    lost = [str(w.get("id")) for w in workers if str(w.get("fate", "")).lower() in LOST_FATES]
    ok = len(lost) <= budget.max_lost_workers
    checks = [
        ValidityCheck(
            "lost workers",
            ok,
            f"{len(lost)} of {len(workers)}",
            f"≤ {budget.max_lost_workers}",
            ""
            if ok
            else f"worker(s) {', '.join(lost)} were lost: their share of the crowd is missing",
        )
    ]
    cpu = [c for c in map(_worker_cpu, workers) if c is not None]
    if cpu:
        peak = max(cpu)
        ok = peak <= budget.max_cpu_percent
        checks.append(
            ValidityCheck(
                "generator CPU",
                ok,
                f"{peak:.0f}%",
                f"≤ {budget.max_cpu_percent:.0f}%",
                "" if ok else f"a generator process ran at {peak:.0f}% CPU: it was saturated",
            )
        )
    return checks


def _generator_faults(faults: Mapping[str, int], budget: ValidityBudget) -> ValidityCheck:
    """Requests that failed for want of the generator's own resources (file descriptors,
    ephemeral ports, socket buffers): the target was never asked, so its error rate is not
    known either."""
    n = sum(faults.values())
    ok = n <= budget.max_generator_faults
    detail = ""
    if not ok:
        worst = max(faults, key=lambda text: faults[text])
        detail = (
            f"{n:,} requests failed because the load generator ran out of its own resources, "
            f"not because of the target; most often: {worst}"
        )
    return ValidityCheck(
        "generator faults", ok, f"{n:,} requests", f"≤ {budget.max_generator_faults:,}", detail
    )


def _worker_cpu(worker: dict[str, Any]) -> float | None:
    """The worker's CPU figure: the first of ``_CPU_KEYS`` it records."""
    for key in _CPU_KEYS:
        value = worker.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def check_validity(
    manifest: dict[str, Any],
    arrivals: pd.DataFrame,
    *,
    partial_reasons: tuple[str, ...],
    budget: ValidityBudget,
    generator_faults: Mapping[str, int] | None = None,
) -> Validity:
    """All validity checks; ``Validity.valid`` is false when any fails (verdict invalid).

    ``generator_faults`` (error text -> count, ``failures.generator_faults``) adds the
    generator-faults check; None (not counted) leaves it out."""
    checks = [_lateness(arrivals, budget), _drops(arrivals, budget), *_workers(manifest, budget)]
    if generator_faults is not None:
        checks.append(_generator_faults(generator_faults, budget))
    if partial_reasons:
        checks.append(
            ValidityCheck(
                "records complete",
                False,
                "partial",
                "complete",
                "partial run: " + "; ".join(partial_reasons),
            )
        )
    if manifest.get("status") == RunStatus.FAILED.value:
        reason = manifest.get("stop_reason") or "no reason recorded"
        checks.append(
            ValidityCheck(
                "run status",
                False,
                "failed",
                "completed",
                f"loadkit itself failed during the run ({reason})",
            )
        )
    return Validity(tuple(checks))


__all__ = ["LOST_FATES", "check_validity"]
