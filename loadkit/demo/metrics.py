"""Request counters and latency histograms per process, merged across processes for /metrics.

Each process counts in memory (cheap on the hot path) and writes a JSON snapshot of its
counters to the ``metrics_proc`` table at most once a second; ``/metrics`` sums every process's
latest snapshot, so a scrape of any worker shows the whole shop.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from typing import Any

BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counts requests by (route, status) and observes durations by route."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}  # "route|status" -> count
        self.hist: dict[str, list[float]] = {}  # route -> bucket counts + [sum, count]
        self.flushed_at = 0.0

    def observe(self, route: str, status: int, duration_s: float) -> None:
        key = f"{route}|{status}"
        self.requests[key] = self.requests.get(key, 0) + 1
        h = self.hist.get(route)
        if h is None:
            h = self.hist[route] = [0.0] * (len(BUCKETS_S) + 3)
        h[bisect.bisect_left(BUCKETS_S, duration_s)] += 1
        h[-2] += duration_s
        h[-1] += 1

    def snapshot(self) -> str:
        return json.dumps({"requests": self.requests, "hist": self.hist})

    def flush(self, conn: sqlite3.Connection, pid: int, now: float, *, force: bool = False) -> None:
        """Write this process's counters (inside the caller's write transaction)."""
        if not force and now - self.flushed_at < 1.0:
            return
        conn.execute(
            "INSERT INTO metrics_proc VALUES (?, ?)"
            " ON CONFLICT(pid) DO UPDATE SET body = excluded.body",
            (pid, self.snapshot()),
        )
        self.flushed_at = now

    def reset(self) -> None:
        self.requests.clear()
        self.hist.clear()


def _merge(snapshots: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, list[float]]]:
    requests: dict[str, int] = {}
    hist: dict[str, list[float]] = {}
    for snap in snapshots:
        for key, n in snap.get("requests", {}).items():
            requests[key] = requests.get(key, 0) + int(n)
        for route, counts in snap.get("hist", {}).items():
            into = hist.setdefault(route, [0.0] * len(counts))
            for i, c in enumerate(counts):
                into[i] += c
    return requests, hist


def render(conn: sqlite3.Connection, gauges: dict[str, tuple[str, float]]) -> str:
    """Prometheus text exposition (version 0.0.4) of all processes plus ``gauges``.

    ``gauges`` maps a metric line (name with labels) to (help text, value).
    """
    rows = conn.execute("SELECT body FROM metrics_proc").fetchall()
    requests, hist = _merge([json.loads(r[0]) for r in rows])
    out = [
        "# HELP demo_requests_total HTTP requests answered, by route and status.",
        "# TYPE demo_requests_total counter",
    ]
    for key in sorted(requests):
        route, status = key.split("|")
        out.append(f'demo_requests_total{{route="{route}",status="{status}"}} {requests[key]}')
    out += [
        "# HELP demo_request_duration_seconds Time from request received to response ready.",
        "# TYPE demo_request_duration_seconds histogram",
    ]
    for route in sorted(hist):
        counts = hist[route]
        cumulative = 0.0
        for bound, c in zip(BUCKETS_S, counts, strict=False):
            cumulative += c
            out.append(
                f'demo_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {cumulative:g}'
            )
        out.append(
            f'demo_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {counts[-1]:g}'
        )
        out.append(f'demo_request_duration_seconds_sum{{route="{route}"}} {counts[-2]:.6f}')
        out.append(f'demo_request_duration_seconds_count{{route="{route}"}} {counts[-1]:g}')
    seen: set[str] = set()
    for line, (help_text, value) in gauges.items():
        name = line.split("{")[0]
        if name not in seen:
            kind = "counter" if name.endswith("_total") else "gauge"
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            seen.add(name)
        out.append(f"{line} {value:g}")
    return "\n".join(out) + "\n"
