"""The runner as a process: SIGINT/SIGTERM abort cleanly (exit 130), SIGKILL leaves whole segments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, *, arrivals: int = 2000, rate: float = 100, repeat: int = 20) -> Any:
        run_dir = tmp_path / "run"
        cmd = [sys.executable, "-m", "tests.runner.plain_run", str(run_dir), url]
        cmd += [str(arrivals), str(rate), str(repeat), "0.05"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc, run_dir

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes its pipes


def _wait_for_segments(run_dir: Path, proc: Any, count: int = 2) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        if len(list((run_dir / "records").glob("requests-w0-*.parquet"))) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no segments were flushed")


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_aborts_flushes_and_exits_130(start_runner: Any, tiny_server: Any, sig: int) -> None:
    proc, run_dir = start_runner(tiny_server.url)
    _wait_for_segments(run_dir, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err.decode()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    assert manifest["stop_reason"].startswith("interrupted")
    assert manifest["records_complete"] is True
    records = run_dir / "records"
    requests = pq.read_table(sorted(records.glob("requests-w0-*.parquet")))
    arrivals = pq.read_table(sorted(records.glob("arrivals-w0-*.parquet")))
    assert manifest["workers"][0]["requests_written"] == requests.num_rows > 0
    assert manifest["workers"][0]["arrivals_written"] == arrivals.num_rows > 0
    # every visitor that started is accounted for, the stopped ones as cut (not failed)
    outcomes = arrivals.column("outcome").to_pylist()
    reasons = arrivals.column("reason").to_pylist()
    assert "cut" in outcomes and "failed" not in outcomes
    assert any(r and r.startswith("cut: the run was stopped") for r in reasons)
    assert b"interrupted" in err


@pytest.mark.integration
def test_sigkill_leaves_whole_readable_segments(start_runner: Any, tiny_server: Any) -> None:
    proc, run_dir = start_runner(tiny_server.url)
    _wait_for_segments(run_dir, proc, count=3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running"
    segments = sorted((run_dir / "records").glob("*-w0-*.parquet"))
    assert segments
    total = sum(pq.read_table(p).num_rows for p in segments if p.name.startswith("requests"))
    assert total > 0


@pytest.mark.integration
def test_unreachable_target_completes_with_connection_errors(
    start_runner: Any, closed_port_url: str
) -> None:
    proc, run_dir = start_runner(closed_port_url, arrivals=20, rate=40, repeat=2)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    requests = pq.read_table(run_dir / "records" / "requests-w0.parquet").to_pandas()
    assert len(requests) == 40
    assert set(requests["outcome"]) == {"connection_error"}
