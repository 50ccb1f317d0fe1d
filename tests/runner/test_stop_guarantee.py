"""Stopping always works: Ctrl-C/SIGTERM end a run within 5 s even when a visitor's greenlet is
stuck in CPU-bound work; what was recorded is on disk, the manifest says aborted, exit 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from loadkit.runner.child import run_child

ROOT = Path(__file__).resolve().parents[2]


def _interrupt_us_when(ready: Callable[[], bool], after_s: float = 0.0) -> threading.Thread:
    """Ctrl-C for the process running the test (``run_child`` passes it on), once ``ready()``:
    never earlier, so it always lands in run_child's wait."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(after_s)
        signal.raise_signal(signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


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
    lines: list[str] = []
    stop_at: list[float] = []

    def wedged() -> bool:  # arrival 20 (at t0 + 1 s) has made its request: it is stuck now
        if len(list((run_dir / "records").glob("requests-w0-*.parquet"))) < 4:
            return False
        stop_at.append(time.monotonic() + 1.0)
        return True

    # run_child is what `loadkit run` waits on the runner with; SIGINT to us = Ctrl-C
    _interrupt_us_when(wedged, after_s=1.0)
    code = run_child(cmd, lines.append, run_dir=run_dir)
    took_s = time.monotonic() - stop_at[0]
    assert code == 130, lines
    assert took_s < 5.5  # the kill comes 4.5 s after the stop; marking the manifest is quick
    # killed: what the runner flushed (every 0.2 s) before the wedge is on disk
    manifest = _check_aborted(run_dir, at_least=15)
    assert "did not stop within" in manifest["stop_reason"]
    assert manifest["workers"][0]["fate"] == "killed"
    assert any("killing it" in line for line in lines)


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
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(1)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(g.pid))\n"
        "while True: time.sleep(1)\n"
    )
    _interrupt_us_when(pid_file.exists, after_s=0.2)
    lines: list[str] = []
    started = time.monotonic()
    code = run_child([sys.executable, "-c", script], lines.append, kill_after_s=1.0)
    assert code == 130
    assert time.monotonic() - started < 15
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        try:  # reaped by init, or a zombie of the dead child: either way not running
            if Path(f"/proc/{grandchild}/stat").read_text().split(")")[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    else:
        os.kill(grandchild, signal.SIGKILL)
        raise AssertionError("the grandchild outlived the stop")


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
