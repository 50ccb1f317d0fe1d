"""Runner speed: loadkit's visitor path vs plain Locust, and schedule accuracy.

Setup (2-core machine): our own nginx (``apt-get install nginx-light``) serves a static file on
127.0.0.1, pinned to core 0; the load generator is pinned to core 1 (``taskset``).

* Throughput: the same number of concurrent users/visitors loop the same GET with keep-alive.
  Plain Locust: ``locust -f bench/locust_plain.py --headless`` (FastHttpUser, ``constant(0)``).
  loadkit: visitors that each run one journey repeating the GET (``visitor.http`` +
  ``visitor.record``, recording on, Parquet segments flushed every second). Both are counted
  over the same window after a warm-up; rounds alternate so machine noise hits both.
* Schedule accuracy: Poisson arrivals at 500/s and a 2,000/s spike, one GET each; lateness
  (actual - scheduled start) from the arrival records.
* Recording cost: ``Visitor.record`` alone, in a loop.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
USERS = 32
WARM_S = 2.0
MEASURE_S = 6.0
ROUNDS = 2
TARGET_CORE = "0"
GENERATOR_CORE = "1"
BODY = b"<html><body>loadkit bench: a small static page</body></html>\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_conf(prefix: Path, port: int) -> str:
    return f"""
worker_processes 1;
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
    }}
}}
"""


@contextmanager
def nginx() -> Iterator[str]:
    """Our own nginx on a free loopback port, pinned to the target core; stopped by PID."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = Path(tempfile.mkdtemp(prefix="loadkit-nginx-"))
    (prefix / "www").mkdir()
    (prefix / "tmp").mkdir()
    (prefix / "www" / "index.html").write_bytes(BODY)
    port = _free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(_nginx_conf(prefix, port))
    cmd = [
        "taskset",
        "-c",
        TARGET_CORE,
        exe,
        "-p",
        str(prefix),
        "-c",
        str(conf),
        "-e",
        str(prefix / "error.log"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                    ) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(prefix, ignore_errors=True)


def _child(
    cmd: list[str], env: dict[str, str] | None = None, timeout_s: float = 120
) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    full_env = {**os.environ, **(env or {}), "LOADKIT_BENCH_OUT": str(out)}
    cmd = [arg if arg != "{out}" else str(out) for arg in cmd]
    proc = subprocess.run(
        ["taskset", "-c", GENERATOR_CORE, *cmd],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        timeout=timeout_s,
    )
    try:
        return dict(json.loads(out.read_text()))
    except (json.JSONDecodeError, FileNotFoundError):
        raise RuntimeError(
            f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        ) from None
    finally:
        out.unlink(missing_ok=True)


def plain_locust(url: str) -> float:
    locust = str(Path(sys.executable).with_name("locust"))
    run_s = int(WARM_S + MEASURE_S + 2)
    cmd = [
        locust,
        "-f",
        "bench/locust_plain.py",
        "--headless",
        "-u",
        str(USERS),
        "-r",
        "10000",
        "-t",
        f"{run_s:g}s",
        "--host",
        url,
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {"LOADKIT_BENCH_WARM_S": str(WARM_S), "LOADKIT_BENCH_MEASURE_S": str(MEASURE_S)}
    r = _child(cmd, env)
    return float(r["requests"]) / float(r["seconds"])


def loadkit_loop(url: str) -> float:
    cmd = [
        sys.executable,
        "-m",
        "bench._runner_loadkit",
        "loop",
        url,
        str(USERS),
        str(WARM_S),
        str(MEASURE_S),
        "{out}",
    ]
    r = _child(cmd)
    return float(r["requests"]) / float(r["seconds"])


def schedule_accuracy(url: str, rate: float, seconds: float) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench._runner_loadkit",
        "schedule",
        url,
        str(rate),
        str(seconds),
        "{out}",
    ]
    return _child(cmd)


def record_cost() -> float:
    r = _child([sys.executable, "-m", "bench._runner_loadkit", "record", "{out}"])
    return float(r["record_us"])


def run() -> str:
    lines = ["## Runner (`python -m bench runner`)", ""]
    with nginx() as url:
        locust_rps: list[float] = []
        loadkit_rps: list[float] = []
        for _ in range(ROUNDS):
            locust_rps.append(plain_locust(url))
            loadkit_rps.append(loadkit_loop(url))
        steady = schedule_accuracy(url, 500, 8)
        spike = schedule_accuracy(url, 2000, 4)
    rec_us = record_cost()
    best_locust, best_loadkit = max(locust_rps), max(loadkit_rps)
    ratio = best_loadkit / best_locust
    lines += [
        f"nginx static file on core {TARGET_CORE}, generator on core {GENERATOR_CORE} (taskset); "
        f"{USERS} concurrent users, {WARM_S:g}s warm-up, {MEASURE_S:g}s window, best of {ROUNDS} "
        "alternating rounds.",
        "",
        "| what | requests/s |",
        "| --- | ---: |",
        f"| plain Locust FastHttpUser loop | {best_locust:,.0f} (rounds: {', '.join(f'{x:,.0f}' for x in locust_rps)}) |",
        f"| loadkit visitors, recording on | {best_loadkit:,.0f} (rounds: {', '.join(f'{x:,.0f}' for x in loadkit_rps)}) |",
        f"| **ratio loadkit / Locust** | **{ratio:.2f}x** |",
        "",
        "| schedule | arrivals | dropped | lateness p50 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, s in (("Poisson 500/s, 8 s", steady), ("Poisson 2,000/s spike, 4 s", spike)):
        lines.append(
            f"| {label} | {s['arrivals']:,} | {s['dropped']} | {s['p50_ms']:.2f} ms | "
            f"{s['p99_ms']:.2f} ms | {s['max_ms']:.2f} ms |"
        )
    lines += ["", f"`Visitor.record` alone: {rec_us:.2f} µs per request row.", ""]
    return "\n".join(lines)
