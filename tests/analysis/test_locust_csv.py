"""Gating a plain Locust run from its --csv files, and saying what they cannot show."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.analysis import GateStatus, Verdict, analyze_locust_csv
from loadkit.errors import ResultsError
from loadkit.gates import parse_threshold
from loadkit.report import render_terminal

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
ROWS = [
    "GET,/landing,1000,0,40,42.5,10,300,512,50.0,0.0,40,45,50,55,70,90,120,150,250,300,300",
    "POST,/checkout,500,25,300,320.0,100,4000,256,25.0,1.25,300,320,340,360,600,900,1500,"
    "2000,3900,4000,4000",
    ",Aggregated,1500,25,60,135.0,10,4000,427,75.0,1.25,60,80,100,150,400,700,1200,1800,3000,"
    "4000,4000",
]


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    (tmp_path / "run_stats.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    return tmp_path / "run"


def _gates(prefix: Path, *texts: str) -> list[GateStatus]:
    analysis = analyze_locust_csv(prefix, [parse_threshold(t) for t in texts])
    return [g.status for g in analysis.gates]


def test_aggregate_percentiles_and_failure_rates(prefix: Path) -> None:
    a = analyze_locust_csv(
        prefix,
        [
            parse_threshold(t)
            for t in (
                "p(95){name=/checkout} < 800ms",
                "p95 < 800ms",
                "error_rate < 1%",
                "error_rate{name=/landing} == 0",
                "rate > 50/s",
            )
        ],
    )
    assert [g.status for g in a.gates] == [
        GateStatus.FAILED,
        GateStatus.PASSED,
        GateStatus.FAILED,
        GateStatus.PASSED,
        GateStatus.PASSED,
    ]
    assert a.gates[0].observed == 900.0
    assert a.gates[2].observed == pytest.approx(25 / 1500)
    assert a.verdict is Verdict.FAILED and a.exit_code == 1
    assert "response times include failed requests" in a.reasons[-1]
    assert "/checkout" in render_terminal(a)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p95 < 1s over 10s", "windows need per-request records or locust's _stats_history"),
        ("p95 < 1s during spike", "windows, phases and time ranges"),
        ("lateness_p(99) < 100ms", "no start lateness or drops"),
        ("invariant(no_oversell)", "invariants and regressions need loadkit's own records"),
        ("p(97) < 1s", "Locust reports no p(97)"),
        ("p95{name=/*} < 1s", "cannot be combined"),
    ],
)
def test_what_the_csv_cannot_show_is_no_data_with_a_reason(
    prefix: Path, text: str, why: str
) -> None:
    a = analyze_locust_csv(prefix, [parse_threshold(text)])
    assert a.gates[0].status is GateStatus.NO_DATA
    assert why in a.gates[0].observed_text
    assert a.verdict is Verdict.INCONCLUSIVE


def test_missing_stats_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"run_stats\.csv not found"):
        analyze_locust_csv(tmp_path / "run", [])


# ---------------------------------------------- judged like Locust (real Locust 2.47 output)

REAL = Path(__file__).parent / "locust_csv"  # see its README.md: how Locust wrote these files


def test_a_latency_gate_fails_on_an_endpoint_that_only_failed() -> None:
    """/checkout answered 500 at once, 100% of the time: Locust's p(95) is 4 ms."""
    a = analyze_locust_csv(REAL / "run", [parse_threshold("p(95){name=checkout} < 100ms")])
    gate = a.gates[0]
    assert gate.status is GateStatus.FAILED
    assert gate.observed_text.startswith("every request failed (46 of 46)")
    assert "Locust's p(95): 4.0ms" in gate.observed_text
    assert a.verdict is Verdict.FAILED and a.exit_code == 1


@pytest.mark.parametrize(
    ("text", "status", "observed"),
    [
        ("p(95){name=/flaky} < 800ms", GateStatus.FAILED, "10.0% of requests failed"),
        ("p(80){name=/flaky} < 800ms", GateStatus.PASSED, "360ms incl. failures"),
        ("max{name=/flaky} < 10s", GateStatus.FAILED, "more than the 0% a max allows"),
        ("avg{name=/flaky} < 1s", GateStatus.PASSED, "320ms incl. failures"),
        ("p(95){name=/landing} < 800ms", GateStatus.PASSED, "90.0ms"),
    ],
)
def test_failures_count_as_slower_than_any_latency_limit(
    tmp_path: Path, text: str, status: GateStatus, observed: str
) -> None:
    flaky = ROWS[1].replace("POST,/checkout,500,25", "POST,/flaky,500,50")
    (tmp_path / "run_stats.csv").write_text("\n".join([HEADER, ROWS[0], flaky]) + "\n")
    gate = analyze_locust_csv(tmp_path / "run", [parse_threshold(text)]).gates[0]
    assert gate.status is status
    assert observed in gate.observed_text


def test_max_comes_from_the_exact_max_column() -> None:
    # /landing: Max Response Time 2006.99 ms, while Locust rounds its 100% column to 2000
    a = analyze_locust_csv(REAL / "run", [parse_threshold("max{name=/landing} <= 2000ms")])
    assert a.gates[0].status is GateStatus.FAILED
    assert a.gates[0].observed == pytest.approx(2006.985601999986)
    row = a.steps[a.steps["step"] == "/landing"].iloc[0]
    assert row["max_ms"] == pytest.approx(2006.985601999986)


def test_the_history_drives_windowed_rate_gates_and_sees_the_stall() -> None:
    """The stall: 2 requests completed in the 4th second, none in the 5th (history totals)."""
    a = analyze_locust_csv(
        REAL / "run",
        [
            parse_threshold(t)
            for t in (
                "rate >= 10/s over 1s",
                "rate >= 10/s over 3s",
                "count >= 5 over 1s for 2s",
                "count >= 5 over 1s for 3s",
                "error_rate < 40% over 1s",
            )
        ],
    )
    by_second, by_three, for_two, for_three, errors = a.gates
    assert by_second.status is GateStatus.FAILED
    assert [(b.start_s, b.end_s, b.worst) for b in by_second.breaches] == [(3.0, 5.0, 0.0)]
    assert by_second.windows_total == 8 and by_second.windows_breached == 2
    assert by_three.status is GateStatus.PASSED  # 3 s windows average the stall away
    assert for_two.status is GateStatus.FAILED and for_three.status is GateStatus.PASSED
    assert errors.status is GateStatus.PASSED and errors.windows_no_data == 2  # < 5 requests
    assert by_second.samples == 206  # the history's last total, as in the stats file


def test_per_name_windows_need_the_full_history() -> None:
    texts = ("error_rate{name=checkout} < 1% over 2s", "rate{name=/landing} >= 5/s over 1s")
    full = analyze_locust_csv(REAL / "full", [parse_threshold(t) for t in texts])
    assert [g.status for g in full.gates] == [GateStatus.FAILED, GateStatus.FAILED]
    assert full.gates[0].observed == 1.0
    assert [(b.start_s, b.end_s) for b in full.gates[1].breaches] == [(3.0, 5.0)]
    totals_only = analyze_locust_csv(REAL / "run", [parse_threshold(t) for t in texts])
    for gate in totals_only.gates:
        assert gate.status is GateStatus.NO_DATA
        assert "--csv-full-history" in gate.observed_text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p95 < 1s over 1s", "latency windows need per-request records"),
        ("rate >= 1/s over 1500ms", "whole seconds"),
        ("rate{method=GET} >= 1/s over 1s", "request names only"),
    ],
)
def test_what_the_history_cannot_show_is_no_data_with_a_reason(text: str, why: str) -> None:
    gate = analyze_locust_csv(REAL / "run", [parse_threshold(text)]).gates[0]
    assert gate.status is GateStatus.NO_DATA and why in gate.observed_text


def test_a_history_gap_is_spread_over_its_seconds(tmp_path: Path) -> None:
    (tmp_path / "run_stats.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    history = [
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,Total Request Count,"
        "Total Failure Count",
        "100,0,,Aggregated,0,0,0,0",
        "101,5,,Aggregated,0,0,10,0",
        "104,5,,Aggregated,0,0,40,3",  # two rows missing: 30 requests over 102..104
    ]
    (tmp_path / "run_stats_history.csv").write_text("\n".join(history) + "\n")
    gate = analyze_locust_csv(tmp_path / "run", [parse_threshold("count == 10 over 1s")]).gates[0]
    assert gate.status is GateStatus.PASSED and gate.windows_total == 4


def test_a_csv_report_has_no_funnel_or_validity_clutter(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from loadkit.cli import main

    for name in ("run_stats.csv", "run_stats_history.csv"):
        (tmp_path / name).write_bytes((REAL / name).read_bytes())
    gates = tmp_path / "gates.txt"
    gates.write_text("p(95){name=checkout} < 100ms\n")
    with CliRunner().isolation() as (out, _, _), pytest.raises(SystemExit) as done:
        main(["analyze", "--csv", str(tmp_path / "run"), "-t", str(gates)])
    assert done.value.code == 1
    terminal = out.getvalue().decode()
    assert "response times include failed requests" in terminal
    assert "\nfunnel " not in terminal and "\nvalidity\n" not in terminal
    analysis = tmp_path / "run-loadkit" / "analysis"
    summary = (analysis / "summary.md").read_text()
    assert "Funnel" not in summary and "Validity" not in summary
    html = (analysis / "report.html").read_text()
    assert "<h2>Funnel</h2>" not in html and "<h2>Validity</h2>" not in html
    assert not (analysis / "plots" / "funnel.png").exists()
    assert (analysis / "plots" / "hdr.png").exists()
