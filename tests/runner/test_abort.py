"""``abort after`` end to end: a slow target trips the threshold, the run stops, exit 1, failed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from loadkit.runner import RunSpec

ROOT = Path(__file__).resolve().parents[2]
GATE = "p(95) < 50ms over 1s for 2s, abort after 3s"

SCENARIO = """\
name: slowpoke
personas:
  fan:
    steps:
      - request: GET /
"""

PROFILE = """\
name: long
arrivals: uniform
duration: 30s
segments:
  - {kind: constant, from: 0s, to: 30s, rate: 20/s}
phases:
  - {name: main, from: 0s, to: 30s}
"""


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the runner hangs up on requests in flight when it stops: expected


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.integration
def test_breached_abort_threshold_stops_the_run_and_fails_it(tmp_path: Path, slow_url: str) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    (tmp_path / "p.yaml").write_text(PROFILE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunSpec(
        run_id="slowpoke",
        scenario_path=str(tmp_path / "s.yaml"),
        profile_path=str(tmp_path / "p.yaml"),
        host=slow_url,
        seed=1,
        progress_interval_s=0.5,
        start_delay_s=0.3,
        thresholds=(GATE, "error_rate < 1%"),
    ).dump(run_dir)

    proc = _run("loadkit.runner", str(run_dir))

    assert proc.returncode == 1, proc.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    assert manifest["aborted_by_threshold"] == GATE
    assert manifest["stop_reason"] == f'threshold "{GATE}" breached: aborted to protect the target'
    assert manifest["stop_reason"] in proc.stderr
    assert manifest["records_complete"] is True
    # stopped within a few seconds of the breach, not after the profile's 30 s
    segments = sorted((run_dir / "records").glob("arrivals-w0-*.parquet"))
    arrivals = pq.read_table(segments).to_pandas()
    assert 40 < len(arrivals) < 300
    assert manifest["runner_summary"]["scheduled"] == len(arrivals)
    worker = manifest["workers"][0]
    assert 0 <= worker["cpu_percent_p95"] <= worker["cpu_percent_max"]
    assert worker["start_timer"] in ("timerfd", "libev")
    assert ", cpu " in proc.stderr

    analyzed = _run("loadkit.cli", "analyze", str(run_dir))
    assert analyzed.returncode == 1, analyzed.stdout + analyzed.stderr
    verdict = json.loads((run_dir / "analysis" / "verdict.json").read_text())
    assert verdict["verdict"] == "failed"
    assert GATE in verdict["reasons"][0]
