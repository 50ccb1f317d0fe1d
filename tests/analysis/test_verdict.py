"""Every path to every exit code: 0 passed · 1 failed · 3 invalid/inconclusive · 130 aborted."""

from __future__ import annotations

import pytest

from loadkit.analysis import ValidityBudget, Verdict
from loadkit.results.schema import RunStatus
from loadkit.results.synthetic import LatencyBreach
from tests.analysis.conftest import Analyze

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
