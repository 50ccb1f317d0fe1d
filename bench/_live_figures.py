"""The pure part of ``python -m bench live``: what a round and a scrape are, the rise of CPU
per request with its noise interval, the answers' percentiles, the verdict against issue 15's
goals, and the /proc/stat arithmetic. No processes, no network: unit-tested in tests/bench.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PATHS = ("/metrics", "/live.json", "/")
CPU_RISE_GOAL_PCT = 3.0
ANSWER_GOAL_MS = 100.0


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
    def interval_text(self) -> str:
        """``90 % interval A to B %``, or why there is none."""
        lo, hi = self.interval_pct
        if math.isinf(lo):
            return "no 90 % interval: fewer than 5 pairs"
        return f"90 % interval {lo:+.1f} to {hi:+.1f} %"

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
        f"side-by-side pairs{left_out}, {rise.interval_text}; goal ≤ "
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


def core_shares(
    before: CoreTicks, after: CoreTicks, own_cpu_s: float, hz: int
) -> tuple[float, float]:
    """(others, steal) as percent of the core between two readings: others = its busy time
    less ``own_cpu_s`` (the generator's, which was pinned to it), never below 0."""
    total = max(1, after.total - before.total)
    others = max(0.0, (after.busy - before.busy) - own_cpu_s * hz)
    return 100.0 * others / total, 100.0 * (after.steal - before.steal) / total
