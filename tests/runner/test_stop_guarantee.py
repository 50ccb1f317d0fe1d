"""Stopping always works: Ctrl-C/SIGTERM end a run within 5 s even when a visitor's greenlet is
stuck in CPU-bound work; what was recorded is on disk, the manifest says aborted, exit 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from loadkit.runner.child import run_child

ROOT = Path(__file__).resolve().parents[2]


def _driver(child: list[str], log: Path, *opts: str) -> subprocess.Popen[bytes]:
    """``run_child`` on ``child`` in a driver process of its own (the test signals it)."""
    cmd = [sys.executable, "-m", "tests.runner.child_driver", *opts, "--", *child]
    with open(log, "wb") as sink:  # not a pipe: a stuck grandchild must not hang the test
        return subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> tuple[int, float]:
    """Send ``sig``; (exit code, seconds it took). The driver is killed if it hangs."""
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, time.monotonic() - sent


def _wait_for_wedge(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if b"wedged" in line:
            time.sleep(0.5)  # well stuck
            return
        assert line or proc.poll() is None, "the runner ended before it wedged"
    raise AssertionError("the crowd never wedged")


def _check_aborted(run_dir: Path, at_least: int) -> dict[str, Any]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    assert manifest["records_complete"] is False  # the stuck journey has no arrival row
    assert manifest["stop_reason"].startswith("interrupted")
    requests = sorted((run_dir / "records").glob("requests-w0-*.parquet"))
    assert sum(pq.read_table(p).num_rows for p in requests) >= at_least
    return manifest


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_ends_a_run_wedged_in_python_code(
    tmp_path: Path, tiny_server: Any, sig: int
) -> None:
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "tests.runner.wedge_run", str(run_dir), tiny_server.url, "spin"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_wedge(proc)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
        took_s = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert took_s < 5.0
    # every request made before the wedge (21: arrivals 0-20) is on disk: the watchdog
    # wrote what the wedged loop had not flushed yet
    manifest = _check_aborted(run_dir, at_least=21)
    assert "ended by force" in manifest["stop_reason"]
    assert b"ending the run by force" in err


@pytest.mark.integration
def test_the_cli_ends_a_runner_wedged_in_a_c_call_holding_the_gil(
    tmp_path: Path, tiny_server: Any
) -> None:
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "tests.runner.wedge_run", str(run_dir), tiny_server.url, "bigint"]
    log = tmp_path / "driver.log"
    driver = _driver(cmd, log, "--run-dir", str(run_dir))
    try:
        deadline = time.monotonic() + 30
        # arrival 20 (at t0 + 1 s) wedges; the flushes before it are on disk
        while len(list((run_dir / "records").glob("requests-w0-*.parquet"))) < 3:
            assert time.monotonic() < deadline and driver.poll() is None, log.read_text()
            time.sleep(0.05)
        time.sleep(1.5)
        code, took_s = _stop(driver)
    finally:
        _kill_runner_of(run_dir)
    assert code == 130, log.read_text()
    assert took_s < 5.5  # the kill comes 4.5 s after the stop; marking the manifest is quick
    # killed: what the runner flushed (every 0.2 s) before the wedge is on disk
    manifest = _check_aborted(run_dir, at_least=10)
    assert "did not stop within" in manifest["stop_reason"]
    assert manifest["workers"][0]["fate"] == "killed"
    assert "killing it" in log.read_text()


@pytest.mark.integration
def test_a_runner_killed_by_the_system_leaves_a_manifest_that_says_why(
    tmp_path: Path, tiny_server: Any
) -> None:
    import os

    from loadkit.rehearsal import analyze_run

    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "tests.runner.plain_run", str(run_dir), tiny_server.url]

    def oom_killer() -> None:  # SIGKILL the runner once it is loading, as the OOM killer would
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                manifest = json.loads((run_dir / "manifest.json").read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            if list((run_dir / "records").glob("requests-w0-*.parquet")):
                os.kill(manifest["workers"][0]["pid"], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=oom_killer)
    killer.start()
    lines: list[str] = []
    code = run_child([*cmd, "2000", "100", "5", "0.05"], lines.append, run_dir=run_dir)
    killer.join()
    assert code == 3
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["workers"][0]["fate"] == "crashed"
    assert "killed by SIGKILL" in manifest["stop_reason"]
    assert manifest["crashed"]["exit_code"] == -signal.SIGKILL
    out: list[str] = []
    assert analyze_run(run_dir, None, None, csv=False, echo=out.append) == 3
    text = "\n".join(out)
    assert "the runner process died: killed by SIGKILL (out of memory?" in text
    assert "0 of 1" not in text


@pytest.mark.integration
def test_a_stop_that_is_ignored_ends_the_child_and_all_it_started(tmp_path: Path) -> None:
    import os

    pid_file = tmp_path / "grandchild.pid"
    # a child that ignores SIGINT and starts a grandchild that does too (a wedged master and
    # its local worker): both must be gone soon after the stop
    script = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(1)'])\n"
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{g.pid}}')\n"
        "while True: time.sleep(1)\n"
    )
    log = tmp_path / "driver.log"
    driver = _driver([sys.executable, "-c", script], log, "--kill-after", "1.0")
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    code, took_s = _stop(driver)
    pids = [int(p) for p in pid_file.read_text().split()]
    time.sleep(0.5)
    running = [pid for pid in pids if _runs(pid)]
    for pid in running:  # cleanup of what this test started, should the check fail
        os.kill(pid, signal.SIGKILL)
    assert code == 130, log.read_text()
    assert took_s < 5
    assert not running, "the child or the grandchild outlived the stop"


def _runs(pid: int) -> bool:
    """Whether ``pid`` is one of this test's sleepers, running (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.split(")")[1].split()[0] != "Z" and b"time.sleep(1)" in cmdline


def _kill_runner_of(run_dir: Path) -> bool:
    """Kill the runner this test started (its pid is in its manifest) if it still runs;
    returns whether it did."""
    import os

    try:
        pid = json.loads((run_dir / "manifest.json").read_text())["workers"][0]["pid"]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, IndexError):
        return False
    if str(run_dir).encode() not in cmdline:  # gone, and its pid reused: not ours
        return False
    os.kill(pid, signal.SIGKILL)
    return True


WEDGE_SCENARIO = """\
name: wedge
personas:
  fan:
    steps:
      - request: GET /
      - if: "arrival_id == 10"
        then:
          - set: {x: "{{ 3 }}"}
          - repeat: {times: 40, steps: [{set: {x: "{{ x * x }}"}}]}
"""
STEADY_PROFILE = """\
name: steady
arrivals: uniform
duration: 20s
segments:
  - {kind: constant, from: 0s, to: 20s, rate: 10/s}
"""


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])  # HUP: tty gone
def test_loadkit_run_stops_within_5_s_on_the_pathological_expression(
    tmp_path: Path, tiny_server: Any, sig: int
) -> None:

    (tmp_path / "s.yaml").write_text(WEDGE_SCENARIO)
    (tmp_path / "p.yaml").write_text(STEADY_PROFILE)
    run_dir = tmp_path / "results" / "r"
    cmd = [sys.executable, "-m", "loadkit.cli", "run", str(tmp_path / "s.yaml"), "-p"]
    cmd += [str(tmp_path / "p.yaml"), "--host", tiny_server.url, "--out", str(tmp_path / "results")]
    cmd += ["--run-id", "r", "--no-analyze"]
    log = tmp_path / "cli.log"
    with open(log, "wb") as sink:  # not a pipe: a stuck runner must not hang the test
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        # arrival 10 starts squaring at t0 + 1.05 s, just after the first flush
        while not list((run_dir / "records").glob("requests-w0-*.parquet")):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=20)
        took_s = time.monotonic() - sent
    finally:
        if proc.poll() is None:  # the CLI is stuck: end it and its runner, then fail below
            proc.kill()
            proc.wait()
            _kill_runner_of(run_dir)
    out = log.read_bytes()
    assert proc.returncode == 130, out.decode()
    assert took_s < 5.5  # 5 s and the CLI's own exit
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    requests = sorted((run_dir / "records").glob("requests-w0-*.parquet"))
    assert sum(pq.read_table(p).num_rows for p in requests) >= 10  # the first flush at least
    runner_left = _kill_runner_of(run_dir)  # (the CLI waited for it: it must be gone)
    assert not runner_left, "the runner outlived the CLI"
