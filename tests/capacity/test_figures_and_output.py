"""From an analyzed probe to the search's ProbeResult, and from a search to capacity/ files and
the exit code. Synthetic runs (no network) stand in for probes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadkit.analysis import analyze
from loadkit.capacity import ProbeOutcome, ProbeResult, SearchResult, Stop
from loadkit.capacity.figures import probe_result
from loadkit.capacity.output import SearchMeta, exit_code, render_text, write_capacity
from loadkit.errors import ExitCode
from loadkit.gates import parse_threshold
from loadkit.results.reader import open_run
from loadkit.results.synthetic import ErrorBurst, SyntheticRun, write_synthetic_run

GATES = [parse_threshold("error_rate < 1%"), parse_threshold("p(95) < 1s")]


def _probe(tmp_path: Path, name: str, spec: SyntheticRun, rate: float = 20.0) -> ProbeResult:
    run_dir = write_synthetic_run(tmp_path / name, spec)
    run = open_run(run_dir)
    analysis = analyze(run, GATES)
    return probe_result(analysis, run.load_requests(["status", "outcome"]), rate, str(run_dir))


def test_a_healthy_probe_passes_with_its_figures(tmp_path: Path) -> None:
    p = _probe(tmp_path, "ok", SyntheticRun(duration_s=20, workers=1))
    assert p.outcome is ProbeOutcome.PASSED
    assert p.error_rate == 0
    assert p.details["p95_ms"] > 0
    assert p.details["run_dir"].endswith("ok")
    assert p.details["errors_by_status"] == {}


def test_a_probe_with_503s_fails_and_names_the_gate_and_statuses(tmp_path: Path) -> None:
    burst = ErrorBurst("landing", 0, 20, 0.5, status=503)
    p = _probe(tmp_path, "bad", SyntheticRun(duration_s=20, workers=1, error_bursts=(burst,)))
    assert p.outcome is ProbeOutcome.FAILED
    assert p.first_failed_gate == "error_rate < 1%"
    assert set(p.details["errors_by_status"]) == {"503"}


def test_a_probe_whose_generator_fell_behind_is_generator_bound(tmp_path: Path) -> None:
    spec = SyntheticRun(duration_s=20, workers=1, drop_fraction=0.2)
    p = _probe(tmp_path, "late", spec)
    assert p.outcome is ProbeOutcome.GENERATOR_BOUND
    assert any("dropped" in r for r in p.reasons)


def _result(stop: Stop, holds: float | None, fails: float | None) -> SearchResult:
    probes = []
    if holds is not None:
        probes += [ProbeResult(holds, ProbeOutcome.PASSED, details={"p95_ms": 100.0})] * 2
    if fails is not None:
        probes += [
            ProbeResult(
                fails,
                ProbeOutcome.FAILED,
                0.2,
                "error_rate < 1%",
                details={"p95_ms": 300.0, "errors_by_status": {"503": 40}, "run_dir": "x"},
            )
        ] * 2
    return SearchResult(stop, "msg", holds, fails, tuple(probes))


@pytest.mark.parametrize(
    ("stop", "holds", "fails", "require", "code"),
    [
        (Stop.FOUND, 310, 340, 300, ExitCode.PASSED),
        (Stop.FOUND, 310, 340, 320, ExitCode.INVALID),  # between holds and fails: cannot say
        (Stop.FOUND, 310, 340, 400, ExitCode.FAILED),
        (Stop.FOUND, 310, 340, None, ExitCode.PASSED),
        (Stop.MAX_RATE, 500, None, 400, ExitCode.PASSED),
        (Stop.MAX_RATE, 500, None, 600, ExitCode.INVALID),
        (Stop.GENERATOR_BOUND, 40, None, None, ExitCode.INVALID),
        (Stop.GENERATOR_BOUND, 40, None, 30, ExitCode.PASSED),  # held what was required
        (Stop.NEVER_PASSES, None, 10, 5, ExitCode.INVALID),
        (Stop.NO_WALL, 1000, None, None, ExitCode.INVALID),
        (Stop.INTERRUPTED, 40, None, 30, ExitCode.INTERRUPTED),
    ],
)
def test_exit_codes(
    stop: Stop, holds: float | None, fails: float | None, require: float | None, code: ExitCode
) -> None:
    assert exit_code(_result(stop, holds, fails), require) is code


META = SearchMeta("s.yaml", "p.yaml", "http://127.0.0.1:1", 300.0, None, 1, 1, 42.0)


def test_capacity_folder_lists_every_probe_and_draws_the_knee(tmp_path: Path) -> None:
    result = _result(Stop.FOUND, 310, 340)
    paths = write_capacity(tmp_path / "capacity", result, META, GATES)
    doc = json.loads(paths["capacity.json"].read_text())
    assert doc["holds_per_s"] == 310 and doc["fails_per_s"] == 340
    assert doc["exit_code"] == 0
    assert len(doc["probes"]) == 4
    assert doc["probes"][-1]["run_dir"] == "x"
    assert doc["signature"]["first_failed_gate"] == "error_rate < 1%"
    assert doc["signature"]["fails"]["errors_by_status"] == {"503": 40}
    assert doc["signature"]["latency_knee_per_s"] == 340  # p95 tripled there
    assert paths["knee.png"].read_bytes()[:4] == b"\x89PNG"
    summary = paths["summary.md"].read_text()
    assert summary.startswith("## Capacity: msg")
    assert "| 340/s | failed |" in summary


def test_the_terminal_says_generator_bound_and_how_to_fix_it() -> None:
    result = SearchResult(
        Stop.GENERATOR_BOUND,
        "generator-bound at 80.0/s: add workers (lateness)",
        40,
        None,
        (ProbeResult(40, ProbeOutcome.PASSED), ProbeResult(80, ProbeOutcome.GENERATOR_BOUND)),
    )
    text = render_text(result, META)
    assert text.startswith("capacity: generator-bound at 80.0/s: add workers")
    assert "--workers auto" in text
    assert "cannot say whether it meets the requirement of 300/s" in text
