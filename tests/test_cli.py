"""The CLI's exit codes and messages, as a user at a terminal or a CI job sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadkit.cli import main
from loadkit.results import LatencyBreach, SyntheticRun, write_synthetic_run

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "smoke.yaml"
PROFILE = REPO / "profiles" / "smoke.yaml"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    code = done.value.code
    assert isinstance(code, int)
    return code, out, err


def test_validate_a_shipped_scenario_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", str(SCENARIO), "--profile", str(PROFILE))
    assert code == 0
    assert "ok" in out


def test_broken_yaml_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\npersonas:\n  fan: [1, 2\n  bot: {}\n")
    code, _, err = run_cli(capsys, "validate", str(bad))
    assert code == 2
    assert f"{bad}:" in err and "YAML" in err
    assert "Traceback" not in err


def test_unknown_key_suggests_the_closest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = SCENARIO.read_text().replace("variables:", "variabels:", 1)
    bad = tmp_path / "typo.yaml"
    bad.write_text(text)
    code, _, err = run_cli(capsys, "validate", str(bad))
    assert code == 2
    assert "variabels" in err and "variables" in err
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("variabels"))
    assert f"{bad}:{line}" in err


def test_missing_file_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in err and "not found" in err


def test_bad_threshold_names_file_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gates = tmp_path / "gates.txt"
    gates.write_text("# gates\nerror_rate < 1%\np(95){step=checkout} <<< 800ms\n")
    code, _, err = run_cli(capsys, "validate", str(SCENARIO), "--thresholds", str(gates))
    assert code == 2
    assert f"{gates}:3" in err


def test_profile_is_required_to_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "plan", str(SCENARIO))
    assert code == 2
    assert "--profile" in err


def test_plan_prints_phases_peak_and_total(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plan", str(SCENARIO), "--profile", str(PROFILE))
    assert code == 0
    for word in ("prequeue", "spike", "tail"):
        assert word in out
    assert "peak" in out.lower() and "total" in out.lower()


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_cli(capsys, "rehearse-now")
    assert code == 2


def _synthetic(tmp_path: Path, **kwargs: object) -> Path:
    return write_synthetic_run(tmp_path / "run", SyntheticRun(**kwargs))  # type: ignore[arg-type]


def test_analyze_passing_run_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = _synthetic(tmp_path, thresholds=("error_rate < 1%", "p(95){step=checkout} < 2s"))
    code, out, _ = run_cli(capsys, "analyze", str(run))
    assert code == 0
    assert "PASSED" in out
    verdict = json.loads((run / "analysis" / "verdict.json").read_text())
    assert verdict["exit_code"] == 0


def test_analyze_breached_gate_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = _synthetic(
        tmp_path,
        thresholds=("p(95){step=checkout} < 800ms",),
        breaches=(LatencyBreach("checkout", 0.0, 120.0, 2000.0),),
    )
    code, out, _ = run_cli(capsys, "analyze", str(run))
    assert code == 1
    assert "FAILED" in out
    assert (run / "analysis" / "summary.md").exists()


def test_analyze_behind_generator_is_invalid_exit_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _synthetic(tmp_path, drop_fraction=0.2, thresholds=("error_rate < 100%",))
    code, out, _ = run_cli(capsys, "analyze", str(run))
    assert code == 3
    assert "INVALID" in out and "drop" in out.lower()


def test_analyze_thresholds_file_is_added(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _synthetic(tmp_path)
    gates = tmp_path / "gates.txt"
    gates.write_text("p(99){step=checkout} < 1ms\n")
    code, out, _ = run_cli(capsys, "analyze", str(run), "--thresholds", str(gates))
    assert code == 1
    assert "p(99){step=checkout} < 1ms" in out


def test_analyze_missing_folder_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "analyze", str(tmp_path / "no-such-run"))
    assert code == 2
    assert "no-such-run" in err


def test_run_refuses_a_host_off_the_allow_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys,
        "run",
        str(SCENARIO),
        "--profile",
        str(PROFILE),
        "--host",
        "http://shop.example.com",
        "--out",
        str(tmp_path),
    )
    assert code == 2
    assert "allow" in err.lower()


def test_analyze_a_plain_locust_csv_gates_and_writes_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.analysis.test_locust_csv import HEADER, ROWS

    (tmp_path / "run_stats.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    gates = tmp_path / "gates.txt"
    gates.write_text("p(95){name=/checkout} < 800ms\nerror_rate{name=/landing} == 0\n")
    prefix = tmp_path / "run"
    code, out, _ = run_cli(capsys, "analyze", str(prefix), "--csv", "--thresholds", str(gates))
    assert code == 1  # checkout p95 is 900 ms in the CSV
    assert "p(95){name=/checkout} < 800ms" in out
    assert (tmp_path / "run-loadkit" / "analysis" / "verdict.json").exists()


def test_plan_takes_its_seed_from_the_same_places_as_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("plan", str(SCENARIO), "--profile", str(PROFILE))
    _, by_flag, _ = run_cli(capsys, *args, "--seed", "7")
    _, by_default, _ = run_cli(capsys, *args)
    monkeypatch.setenv("LOADKIT_SEED", "7")
    code, by_env, _ = run_cli(capsys, *args)
    assert code == 0
    assert by_env == by_flag != by_default
    monkeypatch.setenv("LOADKIT_SEED", "-3")
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "LOADKIT_SEED" in err and "Traceback" not in err


def test_a_master_beyond_loopback_needs_a_cluster_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOADKIT_CLUSTER_KEY", raising=False)
    args = ["master", str(SCENARIO), "-p", str(PROFILE), "--host", "http://127.0.0.1:9"]
    args += ["--bind", "0.0.0.0", "--out", str(tmp_path / "results")]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert "would listen on 0.0.0.0 without a cluster key" in err and "--key-file" in err
    assert not (tmp_path / "results").exists()  # refused before anything was set up
    short = tmp_path / "short.key"
    short.write_text("s3cr3t\n")
    code, _, err = run_cli(capsys, *args, "--key-file", str(short))
    assert code == 2 and "too short" in err and "s3cr3t" not in err
