"""Thresholds evaluated on synthetic runs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from loadkit.analysis import GateStatus
from loadkit.errors import InputError
from loadkit.results.synthetic import ErrorBurst, LatencyBreach
from tests.analysis.conftest import Analyze, MakeRun


def _breach(start_s: float, end_s: float) -> tuple[LatencyBreach, ...]:
    return (LatencyBreach("checkout", start_s, end_s, 2000.0),)


@pytest.mark.parametrize(("end_s", "status"), [(69, GateStatus.PASSED), (71, GateStatus.FAILED)])
def test_for_30s_fails_only_when_the_breach_lasts_30s(
    check: Analyze, end_s: float, status: GateStatus
) -> None:
    a = check(["p(95){step=checkout} < 800ms for 30s"], breaches=_breach(40, end_s))
    gate = a.gates[0]
    assert gate.status is status
    assert [(b.start_s, b.end_s) for b in gate.breaches] == [(40.0, float(end_s))]
    assert gate.observed == 2000.0


def test_whole_run_percentile_and_error_rate_simple_form(check: Analyze) -> None:
    a = check(
        ["p(95){step=checkout} < 800ms", "error_rate < 1%"], breaches=_breach(40, 70)
    )  # 30 % of checkout requests at 2 s
    p95, errors = a.gates
    assert p95.status is GateStatus.FAILED and p95.observed == 2000.0
    assert errors.status is GateStatus.PASSED and errors.observed == 0.0
    assert a.exit_code == 1


def test_error_rate_counts_errors_and_outcome_selector_narrows(check: Analyze) -> None:
    burst = (ErrorBurst("queue.poll", 0, 50, 1.0),)  # half of the 100 s run
    a = check(
        [
            "error_rate{step=queue.poll} < 1%",
            "error_rate{outcome=timeout} == 0",
            "p(50){step=queue.poll} < 1s",
        ],
        error_bursts=burst,
    )
    poll, timeouts, latency = a.gates
    assert poll.status is GateStatus.FAILED
    assert poll.observed == pytest.approx(0.48, abs=0.01)  # polls go out 2 s after arrival
    assert timeouts.status is GateStatus.PASSED
    assert latency.samples == 1000 - 480  # only ok requests count for latency


def test_in_95_percent_of_windows(check: Analyze) -> None:
    passing = check(["p(95){step=checkout} < 800ms in 95% of windows"], breaches=_breach(40, 44))
    failing = check(["p(95){step=checkout} < 800ms in 95% of windows"], breaches=_breach(40, 50))
    assert passing.gates[0].status is GateStatus.PASSED
    assert failing.gates[0].status is GateStatus.FAILED


def test_during_a_phase_and_from_to(check: Analyze) -> None:
    # phases: build-up [0,30) spike [30,60) tail [60,100); breach only in the tail
    a = check(
        [
            "p(99){step=checkout} < 800ms during spike",
            "p(99){step=checkout} < 800ms during tail",
            "p(99){step=checkout} < 800ms from onsale to t0+60s",
        ],
        breaches=_breach(70, 80),
    )
    assert [g.status for g in a.gates] == [GateStatus.PASSED, GateStatus.FAILED, GateStatus.PASSED]


def test_too_few_samples_is_no_data_and_inconclusive(check: Analyze) -> None:
    a = check(["p(95){step=checkout} < 800ms over 1s min 50 samples"])
    gate = a.gates[0]
    assert gate.status is GateStatus.NO_DATA
    assert gate.windows_no_data == gate.windows_total
    assert a.verdict.value == "inconclusive" and a.exit_code == 3


def test_windows_without_enough_samples_neither_pass_nor_fail(check: Analyze) -> None:
    a = check(["p(95){step=checkout} < 800ms over 1s min 10 samples"], arrivals_per_s=10.0)
    gate = a.gates[0]
    assert gate.status is GateStatus.PASSED
    assert 0 < gate.windows_no_data < gate.windows_total  # the ragged first/last seconds


def test_as_warn_never_fails_the_run(check: Analyze) -> None:
    a = check(["p(95){step=checkout} < 800ms, as warn"], breaches=_breach(0, 100))
    assert a.gates[0].status is GateStatus.WARN
    assert a.exit_code == 0


def test_a_step_no_record_has_is_no_data_naming_the_steps_that_exist(check: Analyze) -> None:
    # without the scenario file, a typo and a step that got no traffic look alike: no data
    a = check(["p(95){step=chekout} < 800ms"])
    gate = a.gates[0]
    assert gate.status is GateStatus.NO_DATA
    assert "no record has step 'chekout'" in gate.reason
    assert "checkout, landing, queue.join, queue.poll, seats.hold" in gate.reason
    assert "Did you mean 'checkout'?" in gate.reason
    assert a.verdict.value == "inconclusive" and a.exit_code == 3


def test_unknown_phase_lists_the_phases(check: Analyze) -> None:
    with pytest.raises(InputError, match="Phases: build-up, spike, tail, drain"):
        check(["error_rate < 1% during peak"])


def test_arrival_stats_drops_and_lateness(check: Analyze, make_run: MakeRun) -> None:
    run = make_run(drop_fraction=0.02, late_spikes=((50, 50.5, 500.0),))  # 0.5 % of arrivals
    a = check(
        [
            "rate{outcome=dropped} == 0",
            "drops < 50",
            "drop_rate < 1%",
            "lateness_p(99) < 100ms",
            "lateness_max < 100ms",
        ],
        run=run,
    )
    rate, drops, share, p99, worst = a.gates
    # the rate divides by the time the run covered: first intended start → last request end
    req = run.requests
    covered_s = float((req["t_s"] + req["response_ms"] / 1000).max() - run.arrivals["t_s"].min())
    assert covered_s > 100.0  # the last journeys end after the 100 s profile
    assert rate.status is GateStatus.FAILED and rate.observed == pytest.approx(20 / covered_s)
    assert drops.status is GateStatus.PASSED and drops.observed == 20
    assert share.status is GateStatus.FAILED and share.observed == pytest.approx(0.02)
    assert p99.status is GateStatus.PASSED
    assert worst.status is GateStatus.FAILED and worst.observed == 500.0


def test_windowed_values_agree_with_numpy_per_window(check: Analyze, make_run: MakeRun) -> None:
    run = make_run()
    a = check(["p(90){step=landing} < 1s over 10s"], run=run)
    req = run.requests
    ok = req[(req["step"] == "landing") & (req["outcome"] == "ok")]
    worst = max(
        np.percentile(g["response_ms"], 90) for _, g in ok.groupby(np.floor(ok["t_s"] / 10))
    )
    assert a.gates[0].observed == pytest.approx(worst)


def test_dropped_arrivals_count_in_the_visitor_error_rate(check: Analyze) -> None:
    a = check(
        ["error_rate < 1%", "error_rate{step=landing} < 1%", "error_rate < 1% over 10s"],
        drop_fraction=0.1,
    )
    whole, landing, windowed = a.gates
    assert whole.observed == pytest.approx(100 / (900 * 5 + 100))  # a drop = a failed request
    assert whole.status is GateStatus.FAILED
    assert landing.observed == 0.0  # a step-level rate is about requests only
    assert windowed.status is GateStatus.FAILED
