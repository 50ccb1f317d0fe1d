"""What a gate means, as docs/thresholds.md promises it, judged on synthetic runs.

Each test is one rule of the docs' "What a gate means" section; each failed on the engine
before loadkit.gates (windows without requests skipped, rates over the planned length, ...).
"""

from __future__ import annotations

import pytest

from loadkit.analysis import GateStatus, Verdict
from loadkit.errors import InputError
from loadkit.gates import parse_threshold
from tests.analysis.conftest import Analyze, MakeRun

GAP = ((40.0, 50.0),)  # no arrival is scheduled in [40 s, 50 s): a stall of the crowd


def test_a_rate_window_without_requests_is_0_and_breaches_at_least(check: Analyze) -> None:
    a = check(["rate{step=landing} >= 5/s over 1s from t0+10s to t0+80s"], gaps=GAP)
    gate = a.gates[0]
    assert gate.status is GateStatus.FAILED and a.exit_code == 1
    assert gate.observed == 0.0
    assert [(b.start_s, b.end_s) for b in gate.breaches] == [(40.0, 50.0)]
    assert gate.windows_no_data == 0 and gate.windows_breached == 10


def test_a_count_window_without_requests_is_0(check: Analyze) -> None:
    a = check(["count{step=landing} > 0 over 5s during spike"], gaps=GAP)
    assert a.gates[0].status is GateStatus.FAILED
    assert [(b.start_s, b.end_s) for b in a.gates[0].breaches] == [(40.0, 50.0)]


def test_a_whole_run_rate_divides_by_the_time_the_run_covered(
    check: Analyze, make_run: MakeRun
) -> None:
    run = make_run(gaps=((50.0, 100.0),))  # the crowd stopped coming at 50 s of a 100 s plan
    a = check(["rate{step=landing} >= 8/s"], run=run)
    req = run.requests
    first_s = float(min(req["t_s"].min(), run.arrivals["t_s"].min()))
    last_s = float((req["t_s"] + req["response_ms"] / 1000).max())
    landing = int((req["step"] == "landing").sum())
    assert a.gates[0].observed == pytest.approx(landing / (last_s - first_s))
    assert a.gates[0].observed > 9.0  # not 500 / 100 s = 5/s
    assert a.gates[0].status is GateStatus.PASSED


def test_a_phase_rate_divides_by_the_part_of_the_phase_that_ran(
    check: Analyze, make_run: MakeRun
) -> None:
    run = make_run(gaps=((70.0, 100.0),))  # tail is [60 s, 100 s); arrivals stop at 70 s
    a = check(["rate{step=landing} >= 5/s during tail"], run=run)
    req = run.requests
    last_s = float((req["t_s"] + req["response_ms"] / 1000).max())
    in_tail = int(((req["step"] == "landing") & (req["t_s"] >= 60)).sum())
    assert a.gates[0].observed == pytest.approx(in_tail / (last_s - 60.0))  # not / 40 s
    assert a.gates[0].status is GateStatus.PASSED


def test_a_phase_that_did_not_run_is_no_data_saying_so(check: Analyze) -> None:
    a = check(["p(95) < 1s during tail"], gaps=((55.0, 100.0),), duration_s=100.0)
    gate = a.gates[0]
    assert gate.status is GateStatus.NO_DATA
    assert gate.reason.startswith("phase tail (60s–100s) did not run: the run covered 0s–")


def test_during_drain_judges_the_journeys_finishing_after_the_profile(
    check: Analyze, make_run: MakeRun
) -> None:
    run = make_run()
    a = check(["count{step=checkout} >= 1 during drain", "p(95) < 800ms during drain"], run=run)
    count, latency = a.gates
    req = run.requests
    after = int(((req["step"] == "checkout") & (req["t_s"] >= 100.0)).sum())
    assert after > 0
    assert count.status is GateStatus.PASSED and count.observed == after
    assert latency.status is GateStatus.PASSED and latency.samples > 0


@pytest.mark.parametrize(("floor", "status"), [("", GateStatus.NO_DATA), (" min 0 samples", GateStatus.PASSED), (" min 2 samples", GateStatus.PASSED), (" min 3 samples", GateStatus.NO_DATA)])  # fmt: skip
def test_min_samples_is_honoured_for_every_n(
    check: Analyze, floor: str, status: GateStatus
) -> None:
    # 2 arrivals a second: every 1 s window holds 2 checkouts (the default floor is 5)
    a = check([f"p(95){{step=checkout}} < 800ms over 1s{floor}"], arrivals_per_s=2.0)
    assert a.gates[0].status is status


@pytest.mark.parametrize("text", ["p95 < 1s min 1.5 samples", "p95 < 1s min -1 samples"])
def test_min_samples_must_be_a_whole_number_0_or_more(text: str) -> None:
    with pytest.raises(InputError, match="min"):
        parse_threshold(text)


def test_a_warn_gate_without_data_never_changes_the_exit_code(check: Analyze) -> None:
    a = check(["error_rate < 1%", "p(95){step=checkout} < 800ms min 100000 samples, as warn"])
    assert a.gates[1].status is GateStatus.NO_DATA and a.gates[1].warn
    assert (a.verdict, int(a.exit_code)) == (Verdict.PASSED, 0)
    assert a.reasons == ("all 1 deciding gates passed (1 'as warn' gate(s))",)


def test_a_glob_that_matches_nothing_does_not_pass_a_less_than_rate(check: Analyze) -> None:
    a = check(["rate{step=chekout*} < 1/s", "error_rate{step=queue.*} < 1%"])
    glob, fine = a.gates
    assert glob.status is GateStatus.NO_DATA
    assert glob.reason.startswith("step 'chekout*' matches no recorded step (steps recorded:")
    assert fine.status is GateStatus.PASSED
    assert a.verdict is Verdict.INCONCLUSIVE


def test_latency_without_successful_requests_says_so(check: Analyze) -> None:
    from loadkit.results.synthetic import ErrorBurst

    a = check(["p(95){step=checkout} < 1s"], error_bursts=(ErrorBurst("checkout", -10, 200, 1.0),))
    assert a.gates[0].reason.startswith("0 successful requests, need 5")
