"""``analyze``: records in, an ``Analysis`` (verdict, gates, validity, tables) out. No I/O
besides reading the run's records; reports are written by ``loadkit.report``.

Verdict order (the first that applies): stopped by an ``abort after`` threshold (manifest
``aborted_by_threshold``: failed, exit 1) → aborted (status ``aborted``, e.g. Ctrl-C, exit 130;
still analyzed) → invalid (validity failed, exit 3) → failed (a gate failed, exit 1) → inconclusive (too little
data: no ok request, or a gate with no data, exit 3) → passed (exit 0). Gates ``as warn`` never
change the verdict: failed or without data, they are reported and not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loadkit.analysis.failures import generator_faults, run_failures
from loadkit.analysis.gates import evaluate_gates, scenario_facts, with_scenario
from loadkit.analysis.journeys import journey_tables
from loadkit.analysis.model import (
    Analysis,
    GateResult,
    GateStatus,
    RunInfo,
    Validity,
    ValidityBudget,
    Verdict,
)
from loadkit.analysis.probes import ProbeResult
from loadkit.analysis.regression import step_changes
from loadkit.analysis.tables import compare_steps, hdr_curves, step_summary
from loadkit.analysis.validity import check_validity
from loadkit.errors import InputError
from loadkit.gates import Records, Threshold, check_phase
from loadkit.results.frames import funnel, generator_windows, queue_wait_s, request_windows
from loadkit.results.reader import Run
from loadkit.results.schema import REQUEST_SCHEMA, Outcome, RunStatus

REQUEST_COLUMNS = ("step", "intended_ns", "service_ms", "response_ms", "outcome", "attempt",
                   "hop")  # fmt: skip
SELECTOR_COLUMNS = (
    "worker",
    "persona",
    "name",
    "method",
    "status",
    "hop",
    "label",
)  # when selected
ARRIVAL_COLUMNS = (
    "arrival_id",
    "persona",
    "worker",
    "scheduled_ns",
    "actual_ns",
    "end_ns",
    "lateness_ms",
    "outcome",
    "reason",
    "joined_ns",
    "admitted_ns",
    "queue_position",
    "seats_held",
    "seats_bought",
    "order_id",
    "shop_ok_without_token",
    "tickets_bought",
)


def _seconds_after(ns: np.ndarray, t0_ns: int) -> np.ndarray:
    """``(ns - t0_ns) / 1e9``, exact in int64 first, divided in place (one big array, not two)."""
    delta = np.subtract(ns, t0_ns)
    if delta.dtype == np.int64:
        seconds: np.ndarray = np.divide(delta, 1e9, out=delta.view(np.float64))
        return seconds
    return np.asarray(delta / 1e9)


def load_records(run: Run, thresholds: Sequence[Threshold] = ()) -> Records:
    """The columns the analyzer needs, with ``t_s`` (seconds after t0) added. Selector columns
    (persona, name, ...) are read only when a threshold selects on them."""
    selected = {key for th in thresholds for key, _ in th.selector}
    columns = list(
        dict.fromkeys([*REQUEST_COLUMNS, *(c for c in SELECTOR_COLUMNS if c in selected)])
    )
    if any(th.select("per") == "intent" for th in thresholds):
        columns = list(REQUEST_SCHEMA.names)  # folding attempts into intents reads them all
    requests = run.load_requests(columns)
    requests["t_s"] = _seconds_after(requests["intended_ns"].to_numpy(), run.t0_ns)
    arrivals = run.load_arrivals(ARRIVAL_COLUMNS)
    arrivals["t_s"] = (arrivals["scheduled_ns"].to_numpy(dtype=np.int64) - run.t0_ns) / 1e9
    return Records(requests, arrivals, run.phases, run.onsale_offset_s, run.duration_s, run.t0_ns)


def run_info(run: Run) -> RunInfo:
    m = run.manifest
    raw = m.get("scenario")
    scenario: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return RunInfo(
        run_id=run.run_id,
        path=str(run.path),
        status=run.status.value,
        partial=run.partial,
        partial_reasons=run.partial_reasons,
        t0_ns=run.t0_ns,
        onsale_offset_s=run.onsale_offset_s,
        duration_s=run.duration_s,
        phases=run.phases,
        target=str(m.get("target") or ""),
        scenario=str(scenario.get("name") or ""),
        versions=dict(m.get("versions") or {}),
        stop_reason=m.get("stop_reason"),
    )


def decide(
    status: str,
    stop_reason: str | None,
    validity: Validity,
    gates: Sequence[GateResult],
    ok_requests: int,
    min_ok: int,
    aborted_by_threshold: str | None = None,
) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict and the reasons, in the order of the module docstring. Gates ``as warn``
    are reported but never counted here."""
    deciding = [g for g in gates if g.decides]
    failed = [
        f"{g.text}: {g.observed_text} (limit {g.limit_text})"
        for g in deciding
        if g.status is GateStatus.FAILED
    ]
    no_data = [
        f"{g.text}: {g.reason or g.observed_text}"
        for g in deciding
        if g.status is GateStatus.NO_DATA
    ]
    if aborted_by_threshold:
        why = stop_reason or f'threshold "{aborted_by_threshold}" breached during the run'
        return Verdict.FAILED, (why, *failed, *validity.reasons)
    if status == RunStatus.ABORTED.value:
        why = f"the run was aborted ({stop_reason or 'no reason recorded'}); partial results"
        return Verdict.ABORTED, (why, *validity.reasons, *failed)
    if not validity.valid:
        return Verdict.INVALID, validity.reasons
    if failed:
        return Verdict.FAILED, tuple(failed)
    if ok_requests < min_ok:
        return Verdict.INCONCLUSIVE, (
            f"too little data: {ok_requests} successful requests (need {min_ok})",
        )
    if no_data:
        return Verdict.INCONCLUSIVE, tuple(f"too little data for {r}" for r in no_data)
    warned = len(gates) - len(deciding)
    summary = f"all {len(gates)} gates passed" if gates else "no gates were set"
    if any(g.status is not GateStatus.PASSED for g in gates):
        summary = f"all {len(deciding)} deciding gates passed"
    return Verdict.PASSED, (summary + (f" ({warned} 'as warn' gate(s))" if warned else ""),)


def tables(records: Records, t0_ns: int, baseline: Records | None = None) -> dict[str, Any]:
    """The evidence tables of an ``Analysis`` (see its docstring), by field name."""
    response = records.ranked("response_ms")
    steps = step_summary(records.requests, records.phases, records.duration_s, response)
    comparison = None
    if baseline is not None:
        before = step_summary(baseline.requests, baseline.phases, baseline.duration_s)
        comparison = compare_steps(steps, before).merge(
            step_changes(records, baseline), on="step", how="left"
        )
    ranks = {"response_ms": response, "service_ms": records.ranked("service_ms")}
    return {
        "steps": steps,
        "windows": request_windows(records.requests, width_s=1.0, by="step", ranks=ranks),
        "generator": generator_windows(records.arrivals, t0_ns, width_s=1.0),
        "funnel": funnel(records.arrivals),
        "hdr": hdr_curves(records.requests, response),
        "queue_wait_s": queue_wait_s(records.arrivals),
        "comparison": comparison,
        "baseline_hdr": hdr_curves(baseline.requests) if baseline is not None else None,
    }


def analyze(
    run: Run,
    thresholds: Sequence[Threshold],
    *,
    probes: Sequence[ProbeResult] = (),
    baseline: Run | None = None,
    budget: ValidityBudget = ValidityBudget(),  # noqa: B008 - frozen, so a shared default is safe
) -> Analysis:
    """Analyze ``run`` against ``thresholds``; ``probes`` are results of ``run_probes``.

    Raises ``InputError`` (exit 2) when a threshold names a phase the run lacks, or a step
    (name, method, persona) its scenario does not define. A step the scenario defines but that
    got no traffic is a no-data gate with that reason. Raises ``RunInvalid`` /
    ``RecordsUnreadable`` (exit 3) when no request record can be read.
    """
    run.require_requests()
    thresholds = with_scenario(thresholds, scenario_facts(run.manifest))
    for th in thresholds:
        check_phase(th, run.phases)
    records = load_records(run, thresholds)
    info = run_info(run)
    base_records = load_records(baseline, thresholds) if baseline is not None else None
    try:
        gates = evaluate_gates(thresholds, records, run.t0_ns, base_records)
    except InputError as exc:  # a step missing because its records were lost is no bad input
        raise run.blame_lost_records(exc) from None
    gates += tuple(p.gate() for p in probes)
    validity = check_validity(
        run.manifest,
        records.arrivals,
        partial_reasons=info.partial_reasons,
        budget=budget,
        generator_faults=generator_faults(run, records.requests),
    )
    ok = int((records.requests["outcome"] == Outcome.OK.value).sum())
    aborted_by = run.manifest.get("aborted_by_threshold")
    verdict, reasons = decide(
        info.status,
        info.stop_reason,
        validity,
        gates,
        ok,
        budget.min_ok_requests,
        aborted_by_threshold=str(aborted_by) if aborted_by else None,
    )
    return Analysis(
        run=info,
        verdict=verdict,
        reasons=reasons,
        gates=gates,
        validity=validity,
        probes=tuple(probes),
        failures=run_failures(run, records.requests),
        **{**tables(records, run.t0_ns, base_records), **journey_tables(run, records.arrivals)},
    )


__all__ = [
    "ARRIVAL_COLUMNS",
    "REQUEST_COLUMNS",
    "SELECTOR_COLUMNS",
    "analyze",
    "decide",
    "load_records",
    "run_info",
    "tables",
]
