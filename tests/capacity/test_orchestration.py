"""find_capacity end to end with the rehearsal replaced by a synthetic target (no network, no
runner): probe folders, per-probe reports, capacity.json, exit codes, Ctrl-C, a probe that
cannot be judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import loadkit.capacity_rehearsal as orchestration
from loadkit.capacity_rehearsal import CapacityRequest, capacity_request, find_capacity
from loadkit.errors import ExitCode, ResultsError
from loadkit.profiles import load_profile
from loadkit.rehearsal import RunRequest
from loadkit.results.synthetic import ErrorBurst, StepSpec, SyntheticRun, write_synthetic_run

REPO = Path(__file__).resolve().parents[2]
SHAPE = REPO / "profiles" / "capacity-shape.yaml"
SCENARIO = """
name: fake
personas:
  v:
    steps:
      - name: landing
        request: GET /
thresholds:
  - error_rate < 1%
"""


def fake_target(wall_per_s: float, calls: list[float], interrupt_at: int | None = None):  # type: ignore[no-untyped-def]
    """A stand-in for ``rehearse``: writes a synthetic run whose requests fail past the wall."""

    def rehearse(request: RunRequest, echo: object) -> int:
        assert request.profile is not None and request.out_dir is not None
        peak, _ = load_profile(request.profile).peak_rate()
        calls.append(round(peak, 6))
        if interrupt_at is not None and len(calls) == interrupt_at:
            return int(ExitCode.INTERRUPTED)
        over = peak > wall_per_s
        spec = SyntheticRun(
            run_id=str(request.run_id),
            duration_s=10,
            arrivals_per_s=10,
            steps=(StepSpec("landing", 20.0),),
            error_bursts=(ErrorBurst("landing", 0, 10, 0.2),) if over else (),
            workers=1,
        )
        write_synthetic_run(request.out_dir / str(request.run_id), spec)
        return 0

    return rehearse


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "fake.yaml"
    path.write_text(SCENARIO)
    return path


def _request(scenario: Path, tmp_path: Path, repeats: int = 1, **flags: str) -> CapacityRequest:
    """A quick search (one probe per boundary side, 20 % resolution) unless told otherwise."""
    flags.setdefault("resolution", "20%")
    return capacity_request(
        scenario,
        SHAPE,
        "http://127.0.0.1:9",
        None,
        cooldown="0s",
        repeats=repeats,
        out_dir=tmp_path / "out",
        **flags,
    )


@pytest.fixture
def no_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing each probe's report (a second of plots each) where a test does not read it."""
    import loadkit.report

    monkeypatch.setattr(loadkit.report, "write_reports", lambda analysis, run_dir: {})


def test_a_search_writes_every_probe_and_the_answer(
    scenario: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[float] = []
    monkeypatch.setattr(orchestration, "rehearse", fake_target(33.0, calls))
    code = find_capacity(_request(scenario, tmp_path, repeats=2, require="25/s"), print)
    assert code == ExitCode.PASSED
    folder = next((tmp_path / "out").glob("*/capacity"))
    doc = json.loads((folder / "capacity.json").read_text())
    assert doc["stop"] == "found"
    assert doc["holds_per_s"] <= 33.0 < doc["fails_per_s"]
    assert [p["rate_per_s"] for p in doc["probes"]] == pytest.approx(calls)  # each probe's peak
    assert calls[:3] == [10.0, 20.0, 40.0]  # doubling from the shape's own peak
    for p in doc["probes"]:
        assert (Path(p["run_dir"]) / "analysis" / "report.html").is_file()
        profile = folder / "profiles" / f"{Path(p['run_dir']).name}.yaml"
        assert yaml.safe_load(profile.read_text())["scale"]["crowd"] == pytest.approx(
            p["rate_per_s"] / 10.0
        )
    out = capsys.readouterr().out
    assert "meets the requirement of 25.0/s" in out
    assert (folder / "knee.png").is_file() and (folder / "summary.md").is_file()


def test_a_requirement_above_the_wall_exits_1(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_reports: None
) -> None:
    monkeypatch.setattr(orchestration, "rehearse", fake_target(33.0, []))
    assert find_capacity(_request(scenario, tmp_path, require="50/s"), print) == ExitCode.FAILED


def test_ctrl_c_mid_search_keeps_the_probes_and_exits_130(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_reports: None
) -> None:
    monkeypatch.setattr(orchestration, "rehearse", fake_target(33.0, [], interrupt_at=3))
    code = find_capacity(_request(scenario, tmp_path), print)
    assert code == ExitCode.INTERRUPTED
    doc = json.loads(next((tmp_path / "out").glob("*/capacity/capacity.json")).read_text())
    assert doc["stop"] == "interrupted"
    assert [p["outcome"] for p in doc["probes"]] == ["passed", "passed"]
    assert doc["interrupted_probe_run_dir"].endswith("probe-03-40per_s")


def test_a_probe_that_cannot_be_read_ends_the_search_inconclusive(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: RunRequest, echo: object) -> int:
        raise ResultsError("no manifest.json in the probe folder")

    monkeypatch.setattr(orchestration, "rehearse", broken)
    code = find_capacity(_request(scenario, tmp_path), print)
    assert code == ExitCode.INVALID
    doc = json.loads(next((tmp_path / "out").glob("*/capacity/capacity.json")).read_text())
    assert doc["stop"] == "inconclusive_probe"
    assert "no manifest.json" in doc["answer"]


def test_a_max_below_the_shapes_peak_starts_at_the_max(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_reports: None
) -> None:
    calls: list[float] = []
    monkeypatch.setattr(orchestration, "rehearse", fake_target(33.0, calls))
    code = find_capacity(_request(scenario, tmp_path, max_rate="4/s"), print)  # the shape: 10/s
    assert code == ExitCode.PASSED
    assert calls == [4.0]
    doc = json.loads(next((tmp_path / "out").glob("*/capacity/capacity.json")).read_text())
    assert doc["stop"] == "max_rate" and doc["holds_per_s"] == 4.0


def test_generator_bound_says_how_many_workers_that_rate_needs(
    scenario: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_reports: None,
) -> None:
    def rehearse(request: RunRequest, echo: object) -> int:
        assert request.profile is not None and request.out_dir is not None
        peak, _ = load_profile(request.profile).peak_rate()
        spec = SyntheticRun(
            run_id=str(request.run_id),
            duration_s=10,
            steps=(StepSpec("landing", 20.0),),
            drop_fraction=0.2 if peak > 1000 else 0.0,  # the generator falls behind past 1,000/s
            workers=1,
        )
        write_synthetic_run(request.out_dir / str(request.run_id), spec)
        return 0

    monkeypatch.setattr(orchestration, "rehearse", rehearse)
    code = find_capacity(_request(scenario, tmp_path, start="800/s"), print)
    assert code == ExitCode.INVALID
    out = capsys.readouterr().out
    assert "generator-bound at 1,600/s: add workers" in out
    assert "estimate: 2 worker(s) for 1,600/s" in out  # 1,600 × 685 µs / 70 % of a core
    assert "BENCHMARKS.md" in out
