"""Distributed replay speed: ``python -m bench distributed``.

* the highest arrival rate one worker sustains (lateness p99 ≤ 20 ms, no drops), and two workers,
  against a static handler (nginx when installed, else a stdlib server) on 127.0.0.1;
* the master's CPU per 1,000 records/s streamed (``manifest.master.run_cpu_s`` over the run,
  measured with ``resource.getrusage`` inside the master process).

Each step is a short local run (``local_workers``: a master + N worker processes), one GET per
arrival, uniform arrivals. Everything goes to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loadkit.runner.spec import RunMode, RunSpec

RATES_PER_S = (100, 200, 400, 800, 1200, 1600, 2000)
DURATION_S = 4
LATENESS_BUDGET_MS = 20.0
SCENARIO = """\
name: bench-static
personas:
  visitor:
    weight: 1
    steps:
      - request: GET /static
"""
PROFILE = """\
name: bench-constant
arrivals: uniform
duration: {duration}s
segments:
  - {{kind: constant, from: 0s, to: {duration}s, rate: {rate}/s}}
"""
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};
  uwsgi_temp_path {root}; scgi_temp_path {root};
  server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;
           location / {{ return 200 "ok\\n"; }} }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Static(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Target:
    """nginx (one worker process) when installed, else a threaded stdlib server."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.server: ThreadingHTTPServer | None = None
        nginx = shutil.which("nginx")
        if nginx:
            conf = root / "nginx.conf"
            conf.write_text(NGINX_CONF.format(root=root, port=self.port))
            self.proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(root)])
            self.kind = "nginx, 1 worker process"
        else:
            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _Static)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
            self.kind = "python ThreadingHTTPServer"
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the bench target did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _run(root: Path, url: str, rate: int, workers: int, attempt: int = 1) -> dict[str, Any]:
    run_id = f"r{rate}-w{workers}-{attempt}"
    folder = root / run_id
    folder.mkdir()
    (folder / "s.yaml").write_text(SCENARIO)
    (folder / "p.yaml").write_text(PROFILE.format(rate=rate, duration=DURATION_S))
    run_dir = folder / "run"
    run_dir.mkdir()
    RunSpec(
        run_id=run_id,
        scenario_path=str(folder / "s.yaml"),
        profile_path=str(folder / "p.yaml"),
        host=url,
        seed=1,
        mode=RunMode.MASTER,
        progress_interval_s=60.0,
        settings={"local_workers": {"value": workers, "source": "bench"}},
    ).dump(run_dir)
    code = subprocess.run(
        [sys.executable, "-m", "loadkit.runner.distributed", "master", str(run_dir)],
        stdout=subprocess.DEVNULL,
        timeout=120,
    ).returncode
    manifest = json.loads((run_dir / "manifest.json").read_text())
    files = sorted((run_dir / "records").glob("arrivals-*.parquet"))
    arrivals = pa.concat_tables(pq.read_table(f) for f in files)
    requests = sum(pq.read_metadata(f).num_rows for f in (run_dir / "records").glob("requests-*"))
    lateness = arrivals.column("lateness_ms").drop_null().to_numpy()
    dropped = arrivals.num_rows - len(lateness)
    master = manifest["master"]
    records = arrivals.num_rows + requests
    return {
        "rate": rate,
        "workers": workers,
        "exit": code,
        "p99_ms": float(np.percentile(lateness, 99)) if len(lateness) else float("nan"),
        "dropped": dropped,
        "records": records,
        "records_per_s": records / master["run_wall_s"],
        "master_cpu_share": master["run_cpu_s"] / master["run_wall_s"],
        "complete": manifest["records_complete"],
    }


def _ok(step: dict[str, Any]) -> bool:
    return bool(
        step["exit"] == 0
        and step["p99_ms"] <= LATENESS_BUDGET_MS
        and step["dropped"] == 0
        and step["complete"]
    )


def run() -> str:
    lines = [
        "## Distributed replay (master + local worker processes)",
        "",
        "Command: `python -m bench distributed`. Uniform arrivals, one GET each, "
        f"{DURATION_S} s per step; a step passes with lateness p99 ≤ {LATENESS_BUDGET_MS:g} ms, "
        "no drops and complete records (a failed step is run once more; the table shows the "
        "last try). Master CPU = its own getrusage from t0 to the end, which includes a fixed "
        "cost (heartbeats, progress) that dominates at low rates.",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="lk-bench-dist-") as tmp:
        root = Path(tmp)
        target = Target(root)
        lines.insert(3, f"Target: {target.kind} on 127.0.0.1. Machine: shared, 2 cores.")
        lines.insert(4, "")
        lines += [
            "| workers | rate /s | lateness p99 ms | dropped | records/s streamed | "
            "master CPU % of a core | per 1,000 records/s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        best: dict[int, int] = {}
        try:
            for workers in (1, 2):
                for rate in RATES_PER_S:
                    step = _run(root, target.url, rate, workers)
                    if not _ok(step):  # a shared machine has hiccups: a failure must repeat
                        step = _run(root, target.url, rate, workers, attempt=2)
                    share = step["master_cpu_share"] * 100
                    per_k = share / max(step["records_per_s"] / 1000, 1e-9)
                    lines.append(
                        f"| {workers} | {rate} | {step['p99_ms']:.1f} | {step['dropped']} | "
                        f"{step['records_per_s']:.0f} | {share:.1f} | {per_k:.1f} % |"
                    )
                    if not _ok(step):
                        break
                    best[workers] = rate
        finally:
            target.stop()
    lines.append("")
    for workers in (1, 2):
        found = best.get(workers)
        lines.append(
            f"- highest passing rate with {workers} worker(s): "
            + (f"**{found}/s**" if found else "none of the steps passed")
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
