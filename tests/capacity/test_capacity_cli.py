"""`loadkit capacity` on bad input: a clear message and exit 2 before any load is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.cli import main

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "capacity-demo.yaml"
SHAPE = REPO / "profiles" / "capacity-shape.yaml"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    assert isinstance(done.value.code, int)
    return done.value.code, out, err


def _capacity(capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str) -> tuple[int, str]:
    args = ["capacity", str(SCENARIO), "-p", str(SHAPE), "--host", "http://127.0.0.1:9"]
    code, out, err = run_cli(capsys, *args, "--out", str(tmp_path), *extra)
    assert "Traceback" not in err
    return code, out + err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--require", "lots"), "bad --require 'lots'"),
        (("--max", "-5/s"), "bad --max"),
        (("--budget", "soon"), "bad --budget 'soon'"),
        (("--resolution", "150%"), "bad --resolution"),
        (("--start", "100", "--max", "50"), "--start is above --max"),
        (("--repeats", "0"), "bad --repeats"),
    ],
)
def test_bad_flags_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    code, text = _capacity(capsys, tmp_path, *flags)
    assert code == 2
    assert message in text
    assert not list(tmp_path.iterdir())  # nothing was run


def test_a_scenario_without_gates_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bare = tmp_path / "bare.yaml"
    text = SCENARIO.read_text()
    bare.write_text(text.replace("  - error_rate < 1%\n  - p(95) < 1s\n", "  []\n"))
    bare.write_text(bare.read_text().replace("thresholds:\n  []\n", ""))
    code, _, err = run_cli(
        capsys, "capacity", str(bare), "-p", str(SHAPE), "--host", "http://127.0.0.1:9"
    )
    assert code == 2
    assert "no gates" in err and "error_rate < 1%" in err


def test_a_reset_that_cannot_be_sent_stops_before_the_first_probe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = _capacity(capsys, tmp_path)  # nothing listens on port 9
    assert code == 2
    assert "reset request failed before the first probe" in text
    assert not list(tmp_path.iterdir())  # no capacity folder: nothing ran


def test_workers_auto_is_one_per_available_core(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    code, out, _ = run_cli(capsys, "plan", str(SCENARIO), "-p", str(SHAPE))
    assert code == 0
    assert "1 worker(s)" in out and "--workers auto = 3" in out
    assert "cost source: BENCHMARKS.md" in out
    code, _, err = run_cli(capsys, "run", str(SCENARIO), "-p", str(SHAPE), "--workers", "many")
    assert code == 2 and "expected a number or 'auto'" in err


def test_workers_auto_reaches_the_probes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import loadkit.capacity_rehearsal as orchestration

    seen = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(orchestration, "find_capacity", lambda req, echo: seen.append(req) or 0)
    code, _, _ = run_cli(
        capsys, "capacity", str(SCENARIO), "-p", str(SHAPE), "--workers", "auto", "--max", "50"
    )
    assert code == 0
    assert seen[0].workers == 4 and seen[0].max_per_s == 50.0
