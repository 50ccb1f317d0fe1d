"""Before a run: a free-space estimate for the records (from the plan) warns or refuses."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from loadkit.cli import main
from loadkit.runner.disk_space import check_free_space, estimate_records, requests_per_journey
from loadkit.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "smoke.yaml"
PROFILE = REPO / "profiles" / "smoke.yaml"
Usage = namedtuple("Usage", "total used free")


def _run(capsys: pytest.CaptureFixture[str], out: Path) -> tuple[int, str, str]:
    args = ["run", str(SCENARIO), "-p", str(PROFILE), "--host", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--out", str(out), "--no-analyze"])
    o, e = capsys.readouterr()
    assert isinstance(done.value.code, int)
    return done.value.code, o, e


def test_a_run_whose_records_cannot_fit_is_refused_before_any_load(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 4096, 4096))
    code, _, err = _run(capsys, tmp_path / "results")
    assert code == 2
    assert "not enough free space for the records" in err and str(tmp_path / "results") in err
    assert "4 KB is free" in err and "--out" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()  # no run folder, nothing started


def test_the_estimate_grows_with_the_crowd_and_the_journey() -> None:
    scenario = load_scenario(SCENARIO)
    per_journey = sum(requests_per_journey(p.steps) for p in scenario.personas)
    assert per_journey >= 1
    small = estimate_records(scenario, 1_000, 60, 1.0)
    big = estimate_records(scenario, 100_000, 60, 1.0)
    assert big.requests == pytest.approx(100 * small.requests, rel=0.01)
    assert big.bytes_needed > 20 * small.bytes_needed
    assert "request and" in big.text()


def test_tight_space_is_a_warning_not_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estimate = estimate_records(load_scenario(SCENARIO), 10_000, 60, 1.0)
    free = estimate.bytes_needed + 1
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**12, 10**12 - free, free))
    warnings: list[str] = []
    check_free_space(tmp_path / "not-yet" / "there", estimate, warnings.append)
    assert len(warnings) == 1 and "may take" in warnings[0] and "exit 3" in warnings[0]
