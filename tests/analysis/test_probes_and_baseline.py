"""Target probes over real HTTP on 127.0.0.1 (stdlib server), and baseline comparisons."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loadkit.analysis import GateStatus, Verdict, parse_probe, run_probes
from loadkit.errors import InputError
from loadkit.report import render_terminal
from loadkit.results.synthetic import DEFAULT_STEPS, ErrorBurst, LatencyBreach, StepSpec
from tests.analysis.conftest import Analyze, MakeRun


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("X-Admin-Key") != "sesame":
            self.send_response(403)
            self.end_headers()
            return
        body = json.dumps({"ok": self.path.endswith("good"), "oversold": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_probe_passes_fails_and_writes_the_answer(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_KEY", "sesame")
    headers = {"X-Admin-Key": "{{ env.ADMIN_KEY }}"}
    good = parse_probe(
        {
            "name": "good",
            "path": "/admin/good",
            "headers": headers,
            "expect": ["ok == true", "oversold == 0"],
        }
    )
    bad = parse_probe(
        {"name": "bad", "path": "/admin/bad", "headers": headers, "expect": {"ok": True}}
    )
    denied = parse_probe({"name": "denied", "path": "/admin/good"})
    results = run_probes([good, bad, denied], target, tmp_path)
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].failures == ("ok is False, expected == True",)
    assert results[2].status == 403
    saved = json.loads((tmp_path / "analysis" / "probes" / "good.json").read_text())
    assert saved["answer"] == {"ok": True, "oversold": 0}
    assert "sesame" not in (tmp_path / "analysis" / "probes" / "good.json").read_text()
    assert [r.gate().status for r in results] == [
        GateStatus.PASSED,
        GateStatus.FAILED,
        GateStatus.FAILED,
    ]


def test_probe_without_answer_is_a_failed_gate(tmp_path: Path) -> None:
    probe = parse_probe({"name": "gone", "url": "http://127.0.0.1:9/x", "timeout": "1s"})
    result = run_probes([probe], "http://unused", tmp_path)[0]
    assert result.status == 0 and result.error and not result.ok


def test_probe_definition_errors() -> None:
    with pytest.raises(InputError, match="unknown probe key 'expects'"):
        parse_probe({"name": "x", "path": "/", "expects": []})
    with pytest.raises(InputError, match="needs a url or a path"):
        parse_probe({"name": "x"})


def test_probe_results_become_gates_of_the_analysis(
    check: Analyze, target: str, tmp_path: Path
) -> None:
    probe = parse_probe(
        {
            "name": "bad",
            "path": "/bad",
            "headers": {"X-Admin-Key": "sesame"},
            "expect": ["ok == true"],
        }
    )
    a = check([], probes=run_probes([probe], target, tmp_path))
    assert a.gates[0].text == "probe(bad)" and a.exit_code == 1


def test_regression_against_a_baseline(check: Analyze, make_run: MakeRun) -> None:
    base = make_run()
    slower = make_run(breaches=(LatencyBreach("checkout", 0, 100, 900.0),))
    a = check(
        ["regression(p(95){step=checkout}) < 10%", "regression(p95{step=landing}) < 10%"],
        run=slower,
        baseline=base,
    )
    checkout, landing = a.gates
    assert checkout.status is GateStatus.FAILED and checkout.observed is not None
    assert checkout.observed > 0.5
    assert landing.status is GateStatus.PASSED
    assert a.comparison is not None
    row = a.comparison[a.comparison["step"] == "checkout"].iloc[0]
    assert row["p95_ms"] == 900.0 and row["p95_change"] > 0.5
    # the comparison table carries the p95 change's interval, per step and for all requests
    assert 0.5 < row["p95_change_low"] <= row["p95_change"] <= row["p95_change_high"]
    landing = a.comparison[a.comparison["step"] == "landing"].iloc[0]
    assert landing["p95_change_low"] <= 0 <= landing["p95_change_high"]  # same records
    assert set(a.comparison["step"]) >= {"all", "checkout", "landing"}
    table = render_terminal(a)
    assert f"{row['p95_change']:+.1%} ({row['p95_change_low']:+.1%}…" in table


def test_regression_without_baseline_is_no_data(check: Analyze) -> None:
    assert check(["regression(p95) < 10%"]).gates[0].status is GateStatus.NO_DATA


def _slower(factor: float) -> tuple[StepSpec, ...]:
    return tuple(replace(s, median_ms=s.median_ms * factor) for s in DEFAULT_STEPS)


P95_GATES = ["regression(p(95){step=checkout}) < 10%", "regression(p95) < 10%"]
INTERVAL = re.compile(r"p\(95\) [+−][\d.]+% \([+−][\d.]+%…[+−][\d.]+%\)")


def test_same_build_with_another_seed_passes_with_an_interval(
    check: Analyze, make_run: MakeRun
) -> None:
    a = check(P95_GATES, run=make_run(seed=2), baseline=make_run(seed=1))
    assert a.verdict is Verdict.PASSED and a.exit_code == 0, a.reasons
    for gate in a.gates:
        assert gate.status is GateStatus.PASSED
        assert INTERVAL.match(gate.observed_text), gate.observed_text
        assert "not enough evidence" not in gate.observed_text  # the interval is all below +10%
        assert "paired block bootstrap" in gate.detail


def test_a_30_percent_slowdown_fails_with_its_interval(check: Analyze, make_run: MakeRun) -> None:
    a = check(P95_GATES, run=make_run(seed=3, steps=_slower(1.3)), baseline=make_run(seed=1))
    assert a.verdict is Verdict.FAILED and a.exit_code == 1
    checkout = a.gates[0]
    assert checkout.status is GateStatus.FAILED and checkout.observed is not None
    assert 0.2 < checkout.observed < 0.4
    low = float(re.findall(r"\(\+(\d+)%…", checkout.observed_text)[0])
    assert low > 10  # failed because the whole interval is beyond +10%


def test_a_change_near_the_limit_passes_with_not_enough_evidence(
    check: Analyze, make_run: MakeRun
) -> None:
    """+10% medians: the interval straddles the limit, so it is no proof of a regression."""
    a = check(P95_GATES, run=make_run(seed=4, steps=_slower(1.1)), baseline=make_run(seed=1))
    assert a.verdict is Verdict.PASSED and a.exit_code == 0
    for gate in a.gates:
        assert gate.status is GateStatus.PASSED
        assert gate.observed_text.startswith("not enough evidence of a regression: p(95) +")


def test_too_little_data_is_not_enough_evidence_and_inconclusive(
    check: Analyze, make_run: MakeRun
) -> None:
    tiny = make_run(seed=5, duration_s=10.0, arrivals_per_s=1.0)
    a = check(P95_GATES, run=tiny, baseline=make_run(seed=1))
    assert a.verdict is Verdict.INCONCLUSIVE and a.exit_code == 3
    gate = a.gates[0]
    assert gate.status is GateStatus.NO_DATA
    assert gate.observed_text.startswith("not enough evidence: 10 samples in the smaller run")


def test_no_errors_in_either_run_is_no_change(check: Analyze, make_run: MakeRun) -> None:
    a = check(["regression(error_rate) < 10%"], run=make_run(seed=2), baseline=make_run(seed=1))
    assert a.gates[0].status is GateStatus.PASSED and a.gates[0].observed == 0.0


def test_a_visitor_level_error_rate_regression_counts_dropped_arrivals(
    check: Analyze, make_run: MakeRun
) -> None:
    errors = (ErrorBurst("checkout", 0.0, 100.0, 0.05),)
    base = make_run(seed=1, error_bursts=errors)
    dropping = make_run(seed=2, error_bursts=errors, drop_fraction=0.05)
    a = check(
        ["regression(error_rate) < 10%", "regression(error_rate{step=checkout}) < 10%"],
        run=dropping,
        baseline=base,
    )
    visitors, checkout = a.gates
    assert visitors.status is GateStatus.FAILED  # 5% of arrivals dropped: errors more than double
    assert checkout.status is GateStatus.PASSED  # per request of one step: drops do not count


def test_over_sets_the_resampled_windows_and_rates_divide_by_the_range(
    check: Analyze, make_run: MakeRun
) -> None:
    a = check(
        ["regression(p95) < 10% over 5s", "regression(rate) > -10%"],
        run=make_run(seed=2, arrivals_per_s=7.0),
        baseline=make_run(seed=1),
    )
    windows, rate = a.gates
    assert "windows of 5s;" in windows.detail
    assert rate.status is GateStatus.FAILED  # 30% fewer arrivals per second
    assert rate.observed == pytest.approx(-0.3, abs=0.02)


def test_probe_expressions_read_the_answer_env_and_the_runs_figures(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loadkit.analysis.probes import execute_probe

    monkeypatch.setenv("ADMIN_KEY", "sesame")
    monkeypatch.setenv("MIN_OK", "1")
    probe = parse_probe({
        "name": "exprs", "path": "/admin/good",
        "headers": {"X-Admin-Key": "{{ env.ADMIN_KEY }}"},
        "expect": ["{{ body.oversold == figures.orders }}", "{{ body.ok and status == 200 }}",
                   "{{ figures.completed >= int(env.MIN_OK) }}", "{{ body.missing == 1 }}"],
    })  # fmt: skip
    result = execute_probe(probe, target, figures={"orders": 0, "completed": 3})
    assert result.status == 200
    assert len(result.failures) == 1 and "body.missing" in result.failures[0]
    wrong = execute_probe(probe, target, figures={"orders": 5, "completed": 0})
    assert "{{ body.oversold == figures.orders }} is false" in wrong.failures


def test_the_old_dollar_syntax_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError) as info:
        parse_probe({"name": "p", "path": "/", "headers": {"X-Key": "${ADMIN_KEY}"}})
    assert "${ADMIN_KEY}" in str(info.value)
    assert '"{{ env.ADMIN_KEY }}"' in (info.value.hint or "")


def test_run_probes_computes_the_figures_from_the_records(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loadkit.results.reader import open_run
    from loadkit.results.synthetic import SyntheticRun, write_synthetic_run
    from loadkit.results.writer import read_manifest, write_manifest

    monkeypatch.setenv("ADMIN_KEY", "sesame")
    run_dir = write_synthetic_run(tmp_path / "run", SyntheticRun(duration_s=20.0))
    orders = int(open_run(run_dir).arrivals["order_id"].notna().sum())
    assert orders > 0
    manifest = read_manifest(run_dir)
    manifest["scenario"]["resolved"] = {"variables": [
        ["quota", {"source": 500}], ["event", {"source": "e-1"}],
        ["ticket", {"source": "{{ uuid() }}"}]]}  # fmt: skip
    write_manifest(run_dir, manifest)
    probe = parse_probe({
        "name": "fig", "path": "/admin/good", "headers": {"X-Admin-Key": "{{ env.ADMIN_KEY }}"},
        "expect": [f"{{{{ figures.orders == {orders} }}}}", "{{ figures.arrivals > 0 }}",
                   "{{ quota == 500 and event == 'e-1' }}"],
    })  # fmt: skip
    result = run_probes([probe], target, run_dir)[0]
    assert result.ok, result.failures
