"""Demo shop speed: the hot queue-status endpoint under wrk, and 64 buyers on 100 hot seats.

``python -m bench demo``. The shop runs as one process pinned to CPU 1; the load generator
(wrk, or the buyer threads) on CPU 0. Short runs (seconds), loopback only.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadkit.demo import ShopProcess

EVENT = "onsale-2026"
SHOP_CPU, CLIENT_CPU = 1, 0
WRK_SECONDS = 5
WRK_CONNECTIONS = 32
STATUS_VISITORS = 500
BUYERS = 64
HOT_SEATS = [f"A-{row:02d}-{num:02d}" for row in range(1, 6) for num in range(1, 21)]  # 100
ROUNDS = 5
FAST = {"payment": {"latency_ms": 0, "decline_rate": 0.0}}


class Conn:
    """One keep-alive connection with a visitor's cookie and token."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.http = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )
        self.headers: dict[str, str] = {"content-type": "application/json"}

    def call(
        self, method: str, path: str, body: Any = None, extra: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        self.http.request(method, path, body=data, headers={**self.headers, **(extra or {})})
        resp = self.http.getresponse()
        raw = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, json.loads(raw) if raw else None, headers


def _join(url: str) -> Conn:
    c = Conn(url)
    status, body, headers = c.call("POST", "/wr/join", {"event_id": EVENT})
    assert status == 201, body
    c.headers["cookie"] = headers["set-cookie"].split(";")[0]
    c.headers["x-request-id"] = body["request_id"]
    return c


def _admit(url: str) -> Conn:
    c = _join(url)
    request_id = c.headers.pop("x-request-id")
    while True:
        status, body, _ = c.call("POST", "/wr/token", {"request_id": request_id})
        if status == 200:
            c.headers["authorization"] = f"Bearer {body['access_token']}"
            return c
        time.sleep(0.05)


def _start_shop(**config: Any) -> ShopProcess:
    shop = ShopProcess.start(faults=FAST, **config)
    os.sched_setaffinity(shop.pid, {SHOP_CPU})
    return shop


def bench_status() -> dict[str, Any]:
    """wrk on GET /wr/status, rotating over 500 queued visitors' cookies (all 200s)."""
    shop = _start_shop(admission_rate_per_min=0, refresh_interval_s=0)
    tmp = tempfile.mkdtemp(prefix="bench-demo-")
    try:
        with ThreadPoolExecutor(16) as pool:
            cookies = list(
                pool.map(lambda _: _join(shop.url).headers["cookie"], range(STATUS_VISITORS))
            )
        script = Path(tmp) / "status.lua"
        script.write_text(
            "cookies = {" + ",".join(json.dumps(c) for c in cookies) + "}\n"
            "i = 0\nrequest = function()\n  i = i + 1\n"
            "  return wrk.format('GET', '/wr/status', {['Cookie'] = cookies[(i % #cookies) + 1]})\n"
            "end\n"
        )
        cmd = [
            "taskset",
            "-c",
            str(CLIENT_CPU),
            "wrk",
            "-t1",
            f"-c{WRK_CONNECTIONS}",
            f"-d{WRK_SECONDS}s",
            "--latency",
            "-s",
            str(script),
            f"{shop.url}/wr/status",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        shop.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p99": p99.group(1) if p99 else "?",
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "command": " ".join([*cmd[:-2], "status.lua", "URL/wr/status"]),
    }


def _buy(c: Conn, rng: random.Random, barrier: threading.Barrier) -> bool:
    """Hold one free-looking hot seat and pay; on 409 try another. False if sold out."""
    candidates = list(HOT_SEATS)
    rng.shuffle(candidates)
    barrier.wait()
    for seat in candidates:
        status, body, _ = c.call("POST", "/holds", {"seat_ids": [seat]})
        if status == 409:
            continue
        assert status == 201, body
        status, body, _ = c.call(
            "POST", "/orders", {"hold_id": body["hold_id"]}, {"idempotency-key": uuid.uuid4().hex}
        )
        assert status == 201, body
        return True
    return False


def bench_contention() -> dict[str, Any]:
    """64 admitted buyers rush 100 hot seats (one seat each), ROUNDS times."""
    shop = _start_shop(admission_rate_per_min=60_000, active_cap=0, sweeper_period_s=0.05)
    os.sched_setaffinity(0, {CLIENT_CPU})
    orders, elapsed_s, oversold = 0, 0.0, 0
    try:
        for r in range(ROUNDS):
            admin = Conn(shop.url)
            admin.headers["x-admin-key"] = shop.admin_key
            admin.call("POST", "/admin/reset", {})
            with ThreadPoolExecutor(BUYERS) as pool:
                buyers = list(pool.map(lambda _: _admit(shop.url), range(BUYERS)))
                barrier = threading.Barrier(BUYERS + 1)
                futures = [
                    pool.submit(_buy, c, random.Random(r * 1000 + i), barrier)
                    for i, c in enumerate(buyers)
                ]
                barrier.wait()
                start = time.perf_counter()
                done = [f.result() for f in futures]
                elapsed_s += time.perf_counter() - start
            orders += sum(done)
            _, report, _ = admin.call("GET", "/admin/invariants")
            oversold += report["checks"]["no_oversell"]["detail"]["seats_sold_twice"]
            assert report["ok"], report
    finally:
        shop.stop()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return {
        "orders": orders,
        "elapsed_s": elapsed_s,
        "orders_per_s": orders / elapsed_s,
        "oversold": oversold,
    }


def run() -> str:
    wrk_cmd = ""
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        status_line = (
            "| `GET /wr/status` | not measured: wrk/taskset missing (apt-get install wrk) |"
        )
    else:
        s = bench_status()
        wrk_cmd = f" Command: `{s['command']}`."
        status_line = (
            f"| `GET /wr/status` (full path: poll accepted, admission step, write) | "
            f"**{s['rps']:,.0f} req/s**, p99 {s['p99']}, non-2xx {s['non_2xx']} |"
        )
    c = bench_contention()
    return "\n".join(
        [
            "## Demo shop",
            "",
            "One shop process (uvicorn + httptools + uvloop, SQLite WAL) pinned to CPU 1; the load "
            "generator pinned to CPU 0. Reproduce: `python -m bench demo`.",
            "",
            "| measure | result |",
            "| --- | --- |",
            status_line,
            f"| {BUYERS} buyers on {len(HOT_SEATS)} hot seats (hold + pay, {ROUNDS} rounds) | "
            f"**{c['orders_per_s']:,.0f} completed orders/s** ({c['orders']} orders in "
            f"{c['elapsed_s']:.2f} s), seats sold twice: {c['oversold']} |",
            "",
            f"wrk: {WRK_CONNECTIONS} connections, {WRK_SECONDS} s, rotating over "
            f"{STATUS_VISITORS} queued visitors' cookies, refresh interval 0 so every poll is served."
            + wrk_cmd,
        ]
    )
