"""Every path to every exit code: 0 passed · 1 failed · 3 invalid/inconclusive · 130 aborted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadkit.analysis import ValidityBudget, Verdict
from loadkit.results.reader import Run, open_run
from loadkit.results.schema import RunStatus
from loadkit.results.synthetic import LatencyBreach
from tests.analysis.conftest import Analyze, MakeRun

GATES = ["p(95){step=checkout} < 800ms", "error_rate < 1%"]
BREACH = (LatencyBreach("checkout", 0, 100, 2000.0),)


def test_passed_exit_0(check: Analyze) -> None:
    a = check(GATES)
    assert (a.verdict, int(a.exit_code)) == (Verdict.PASSED, 0)
    assert a.reasons == ("all 2 gates passed",)


def test_failed_gate_exit_1_names_the_gate(check: Analyze) -> None:
    a = check(GATES, breaches=BREACH)
    assert (a.verdict, int(a.exit_code)) == (Verdict.FAILED, 1)
    assert a.reasons == ("p(95){step=checkout} < 800ms: 2.00s (limit < 800ms)",)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"lateness_ms": 400.0}, "arrival start lateness p99"),
        ({"drop_fraction": 0.05}, "arrivals were dropped"),
        ({"lost_workers": (1,)}, "worker(s) 1 were lost"),
        ({"cpu_percent": 99.0}, "99% CPU"),
        ({"status": RunStatus.RUNNING}, "partial run"),
        ({"status": RunStatus.FAILED}, "loadkit itself failed"),
    ],
)
def test_invalid_exit_3_whatever_the_latencies(
    check: Analyze, fields: dict[str, object], why: str
) -> None:
    a = check(GATES, breaches=BREACH, **fields)  # the gate fails too: invalid wins
    assert (a.verdict, int(a.exit_code)) == (Verdict.INVALID, 3)
    assert any(why in r for r in a.reasons), a.reasons


def test_budget_is_a_parameter(check: Analyze) -> None:
    assert check(["error_rate < 1%"], lateness_ms=400.0).verdict is Verdict.INVALID
    a = check(["error_rate < 1%"], lateness_ms=400.0, budget=ValidityBudget(lateness_p99_ms=5000.0))
    assert a.verdict is Verdict.PASSED


def test_too_little_data_is_inconclusive_exit_3(check: Analyze) -> None:
    a = check(["p(95){step=checkout} < 800ms min 100000 samples"])
    assert (a.verdict, int(a.exit_code)) == (Verdict.INCONCLUSIVE, 3)
    assert "too little data" in a.reasons[0]


def test_no_successful_request_is_inconclusive(check: Analyze) -> None:
    from loadkit.results.synthetic import ErrorBurst

    bursts = tuple(
        ErrorBurst(s, -10, 200, 1.0)
        for s in ("landing", "queue.join", "queue.poll", "seats.hold", "checkout")
    )
    a = check([], error_bursts=bursts)
    assert a.verdict is Verdict.INCONCLUSIVE
    assert a.reasons == ("too little data: 0 successful requests (need 1)",)


def test_aborted_exit_130_but_still_analyzed(check: Analyze) -> None:
    a = check(GATES, breaches=BREACH, status=RunStatus.ABORTED)
    assert (a.verdict, int(a.exit_code)) == (Verdict.ABORTED, 130)
    assert "aborted" in a.reasons[0]
    assert a.gates[0].observed == 2000.0  # the gates were still evaluated
    assert len(a.steps) > 0


def _edit_manifest(run: Run, **changes: Any) -> Run:
    path = run.path / "manifest.json"
    manifest = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "workers":
            for worker in manifest["workers"]:
                worker.update(value)
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest))
    return open_run(run.path)


def test_abort_threshold_stop_is_failed_exit_1(check: Analyze, make_run: MakeRun) -> None:
    gate = "p(95){step=checkout} < 800ms over 10s, abort after 30s"
    reason = f'threshold "{gate}" breached: aborted to protect the target'
    run = make_run(status=RunStatus.ABORTED, breaches=BREACH)
    run = _edit_manifest(run, aborted_by_threshold=gate, stop_reason=reason)
    a = check([gate], run=run)
    assert (a.verdict, int(a.exit_code)) == (Verdict.FAILED, 1)
    assert a.reasons[0] == reason
    # a Ctrl-C stop (no aborted_by_threshold, or null) stays aborted, 130
    ctrl_c = _edit_manifest(run, aborted_by_threshold=None, stop_reason="interrupted (SIGINT)")
    assert int(check([gate], run=ctrl_c).exit_code) == 130


def test_generator_cpu_verdict_prefers_p95_over_max(check: Analyze, make_run: MakeRun) -> None:
    one_gc_pause = {"cpu_percent_max": 100.0, "cpu_percent_p95": 40.0}
    run = _edit_manifest(make_run(), workers=one_gc_pause)
    a = check(GATES, run=run)
    assert a.verdict is Verdict.PASSED
    cpu = [c for c in a.validity.checks if c.name == "generator CPU"]
    assert cpu and cpu[0].observed_text == "40%"
    saturated = _edit_manifest(run, workers={"cpu_percent_p95": 97.0})
    assert check(GATES, run=saturated).verdict is Verdict.INVALID
