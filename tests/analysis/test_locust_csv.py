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
    assert "no exact windows" in a.reasons[-1]
    assert "/checkout" in render_terminal(a)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p95 < 1s over 10s", "windows, phases and time ranges need per-request records"),
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
