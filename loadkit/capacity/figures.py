"""From one analyzed probe run to what the search needs (``ProbeResult``) and the reader sees.

The probe's outcome comes from the normal analyzer's verdict: passed → passed, failed →
failed; invalid because the generator fell behind (lateness, drops, generator CPU, lost
workers) → generator-bound; an inconclusive run where most requests failed → failed (the
target answered almost nothing ok: it did not hold the rate); anything else → inconclusive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis import Analysis, Verdict
from loadkit.capacity.search import ProbeOutcome, ProbeResult
from loadkit.results.schema import Outcome

# Validity checks that mean "the load generator could not keep up" (analysis/validity.py)
GENERATOR_CHECKS = frozenset({"lateness p99", "dropped arrivals", "generator CPU", "lost workers"})
MOSTLY_FAILED = 0.5


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def overall(analysis: Analysis) -> dict[str, float | None]:
    """Whole-run figures of every step: requests, error rate, p50/p95/p99 (ok requests, ms)."""
    steps = analysis.steps
    row = steps[(steps["step"] == "all") & (steps["phase"] == "all")] if len(steps) else steps
    if row.empty:
        return {"requests": 0.0, "error_rate": None, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    r = row.iloc[0]
    return {k: _finite(r.get(k)) for k in ("requests", "error_rate", "p50_ms", "p95_ms", "p99_ms")}


def errors_by_status(requests: pd.DataFrame) -> dict[str, int]:
    """Failed requests counted by HTTP status (``"503"``) or, without an answer, outcome
    (``"timeout"``), most frequent first. Needs ``status`` and ``outcome`` columns."""
    if requests.empty:
        return {}
    failed = requests[requests["outcome"].astype(str) != Outcome.OK.value]
    status = failed["status"].fillna(0).astype(int).astype(str)
    label = status.where(status != "0", failed["outcome"].astype(str))
    counts = label.value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def queue_growth_per_s(generator: pd.DataFrame) -> float | None:
    """How fast visitors pile up in flight over the run's second half (visitors/s, least
    squares): about 0 when the target keeps up with a steady crowd, positive when it queues."""
    if generator.empty or "in_flight" not in generator:
        return None
    half = generator.iloc[len(generator) // 2 :]
    if len(half) < 3:
        return None
    slope = np.polyfit(half["window_start_s"].to_numpy(float), half["in_flight"].to_numpy(float), 1)
    return float(slope[0])


def key_figures(analysis: Analysis, requests: pd.DataFrame) -> dict[str, Any]:
    """The figures ``capacity.json`` keeps per probe (JSON-ready)."""
    gen = analysis.generator
    figures: dict[str, Any] = dict(overall(analysis))
    figures["errors_by_status"] = errors_by_status(requests)
    if not gen.empty and "lateness_p99_ms" in gen:
        figures["lateness_p99_ms_worst"] = _finite(gen["lateness_p99_ms"].max())
        figures["in_flight_peak"] = int(gen["in_flight"].max())
        figures["achieved_peak_per_s"] = _finite(gen["started_per_s"].max())
    figures["queue_growth_per_s"] = queue_growth_per_s(gen)
    return figures


def classify(analysis: Analysis, error_rate: float) -> tuple[ProbeOutcome, tuple[str, ...]]:
    """The probe outcome and its reasons (see the module docstring)."""
    verdict = analysis.verdict
    if verdict is Verdict.PASSED:
        return ProbeOutcome.PASSED, analysis.reasons
    if verdict is Verdict.FAILED:
        return ProbeOutcome.FAILED, analysis.reasons
    if verdict is Verdict.INVALID:
        generator = [
            c.detail or c.name
            for c in analysis.validity.checks
            if not c.ok and c.name in GENERATOR_CHECKS
        ]
        if generator:
            return ProbeOutcome.GENERATOR_BOUND, tuple(generator)
    if verdict is Verdict.INCONCLUSIVE and error_rate >= MOSTLY_FAILED:
        return ProbeOutcome.FAILED, (f"{error_rate:.0%} of requests failed", *analysis.reasons)
    return ProbeOutcome.INCONCLUSIVE, analysis.reasons


def first_failed_gate(analysis: Analysis) -> str | None:
    """The deciding gate that broke (the first in the gate list), or why there is no gate."""
    for g in analysis.gates:
        if g.failed and g.decides:
            return g.text
    return None


def probe_result(
    analysis: Analysis, requests: pd.DataFrame, rate_per_s: float, run_dir: str
) -> ProbeResult:
    """A ``ProbeResult`` for the search from one probe's analysis; ``requests`` holds the run's
    ``status`` and ``outcome`` columns."""
    figures = key_figures(analysis, requests)
    error_rate = figures.get("error_rate")
    error_rate = 0.0 if error_rate is None else float(error_rate)
    outcome, reasons = classify(analysis, error_rate)
    gate = None  # a generator-bound or inconclusive probe says nothing about the target
    if outcome is ProbeOutcome.FAILED:
        gate = first_failed_gate(analysis) or (reasons[0] if reasons else None)
    details = {
        "run_dir": run_dir,
        "verdict": analysis.verdict.value,
        **figures,
        "gates": [
            {"text": g.text, "status": g.status.value, "observed": g.observed_text}
            for g in analysis.gates
        ],
    }
    return ProbeResult(rate_per_s, outcome, error_rate, gate, tuple(reasons), details)


__all__ = ["GENERATOR_CHECKS", "classify", "errors_by_status", "key_figures", "probe_result"]
