"""Journey executor speed: a scenario-driven visitor vs a bare loop making the same requests.

* Throughput over HTTP: nginx (our own, pinned to core 0) serves a static file; the generator
  (pinned to core 1) runs USERS visitors that loop one GET with keep-alive, either from a
  hand-written loop (``visitor.http`` + ``visitor.record``) or from a compiled scenario
  (``repeat`` + a request step with a templated header, ``expect`` on the status and the body
  text, a capture; redirect following on, as by default). Rounds
  alternate so machine noise hits both. Goal: scenario ≥ 0.9 × bare. On a shared machine the
  wall-clock rate swings with other load, so the generator's CPU time per request is reported
  too: requests per CPU-second is the rate one saturated core would reach.
* Per-request overhead without a network: the same two loops against an in-process fake
  visitor that answers instantly, so only the journey machinery is timed.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_runner import _child, nginx

USERS = 32
WARM_S = 2.0
MEASURE_S = 5.0
ROUNDS = 3
FAKE_REQUESTS = 50_000


def _http_round(url: str, mode: str) -> tuple[float, float]:
    """(requests per wall second, requests per CPU second of the generator)."""
    cmd = [sys.executable, "-m", "bench._journey_loadkit", mode, url, str(USERS), str(WARM_S),
           str(MEASURE_S), "{out}"]  # fmt: skip
    r = _child(cmd)
    return float(r["requests"]) / float(r["seconds"]), float(r["requests"]) / float(r["cpu_s"])


class _Fake:
    """An instant visitor: the cost measured is the journey's, not the network's."""

    def __init__(self) -> None:
        from loadkit.runner.journey import ArrivalFacts, HttpResult

        self.arrival_id, self.persona, self.rng = 1, "looper", random.Random(1)
        self.scheduled_ns = time.time_ns()
        self.facts, self.vars = ArrivalFacts(), {}
        body = b"<html><body>loadkit bench: a small static page</body></html>\n"
        self.result = HttpResult(status=200, headers={"Content-Length": "60"}, content=body)
        self.n = 0

    def http(self, method: str, url: str, **kw: Any) -> Any:
        return self.result

    def record(self, result: Any, outcome: Any, error: Any = None, label: Any = None) -> None:
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
    from bench._journey_scenario import SCENARIO_FIXED
    from loadkit.results.schema import Outcome
    from loadkit.runner.journey import compile_scenario
    from loadkit.scenario import load_scenario

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
    bare: list[tuple[float, float]] = []
    scen: list[tuple[float, float]] = []
    with nginx() as url:
        for _ in range(ROUNDS):
            bare.append(_http_round(url, "bare"))
            scen.append(_http_round(url, "scenario"))
    b, s = max(x for x, _ in bare), max(x for x, _ in scen)
    b_cpu, s_cpu = statistics.median(y for _, y in bare), statistics.median(y for _, y in scen)

    def rates(rounds: list[tuple[float, float]]) -> str:
        return ", ".join(f"{x:,.0f}" for x, _ in rounds)

    return "\n".join(
        [
            "## Journey executor (scenario-driven visitor vs bare loop)",
            "",
            f"Command: `python -m bench journey` — {USERS} visitors, keep-alive GET of a static "
            f"file from nginx (core 0), generator on core 1, {MEASURE_S:g}s windows after "
            f"{WARM_S:g}s warm-up, {ROUNDS} alternating rounds.",
            "",
            "| loop | requests/s (rounds) | best | requests per CPU-second (median) |",
            "| --- | --- | --- | --- |",
            f"| bare `visitor.http` + `record` | {rates(bare)} | {b:,.0f} | {b_cpu:,.0f} |",
            "| compiled scenario (repeat + request step with template, expect, capture) | "
            f"{rates(scen)} | {s:,.0f} | {s_cpu:,.0f} |",
            "",
            f"Scenario / bare: **{s_cpu / b_cpu:.2f}×** per CPU-second, {s / b:.2f}× best "
            "wall-clock rate (goal ≥ 0.90×).",
            "",
            f"Journey machinery alone (instant fake visitor, {FAKE_REQUESTS:,} requests): bare "
            f"loop {bare_us:.2f} µs/request, compiled scenario {scenario_us:.2f} µs/request "
            f"(+{scenario_us - bare_us:.2f} µs).",
        ]
    )
