"""A run never hangs, stop or no stop (a CI job has no Ctrl-C): a scenario regex that
backtracks catastrophically on the target's body fails those requests and the run ends on
time; a runner wedged past its planned end is ended by its own watchdog (stuck in Python) or
by the CLI (stuck in a C call holding the GIL), the run marked ``failed``, exit 3, records kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.runner.test_stop_guarantee import ROOT, _driver, _kill_runner_of

# the target echoes the request's headers: 60 a's, then more lines, so (a|aa)+$ backtracks
# through ~10^12 ways to split the a's at every start (minutes in Python's re)
SCENARIO = """\
name: backtrack
personas:
  fan:
    steps:
      - request:
          path: /echo-headers
          headers: {X-Pad: "%s"}
        expect: {regex: '(a|aa)+$'}
""" % ("a" * 60)
PROFILE = """\
name: short
arrivals: uniform
duration: 2s
segments:
  - {kind: constant, from: 0s, to: 2s, rate: 5/s}
"""


def _requests(run_dir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((run_dir / "records").glob("requests-w0*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Wait for ``proc`` (killed if it hangs); the seconds it took."""
    started = time.monotonic()
    try:
        proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - started


@pytest.mark.integration
def test_a_body_that_makes_the_scenarios_regex_backtrack_fails_requests_not_the_run(
    tmp_path: Path, tiny_server: Any
) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    (tmp_path / "p.yaml").write_text(PROFILE)
    run_dir = tmp_path / "results" / "r"
    cmd = [sys.executable, "-m", "loadkit.cli", "run", str(tmp_path / "s.yaml"), "-p"]
    cmd += [str(tmp_path / "p.yaml"), "--host", tiny_server.url, "--out", str(tmp_path / "results")]
    cmd += ["--run-id", "r", "--drain", "1s", "--no-analyze"]
    log = tmp_path / "cli.log"
    with open(log, "wb") as sink:  # not a pipe: a stuck runner must not hang the test
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        took_s = _finish(proc, timeout_s=60)
    finally:
        _kill_runner_of(run_dir)
    assert proc.returncode == 0, log.read_text()  # the run completed (the runner's exit code)
    assert took_s < 20  # start-up, 2 s of profile, 10 searches of 100 ms, the end
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["records_complete"] is True
    rows = _requests(run_dir)
    assert len(rows) == 10
    assert {r["outcome"] for r in rows} == {"expectation_failed"}
    for row in rows:
        assert "regex '(a|aa)+$' took longer than 100 ms on the body (" in row["error"]
        assert "atomic group" in row["error"]


def _overrun(tmp_path: Path, url: str, mode: str) -> tuple[Path, list[str]]:
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "tests.runner.wedge_run", str(run_dir), url, mode]
    return run_dir, [*cmd, "--planned-end"]


@pytest.mark.integration
def test_a_runner_wedged_in_python_past_its_planned_end_ends_itself(
    tmp_path: Path, tiny_server: Any
) -> None:
    run_dir, cmd = _overrun(tmp_path, tiny_server.url, "spin")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=40)  # planned end t0 + 2.5 s; forced ~5 s later
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = err.decode()
    assert proc.returncode == 3, text
    # mid-run, it said the loop was stalled and where (the spinning persona's code)
    assert "the event loop has not run for 3 s" in text
    assert "the main thread is at tests/runner/wedge_run.py:" in text
    assert "ending the run by force" in text
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["records_complete"] is False
    assert manifest["stop_reason"].startswith("the run did not end by itself")
    assert "after its planned end" in manifest["stop_reason"]
    assert len(_requests(run_dir)) >= 21  # arrivals 0-20 asked before the wedge, all kept


@pytest.mark.integration
def test_a_runner_wedged_in_a_c_call_past_its_planned_end_is_killed_by_the_cli(
    tmp_path: Path, tiny_server: Any
) -> None:
    run_dir, cmd = _overrun(tmp_path, tiny_server.url, "bigint")
    log = tmp_path / "driver.log"
    driver = _driver(cmd, log, "--run-dir", str(run_dir), "--overrun-kill", "2")
    try:
        # planned end t0 + 2.5 s; the heartbeat stops at the wedge (t0 + 1 s); killed once
        # it has been silent 5 s and the run is 2 s past its end: ~t0 + 6 s
        took_s = _finish(driver, timeout_s=40)
    finally:
        _kill_runner_of(run_dir)
    assert driver.returncode == 3, log.read_text()
    assert took_s < 25
    assert "after the run's planned end" in log.read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["records_complete"] is False
    assert "stopped answering" in manifest["stop_reason"]
    assert manifest["workers"][0]["fate"] == "killed"
    assert len(_requests(run_dir)) >= 10  # flushed every 0.2 s before the wedge
