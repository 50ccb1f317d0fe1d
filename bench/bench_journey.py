"""Journey executor speed: a scenario-driven visitor vs a bare loop making the same requests.

* Throughput over HTTP: nginx (our own, pinned to core 0) serves a static file; the generator
  (pinned to core 1) runs USERS visitors that loop one GET with keep-alive, either from a
  hand-written loop (``visitor.http`` + ``visitor.record``) or from a compiled scenario
  (``repeat`` + a request step with a templated header, ``expect`` and a capture). Rounds
  alternate so machine noise hits both. Goal: scenario ≥ 0.9 × bare.
* Per-request overhead without a network: the same two loops against an in-process fake
  visitor that answers instantly, so only the journey machinery is timed.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_runner import _child, nginx

USERS = 32
WARM_S = 2.0
MEASURE_S = 5.0
ROUNDS = 2
FAKE_REQUESTS = 50_000


def _http_round(url: str, mode: str) -> float:
    cmd = [sys.executable, "-m", "bench._journey_loadkit", mode, url, str(USERS), str(WARM_S),
           str(MEASURE_S), "{out}"]  # fmt: skip
    r = _child(cmd)
    return float(r["requests"]) / float(r["seconds"])


class _Fake:
    """An instant visitor: the cost measured is the journey's, not the network's."""

    def __init__(self) -> None:
        from loadkit.runner.journey import ArrivalFacts, HttpResult

        self.arrival_id, self.persona, self.rng = 1, "looper", random.Random(1)
        self.facts, self.vars = ArrivalFacts(), {}
        self.result = HttpResult(status=200, headers={"Content-Length": "60"}, content=b"x" * 60)
        self.n = 0

    def http(self, method: str, url: str, **kw: Any) -> Any:
        return self.result

    def record(self, result: Any, outcome: Any, error: Any = None) -> None:
        self.n += 1

    def sleep(self, s: float) -> None:
        pass

    def now_ns(self) -> int:
        return time.time_ns()

    def cookie(self, name: str) -> None:
        return None

    def clear_cookies(self) -> None:
        pass


def _overhead_us() -> tuple[float, float]:
    from loadkit.results.schema import Outcome
    from loadkit.runner.journey import compile_scenario
    from loadkit.scenario import load_scenario

    from bench._journey_scenario import SCENARIO_FIXED

    path = Path(tempfile.mkdtemp()) / "bench.yaml"
    path.write_text(SCENARIO_FIXED.replace("N_TIMES", str(FAKE_REQUESTS)))
    persona = compile_scenario(load_scenario(path), seed=1).personas[0]
    fake = _Fake()
    t = time.perf_counter()
    persona.run(fake)
    scenario_us = (time.perf_counter() - t) / FAKE_REQUESTS * 1e6
    assert fake.n == FAKE_REQUESTS
    fake = _Fake()
    http, record, ok = fake.http, fake.record, Outcome.OK
    t = time.perf_counter()
    for _ in range(FAKE_REQUESTS):
        r = http("GET", "/index.html", name="GET /index.html", step="get",
                 headers={"X-Visitor": f"v{fake.arrival_id}"})  # fmt: skip
        record(r, ok if r.status == 200 else Outcome.HTTP_ERROR)
    bare_us = (time.perf_counter() - t) / FAKE_REQUESTS * 1e6
    return bare_us, scenario_us


def run() -> str:
    bare_us, scenario_us = _overhead_us()
    bare: list[float] = []
    scen: list[float] = []
    with nginx() as url:
        for _ in range(ROUNDS):
            bare.append(_http_round(url, "bare"))
            scen.append(_http_round(url, "scenario"))
    b, s = max(bare), max(scen)
    return "\n".join([
        "## Journey executor (scenario-driven visitor vs bare loop)",
        "",
        f"Command: `python -m bench journey` — {USERS} visitors, keep-alive GET of a static file "
        f"from nginx (core 0), generator on core 1, {MEASURE_S:g}s windows after {WARM_S:g}s "
        f"warm-up, best of {ROUNDS} alternating rounds.",
        "",
        "| loop | requests/s (rounds) | best |",
        "| --- | --- | --- |",
        f"| bare `visitor.http` + `record` | {', '.join(f'{x:,.0f}' for x in bare)} | {b:,.0f} |",
        f"| compiled scenario (repeat + request step with template, expect, capture) | "
        f"{', '.join(f'{x:,.0f}' for x in scen)} | {s:,.0f} |",
        "",
        f"Scenario / bare: **{s / b:.2f}×** (goal ≥ 0.90×).",
        "",
        f"Journey machinery alone (instant fake visitor, {FAKE_REQUESTS:,} requests): bare loop "
        f"{bare_us:.2f} µs/request, compiled scenario {scenario_us:.2f} µs/request "
        f"(+{scenario_us - bare_us:.2f} µs).",
    ])
