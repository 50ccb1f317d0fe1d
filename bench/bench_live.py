"""What ``--live`` costs the generator, and how fast the live view answers (issue 15).

``python -m bench live``. Our own nginx serves a static file on core 0 (``bench_runner.nginx``);
the generator, pinned to core 1 (``taskset``), runs seeded Poisson arrivals at 2,000/s for 6 s,
each a new visitor opening a connection and sending one GET (``bench._live_loadkit``), with the
live view off and on in alternating rounds (off-on, then on-off, ...) so machine noise hits
both. CPU per request = the generator process's user + system time over ``Session.run`` /
requests recorded. During each ``on`` round a scraper thread pinned to core 0 fetches
``/metrics``, ``/live.json`` and ``/`` in turn, each once a second on a new connection (a war
room: the page polling its data, Prometheus scraping at 1 s, five times its usual interval,
and the page reloaded every second); only the answers started while arrivals were due count.
Serving them is part of the ``on`` side's CPU: each answer costs the generator a few hundred
µs to a few ms, so a faster scraper raises the figure (five requests a second measured about
+4-5 % at 2,000/s, ad hoc on a loaded machine). Goals (issue 15): CPU per request
rises by ≤ 3 %; the page and ``/metrics`` answer in ≤ 100 ms.

The rise judged is the median of the side-by-side pairs (off and on of one round), with its
90 % sign-test interval: on a shared machine a round's CPU per request moves by ±10-15 % with
other work, so when the interval straddles the goal the verdict says *inconclusive* rather
than met or not met.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bench._live_figures import (
    ANSWER_GOAL_MS,
    PATHS,
    Answers,
    CoreTicks,
    Rise,
    Round,
    Scrape,
    core_shares,
    cpu_rise,
    parse_cpu_line,
    summarise_scrapes,
    verdict,
)
from bench.bench_runner import GENERATOR_CORE, ROOT, TARGET_CORE, nginx

RATE_PER_S = 2000
SECONDS = 6.0
ROUNDS = int(os.environ.get("LOADKIT_BENCH_LIVE_ROUNDS", "8"))  # per side
SCRAPE_EVERY_S = 1.0 / 3  # one of the three PATHS in turn: each once a second
CHILD_TIMEOUT_S = 120.0


def _get_ms(base: str, path: str) -> tuple[int, float]:
    """(status, ms) of one GET on a new connection, body read; (0, ms) when it failed."""
    parts = urlsplit(base)
    t = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        finally:
            conn.close()
    except OSError:
        status = 0
    return status, (time.perf_counter() - t) * 1000


def _scrape(base: str, stop: threading.Event, into: list[Scrape]) -> None:
    """Every SCRAPE_EVERY_S, the next of PATHS, until ``stop``; on the target's core, so the
    scraper takes no time from the generator's."""
    os.sched_setaffinity(threading.get_native_id(), {int(TARGET_CORE)})
    due, i = time.perf_counter(), 0
    while not stop.is_set():
        path = PATHS[i % len(PATHS)]
        start_s = time.time()
        status, ms = _get_ms(base, path)
        into.append(Scrape(path, start_s, ms, status))
        i += 1
        due += SCRAPE_EVERY_S
        stop.wait(max(0.0, due - time.perf_counter()))


def _generator(url: str, live: bool, out: Path, scrapes: list[Scrape]) -> tuple[float, float]:
    """Run the generator once (pinned to GENERATOR_CORE), writing its figures to ``out``; with
    ``live`` on, scrape it into ``scrapes`` while it runs. Returns its load window (epoch s;
    (0, 0) when off). Raises RuntimeError with the child's stderr when it wrote nothing."""
    cmd = [
        "taskset", "-c", GENERATOR_CORE, sys.executable, "-m", "bench._live_loadkit", url,
        str(RATE_PER_S), str(SECONDS), "on" if live else "off", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stop, scraper, window = threading.Event(), None, (0.0, 0.0)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
        deadline = threading.Timer(CHILD_TIMEOUT_S, proc.kill)  # a hung child ends the read
        deadline.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # the child's one LIVE line, then EOF when it exits
                if line.startswith("LIVE ") and scraper is None:
                    _, base, t0_s, end_s = line.split()
                    window = (float(t0_s), float(end_s))
                    scraper = threading.Thread(target=_scrape, args=(base, stop, scrapes))
                    scraper.start()
            proc.wait(CHILD_TIMEOUT_S)
        finally:
            deadline.cancel()
            stop.set()
            if scraper is not None:
                scraper.join()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not out.exists() or out.stat().st_size == 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the live bench's generator failed ({proc.returncode}): {tail}")
    return window


def _core_ticks(core: str) -> CoreTicks:
    with open("/proc/stat") as f:
        return parse_cpu_line(next(x for x in f if x.startswith(f"cpu{core} ")))


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_round(url: str, live: bool, scrapes: list[Scrape]) -> tuple[Round, tuple[float, float]]:
    """One generator run with the live view on or off, and what else used its core."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    out.write_text("")
    ticks0, child0 = _core_ticks(GENERATOR_CORE), _children_cpu_s()
    try:
        window = _generator(url, live, out, scrapes)
        r = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    ticks1, child_cpu_s = _core_ticks(GENERATOR_CORE), _children_cpu_s() - child0
    others_pct, steal_pct = core_shares(ticks0, ticks1, child_cpu_s, os.sysconf("SC_CLK_TCK"))
    figures = Round(
        live, int(r["requests"]), float(r["cpu_s"]), float(r["seconds"]), int(r["dropped"]),
        int(r["errors"]), steal_pct, others_pct,
    )  # fmt: skip
    return figures, window


def _side(rounds: Sequence[Round], rise: Rise, live: bool) -> str:
    """One side's row: the CPU median over the clean pairs (as the rise), the rest over every
    round; a round that dropped arrivals or had errors is marked †."""
    mine = [r for r in rounds if r.live == live]
    cells = ", ".join(
        f"{r.cpu_us_per_request:.0f} µs ({r.requests_per_s:,.0f}/s){'' if r.clean else ' †'}"
        for r in mine
    )
    med = rise.on_us if live else rise.off_us
    rps = statistics.median(r.requests_per_s for r in mine)
    steal = statistics.median(r.steal_pct for r in mine)
    others = statistics.median(r.others_pct for r in mine)
    return (
        f"| {'on' if live else 'off'} | {med:.1f} µs | {rps:,.0f} | {sum(r.dropped for r in mine)} "
        f"| {sum(r.errors for r in mine)} | {others:.0f} % | {steal:.1f} % | {cells} |"
    )


def render(rounds: Sequence[Round], answers: Sequence[Answers], load: tuple[float, float]) -> str:
    """The Markdown section of ``python -m bench live``."""
    rise = cpu_rise(rounds)
    pairs = ", ".join(f"{p:+.1f} %" for p in rise.pair_pcts)
    rows = [
        f"| `{a.path}` | {a.count} | {a.p50_ms:.1f} ms | **{a.p95_ms:.1f} ms** | {a.max_ms:.1f} ms "
        f"| {a.over_goal} | {a.failed} |"
        for a in answers
    ]
    return "\n".join(
        [
            "## Live view (`python -m bench live`)",
            "",
            f"nginx serving a static file on core {TARGET_CORE}; the generator on core "
            f"{GENERATOR_CORE} (taskset) runs seeded Poisson arrivals at {RATE_PER_S:,}/s for "
            f"{SECONDS:g} s, each a new visitor sending one GET on a new connection, recording "
            "on, four thresholds; `--live 127.0.0.1:0` off and on in alternating rounds "
            f"({len(rounds) // 2} per side, off-on then on-off). CPU per request = the "
            "generator's user + system time over the run / requests recorded. During each `on` "
            f"round a scraper on core {TARGET_CORE} fetches `/metrics`, `/live.json` and `/` in "
            f"turn, one GET every {SCRAPE_EVERY_S * 1000:.0f} ms on a new connection; answers "
            "started while arrivals were due count; the `on` side's CPU includes serving them "
            "(each path once a second: the page's poll, Prometheus at 1 s, a page reload). "
            "*Others on the core*: the "
            f"share of core {GENERATOR_CORE}'s time other processes used during the round "
            "(/proc/stat busy time less the generator's own CPU); *steal*: the hypervisor's "
            "share. `/` is a constant page: when it answers as slowly as `/metrics`, the time "
            "went to the machine, not to computing the answer. Machine load average "
            f"{load[0]:.1f} before, {load[1]:.1f} after.",
            "",
            "| `--live` | CPU per request, median | requests/s, median | dropped | errors "
            "| others on the core | steal | rounds: CPU per request (requests/s) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            _side(rounds, rise, False),
            _side(rounds, rise, True),
            f"| **rise** | **{rise.pct:+.1f} %** (median of the clean pairs, "
            f"{rise.interval_text}; of the medians {rise.medians_pct:+.1f} %) | | | | "
            f"| | side-by-side pairs: {pairs} |",
            "",
            *(
                [
                    "† the round dropped arrivals or had errors (the generator was stalled): "
                    "its pair is left out of the CPU medians and the rise.",
                    "",
                ]
                if not all(r.clean for r in rounds)
                else []
            ),
            "| live path | answers | p50 | p95 | max | over 100 ms | failed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            verdict(rise, answers),
            "",
            "Reproduce: `python -m bench live` (needs nginx: `apt-get install nginx-light`); "
            "`LOADKIT_BENCH_LIVE_ROUNDS=N` sets the rounds per side.",
        ]
    )


def run() -> str:
    load_before = os.getloadavg()[0]
    rounds: list[Round] = []
    scrapes: list[Scrape] = []
    windows: list[tuple[float, float]] = []
    with nginx() as url:
        for i in range(ROUNDS):
            for live in (False, True) if i % 2 == 0 else (True, False):
                figures, window = one_round(url, live, scrapes)
                rounds.append(figures)
                if live:
                    windows.append(window)
    answers = summarise_scrapes(scrapes, windows, ANSWER_GOAL_MS)
    return render(rounds, answers, (load_before, os.getloadavg()[0]))
