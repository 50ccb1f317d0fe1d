"""How close ``loadkit capacity`` lands to a wall we set ourselves, and how long it takes (issue 14).

``python -m bench capacity``. The demo shop (one process, pinned to core 0) gets a concurrency
limit, ``capacity_limit: N``, which answers 503 beyond N requests in flight, and a fixed service
time on the event page (``events.get``). ``loadkit capacity`` (pinned to core 1 with the runner
processes it starts) searches it with the shipped one-page-view scenario and steady shape, as
docs/capacity.md's worked example does, with a shorter cooldown and drain so the run stays
within a few minutes. Traffic goes to 127.0.0.1 only.

The truth: with evenly spaced arrivals, one request each, a request finds ``floor(rate × S)``
earlier ones still in service (S = its service time), so the shop refuses nothing while
``rate × S < N`` and refuses every (N + 1)th request just past it: the wall is ``N / S``. S is
measured (the median service time of the ok requests of the probes that passed: the injected
latency plus the shop's and the client's own time), and the nominal ``N / injected latency`` is
shown beside it. Goal (issue 14): the found capacity within ±15 % of the limit, in ≤ 10 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_runner import GENERATOR_CORE, ROOT, TARGET_CORE

LIMIT = 20  # requests in flight the shop serves
LATENCY_MS = 500.0  # injected on the event page: long beside a few ms of jitter, a sharp wall
FAULTS = {"capacity_limit": LIMIT, "endpoints": {"events.get": {"latency_ms": LATENCY_MS}}}
SCENARIO = "scenarios/capacity-demo.yaml"
SHAPE = "profiles/capacity-shape.yaml"
FLAGS = ("--cooldown", "1s", "--drain", "3s", "--budget", "5m")
TIMEOUT_S = 480.0  # the budget, the probe running when it ends, the analysis
TOLERANCE = 0.15
TIME_GOAL_S = 600.0


@dataclass(frozen=True)
class Search:
    """What ``capacity.json`` says: the answer with its uncertainty, how it stopped, the
    probes (rate, outcome, run folder) in the order they ran, and the search's own time."""

    answer: str
    stop: str
    exit_code: int
    holds_per_s: float | None
    fails_per_s: float | None
    holds_repeats: tuple[int, int]
    fails_repeats: tuple[int, int]
    elapsed_s: float
    probes: tuple[tuple[float, str, str], ...]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Search:
        """Raises KeyError/TypeError/ValueError on a document that is not a capacity.json."""

        def rate(key: str) -> float | None:
            return None if doc[key] is None else float(doc[key])

        def pair(key: str) -> tuple[int, int]:
            a, b = doc[key]
            return int(a), int(b)

        return cls(
            answer=str(doc["answer"]),
            stop=str(doc["stop"]),
            exit_code=int(doc["exit_code"]),
            holds_per_s=rate("holds_per_s"),
            fails_per_s=rate("fails_per_s"),
            holds_repeats=pair("holds_repeats"),
            fails_repeats=pair("fails_repeats"),
            elapsed_s=float(doc["elapsed_s"]),
            probes=tuple(
                (float(p["rate_per_s"]), str(p["outcome"]), str(p["run_dir"]))
                for p in doc["probes"]
            ),
        )

    @property
    def passed_run_dirs(self) -> list[str]:
        return [run_dir for _, outcome, run_dir in self.probes if outcome == "passed"]


def truth_per_s(limit: int, service_ms: float) -> float:
    """The wall of a concurrency limit ``limit`` with ``service_ms`` per request: N / S."""
    if service_ms <= 0:
        raise ValueError(f"service time must be > 0 ms, got {service_ms}")
    return limit / (service_ms / 1000.0)


def verdict(search: Search, truth: float, wall_s: float) -> str:
    """One line against issue 14's goal: the rate found to hold within ±15 % of the truth, in
    ≤ 10 minutes of wall time."""
    if search.holds_per_s is None:
        return (
            f"Verdict (issue 14): **not met**: no rate held (stop: {search.stop}); "
            f"the search took {wall_s:.0f} s."
        )
    off_pct = (search.holds_per_s / truth - 1) * 100
    near = abs(off_pct) <= TOLERANCE * 100
    quick = wall_s <= TIME_GOAL_S
    ok = "**met**" if near and quick else "**not met**"
    return (
        f"Verdict (issue 14: within ±{TOLERANCE:.0%} of the wall in ≤ {TIME_GOAL_S / 60:.0f} "
        f"min): {ok}: holds {search.holds_per_s:.1f}/s against {truth:.1f}/s "
        f"({off_pct:+.1f} %{'' if near else ', outside'}), in {wall_s:.0f} s"
        f"{'' if quick else ', too long'}."
    )


def _median_service_ms(run_dirs: Sequence[str]) -> float | None:
    """The median service time of the ok requests recorded in ``run_dirs`` (None: none)."""
    from loadkit.results import open_run

    frames = [
        open_run(d).load_requests(["service_ms", "outcome"]).query("outcome == 'ok'")
        for d in run_dirs
    ]
    if not frames:
        return None
    values = np.concatenate([f["service_ms"].to_numpy() for f in frames])
    return float(np.median(values)) if len(values) else None


def _search(url: str, admin_key: str, out: Path) -> tuple[dict[str, Any], float, str]:
    """Run ``loadkit capacity`` on GENERATOR_CORE; (capacity.json, wall seconds, command)."""
    loadkit = str(Path(sys.executable).with_name("loadkit"))
    args = ["capacity", SCENARIO, "-p", SHAPE, "--host", url, *FLAGS]
    cmd = ["taskset", "-c", GENERATOR_CORE, loadkit, *args, "--out", str(out)]
    env = {**os.environ, "LOADKIT_DEMO_ADMIN_KEY": admin_key}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    wall_s = time.perf_counter() - start
    found = list(out.glob("*/capacity/capacity.json"))
    if len(found) != 1:
        raise RuntimeError(f"loadkit capacity wrote no capacity.json ({proc.returncode}): "
                           f"{(proc.stdout + proc.stderr)[-2000:]}")  # fmt: skip
    shown = " ".join(["loadkit", *(a if a != url else "URL" for a in args)])
    return json.loads(found[0].read_text()), wall_s, shown


def render(search: Search, service_ms: float | None, wall_s: float, command: str,
           load: tuple[float, float]) -> str:  # fmt: skip
    """The Markdown section of ``python -m bench capacity``."""
    nominal = truth_per_s(LIMIT, LATENCY_MS)
    truth = truth_per_s(LIMIT, service_ms) if service_ms else nominal
    measured = f"{service_ms:.0f} ms" if service_ms else "not measured (no probe passed)"

    def rate(value: float | None, repeats: tuple[int, int]) -> str:
        return "—" if value is None else f"{value:.1f}/s ({repeats[0]} of {repeats[1]})"

    return "\n".join(
        [
            "## Capacity search (`python -m bench capacity`)",
            "",
            f"The demo shop, one process on core {TARGET_CORE}, with `capacity_limit: {LIMIT}` "
            f"and {LATENCY_MS:.0f} ms on `events.get`; `{command}` on core {GENERATOR_CORE} "
            "(taskset; its runner processes too), one event-page view per visitor, evenly "
            "spaced arrivals, the scenario's gates (`error_rate < 1%`, `p(95) < 1s`). The "
            f"wall is N / S: S measured {measured} (median service time of the passed probes' "
            f"requests), so **{truth:.1f}/s** (nominal {LIMIT} / {LATENCY_MS / 1000:g} s = "
            f"{nominal:.1f}/s). Machine load average {load[0]:.1f} before, {load[1]:.1f} after.",
            "",
            "| wall (truth) | holds (repeats passed) | fails at (repeats failed) | holds vs "
            "truth | probes | wall time | stop | exit |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
            f"| {truth:.1f}/s | **{rate(search.holds_per_s, search.holds_repeats)}** "
            f"| {rate(search.fails_per_s, search.fails_repeats)} | "
            + (
                "—"
                if search.holds_per_s is None
                else f"{(search.holds_per_s / truth - 1) * 100:+.1f} %"
            )
            + f" | {len(search.probes)} | {wall_s:.0f} s | {search.stop} | {search.exit_code} |",
            "",
            "Probes (rate/s, outcome): "
            + ", ".join(f"{r:.1f} {o}" for r, o, _ in search.probes)
            + ".",
            "",
            f"The command's answer: `{search.answer}`",
            "",
            verdict(search, truth, wall_s),
            "",
            "Reproduce: `python -m bench capacity` (starts its own demo shop on a free port).",
        ]
    )


def run() -> str:
    from loadkit.demo import ShopProcess

    load_before = os.getloadavg()[0]
    out = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    shop = ShopProcess.start(faults=FAULTS)
    try:
        os.sched_setaffinity(shop.pid, {int(TARGET_CORE)})
        doc, wall_s, command = _search(shop.url, shop.admin_key, out)
        search = Search.from_json(doc)
        service_ms = _median_service_ms(search.passed_run_dirs)
    finally:
        shop.stop()
        shutil.rmtree(out, ignore_errors=True)
    return render(search, service_ms, wall_s, command, (load_before, os.getloadavg()[0]))
