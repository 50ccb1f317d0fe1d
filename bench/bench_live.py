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
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from bench.bench_runner import GENERATOR_CORE, ROOT, TARGET_CORE, nginx

RATE_PER_S = 2000
SECONDS = 6.0
ROUNDS = int(os.environ.get("LOADKIT_BENCH_LIVE_ROUNDS", "8"))  # per side
SCRAPE_EVERY_S = 1.0 / 3  # one of the three PATHS in turn: each once a second
PATHS = ("/metrics", "/live.json", "/")
CPU_RISE_GOAL_PCT = 3.0
ANSWER_GOAL_MS = 100.0
CHILD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Round:
    """One generator run: ``live`` on or off, what it recorded, the CPU it took."""

    live: bool
    requests: int
    cpu_s: float
    seconds: float
    dropped: int
    errors: int
    steal_pct: float
    others_pct: float  # the generator core's time other processes used during the round

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(1, self.requests) * 1e6

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def clean(self) -> bool:
        """Every arrival started and no request failed: the generator kept up."""
        return self.dropped == 0 and self.errors == 0


@dataclass(frozen=True)
class Scrape:
    """One GET to the live server: when it started (epoch s), how long it took, its status
    (0: no answer)."""

    path: str
    start_s: float
    ms: float
    status: int


@dataclass(frozen=True)
class Answers:
    """The answers of one path during the load: latency p50/p95 (numpy linear) and max, how
    many took longer than the goal, how many failed (no answer, or not 200)."""

    path: str
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    over_goal: int
    failed: int


def summarise_scrapes(
    scrapes: Iterable[Scrape], windows: Sequence[tuple[float, float]], goal_ms: float
) -> list[Answers]:
    """Per path (in PATHS order, then any other), the scrapes that started inside one of the
    load ``windows`` (epoch seconds, inclusive). A path with no scrape in a window is left out."""
    inside = [s for s in scrapes if any(a <= s.start_s <= b for a, b in windows)]
    paths = [p for p in PATHS if any(s.path == p for s in inside)]
    paths += sorted({s.path for s in inside} - set(paths))
    out = []
    for path in paths:
        mine = [s for s in inside if s.path == path]
        ms = np.array([s.ms for s in mine if s.status == 200])
        failed = sum(s.status != 200 for s in mine)
        if len(ms) == 0:
            out.append(Answers(path, len(mine), np.nan, np.nan, np.nan, 0, failed))
            continue
        out.append(
            Answers(
                path,
                len(mine),
                float(np.percentile(ms, 50)),
                float(np.percentile(ms, 95)),
                float(ms.max()),
                int((ms > goal_ms).sum()),
                failed,
            )
        )
    return out


def median_interval(values: Sequence[float], alpha: float = 0.10) -> tuple[float, float]:
    """A distribution-free (sign test) interval for the median of ``values`` with at least
    1 - ``alpha`` coverage: the k-th smallest and k-th largest value, k the largest with
    P(Binomial(n, 1/2) < k) ≤ alpha / 2. Too few values for that coverage (fewer than 5 at
    alpha 0.10): (-inf, inf)."""
    ordered, n = sorted(values), len(values)
    k, below = 0, 0.0  # below: P(B <= k - 1), B ~ Binomial(n, 1/2)
    while k < n // 2 and below + math.comb(n, k) / 2**n <= alpha / 2:
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return -math.inf, math.inf
    return ordered[k - 1], ordered[n - k]


@dataclass(frozen=True)
class Rise:
    """CPU per request with the live view off and on (medians over rounds, µs), the rise of
    each side-by-side pair and their median (percent): the figure judged, since a pair ran in
    the same minute and a slow drift of the machine cancels out of it; ``interval_pct``: the
    90 % interval of that median (``median_interval``), how far the machine's noise lets the
    figure be trusted. ``left_out``: pairs not counted because a round of them dropped
    arrivals or had errors (the machine stalled the generator: its cost per request is not
    comparable)."""

    off_us: float
    on_us: float
    pair_pcts: tuple[float, ...]
    left_out: int = 0

    @property
    def pct(self) -> float:
        return statistics.median(self.pair_pcts)

    @property
    def interval_pct(self) -> tuple[float, float]:
        return median_interval(self.pair_pcts)

    @property
    def medians_pct(self) -> float:
        """The rise of the medians (rounds of a side compared with all rounds of the other)."""
        return (self.on_us / self.off_us - 1) * 100


def cpu_rise(rounds: Sequence[Round]) -> Rise:
    """The rise of CPU per request from off to on. Pairs: the i-th off round with the i-th on
    round (they ran next to each other); only pairs whose rounds both ran cleanly (no drops, no
    errors) count, unless none did. The medians of each side are over clean rounds likewise.
    Raises ValueError without a round on each side."""
    off = [r for r in rounds if not r.live]
    on = [r for r in rounds if r.live]
    if not off or not on:
        raise ValueError("need at least one round with the live view off and one with it on")
    pairs = list(zip(off, on, strict=False))
    clean = [(a, b) for a, b in pairs if a.clean and b.clean] or pairs
    rises = tuple((b.cpu_us_per_request / a.cpu_us_per_request - 1) * 100 for a, b in clean)
    return Rise(
        statistics.median(a.cpu_us_per_request for a, _ in clean),
        statistics.median(b.cpu_us_per_request for _, b in clean),
        rises,
        len(pairs) - len(clean),
    )


def _cpu_verdict(rise: Rise) -> str:
    """Met when the whole interval is within the goal, not met when it is all above, else
    inconclusive: the machine's noise is larger than the difference asked about."""
    lo, hi = rise.interval_pct
    left_out = f" ({rise.left_out} left out: drops or errors)" if rise.left_out else ""
    if hi <= CPU_RISE_GOAL_PCT:
        said = "**met**"
    elif lo > CPU_RISE_GOAL_PCT:
        said = "**not met**"
    else:
        said = (
            "**inconclusive** (the interval straddles the goal: this machine's noise is "
            "larger than the difference; rerun on a quiet machine or with more rounds, "
            "`LOADKIT_BENCH_LIVE_ROUNDS`)"
        )
    return (
        f"CPU per request {rise.pct:+.1f} % with `--live` (median of {len(rise.pair_pcts)} "
        f"side-by-side pairs{left_out}, 90 % interval {lo:+.1f} to {hi:+.1f} %; goal ≤ "
        f"{CPU_RISE_GOAL_PCT:g} %): {said}"
    )


def verdict(rise: Rise, answers: Sequence[Answers]) -> str:
    """One line: each of issue 15's goals, met or not (or, for the CPU, inconclusive), with
    the figure that decides it. The answer goal is judged on every path's p95 and, stricter,
    on every single answer."""
    total = sum(a.count for a in answers)
    failed = sum(a.failed for a in answers)
    over = sum(a.over_goal for a in answers)
    worst_p95 = max((a.p95_ms for a in answers if a.count > a.failed), default=np.nan)
    worst_max = max((a.max_ms for a in answers if a.count > a.failed), default=np.nan)
    p95_ok = bool(answers) and failed == 0 and worst_p95 <= ANSWER_GOAL_MS
    all_ok = p95_ok and over == 0

    def said(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    return (
        f"Verdict (issue 15): {_cpu_verdict(rise)}; answers during the load, worst p95 "
        f"{worst_p95:.1f} ms (goal ≤ {ANSWER_GOAL_MS:g} ms): {said(p95_ok)}; every answer ≤ "
        f"{ANSWER_GOAL_MS:g} ms: {said(all_ok)} ({over} of {total} over, max "
        f"{worst_max:.1f} ms, {failed} failed)."
    )


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


@dataclass(frozen=True)
class CoreTicks:
    """One CPU's counters from /proc/stat, in clock ticks: busy (user, nice, system, irq,
    softirq), steal (given to other guests by the hypervisor), and the total."""

    busy: int
    steal: int
    total: int


def parse_cpu_line(line: str) -> CoreTicks:
    """A ``cpuN user nice system idle iowait irq softirq steal ...`` line of /proc/stat."""
    t = [int(x) for x in line.split()[1:]]
    return CoreTicks(busy=t[0] + t[1] + t[2] + t[5] + t[6], steal=t[7], total=sum(t[:8]))


def _core_ticks(core: str) -> CoreTicks:
    with open("/proc/stat") as f:
        return parse_cpu_line(next(x for x in f if x.startswith(f"cpu{core} ")))


def core_shares(
    before: CoreTicks, after: CoreTicks, own_cpu_s: float, hz: int
) -> tuple[float, float]:
    """(others, steal) as percent of the core between two readings: others = its busy time
    less ``own_cpu_s`` (the generator's, which was pinned to it), never below 0."""
    total = max(1, after.total - before.total)
    others = max(0.0, (after.busy - before.busy) - own_cpu_s * hz)
    return 100.0 * others / total, 100.0 * (after.steal - before.steal) / total


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
    lo, hi = rise.interval_pct
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
            f"| **rise** | **{rise.pct:+.1f} %** (median of the clean pairs, 90 % interval "
            f"{lo:+.1f} to {hi:+.1f} %; of the medians {rise.medians_pct:+.1f} %) | | | | "
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
