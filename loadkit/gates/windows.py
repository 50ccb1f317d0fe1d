"""Window maths: one stat per group of rows (a window, or the whole range) in one vectorised
pass, and the rules that turn per-window breaches into a gate's pass or fail.

Windows are tumbling, aligned to t0, ``over`` wide (1 s by default), and tile the gate's
clipped range ``[lo, hi)``; the first and last may be cut by it, and a rate divides each
window's count by the part of the window inside the range. Every window's value comes from
its own records, never from narrower windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loadkit.gates.model import LATENCY_KINDS, Comparison, StatKind, Threshold
from loadkit.results.frames import (
    Ranked,
    grouped_quantiles,
    ranked_quantiles,
    selection_mask,
    window_index,
)
from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.units import format_percent


def per_group(
    th: Threshold,
    frame: pd.DataFrame,
    codes: np.ndarray,
    seconds: np.ndarray,
    ranked: Ranked | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The stat per group code: ``(values, samples)``, each of length ``len(seconds)``.

    ``seconds`` is each group's length (a rate divides its count by it). ``ranked`` is the
    time column of the unfiltered frame, sorted once; ``frame.index`` must be positions in it.
    Values are NaN where a latency or ratio has no sample; counts and rates are 0 there.
    """
    n = len(seconds)
    kind = th.stat.kind
    base = selection_mask(frame, th.selector, ignore=("outcome",))
    wanted = th.select("outcome")
    outcome_hit = selection_mask(frame, [("outcome", wanted)]) if wanted else None
    if kind in LATENCY_KINDS:
        return _latency(th, frame, codes, n, base, outcome_hit, ranked)
    if kind is StatKind.SHARE:
        return _share(th, frame, codes, n)
    if kind in (StatKind.ERROR_RATE, StatKind.DROP_RATE):
        if kind is StatKind.DROP_RATE:
            bad = (frame["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
        else:
            ok = (frame["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
            bad = outcome_hit if outcome_hit is not None else ~ok
        total = np.bincount(codes[base], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(codes[base & bad], minlength=n) / total, total
    if kind is StatKind.DROPS:
        hit = base & (frame["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
    else:
        hit = base & (outcome_hit if outcome_hit is not None else True)
    counts = np.bincount(codes[hit], minlength=n)
    values = counts / seconds if kind is StatKind.RATE else counts.astype(float)
    return values, counts


def _share(
    th: Threshold, frame: pd.DataFrame, codes: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Arrivals matching the whole selector ÷ started arrivals of its persona/worker (dropped
    ones count only when the selector asks for ``outcome=dropped``)."""
    scope = selection_mask(frame, [(k, v) for k, v in th.selector if k in ("persona", "worker")])
    if th.select("outcome") != ArrivalOutcome.DROPPED.value:
        scope &= (frame["outcome"] != ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
    hit = scope & selection_mask(frame, th.selector)
    total = np.bincount(codes[scope], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(codes[hit], minlength=n) / total, total


def _latency(
    th: Threshold,
    frame: pd.DataFrame,
    codes: np.ndarray,
    n: int,
    base: np.ndarray,
    outcome_hit: np.ndarray | None,
    ranked: Ranked | None,
) -> tuple[np.ndarray, np.ndarray]:
    kind, stat = th.stat.kind, th.stat
    if kind is StatKind.LATENESS:
        chosen = base & frame["lateness_ms"].notna().to_numpy()
    else:
        ok = (frame["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
        chosen = base & (outcome_hit if outcome_hit is not None else ok)
    column = {"response": "response_ms", "service": "service_ms"}.get(kind, "lateness_ms")
    chosen_codes = codes[chosen]
    counts = np.bincount(chosen_codes, minlength=n)
    qs = [stat.q if stat.q is not None else 50.0]
    if ranked is not None and kind is not StatKind.LATENESS and not stat.is_mean:
        whole = isinstance(frame.index, pd.RangeIndex) and len(frame) == ranked.rank.size
        ranks = ranked.rank[chosen] if whole else ranked.rank[frame.index.to_numpy()[chosen]]
        return ranked_quantiles(chosen_codes, ranks, ranked, n, qs)[:, 0], counts
    values = frame[column].to_numpy(dtype=float, na_value=np.nan)[chosen]
    if stat.is_mean:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(chosen_codes, weights=values, minlength=n) / counts, counts
    return grouped_quantiles(chosen_codes, values, n, qs)[:, 0], counts


@dataclass(frozen=True)
class Tiling:
    """The windows over ``[lo, hi)``: window ``i`` is ``[(first + i) * width_s, + width_s)``
    cut to the range; ``seconds[i]`` is the length of that cut window."""

    width_s: float
    first: int
    seconds: np.ndarray

    @classmethod
    def of(cls, lo: float, hi: float, width_s: float) -> Tiling:
        first = math.floor(lo / width_s)
        last = max(math.ceil(hi / width_s) - 1, first)
        starts = np.arange(first, last + 1, dtype=float) * width_s
        seconds = np.minimum(starts + width_s, hi) - np.maximum(starts, lo)
        return cls(width_s, first, seconds)

    @property
    def n(self) -> int:
        return len(self.seconds)

    def codes(self, t_s: np.ndarray) -> np.ndarray:
        """``floor(t_s / width_s) - first`` as int64, in place (millions of rows)."""
        codes = window_index(t_s, self.width_s)
        codes -= self.first
        return codes

    def start_s(self, i: int) -> float:
        return (self.first + i) * self.width_s


def worst(op: Comparison, values: np.ndarray) -> float:
    """The value furthest on the failing side of ``op`` (NaN when empty)."""
    if values.size == 0:
        return float("nan")
    if op in (Comparison.GT, Comparison.GE):
        return float(np.nanmin(values))
    return float(np.nanmax(values))


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index runs where ``flags`` is true."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@dataclass(frozen=True)
class WindowJudgement:
    """Which windows had data and breached, and whether the gate's window rule failed."""

    has_data: np.ndarray
    breached: np.ndarray
    failed: bool
    rule_text: str


def judge_windows(
    th: Threshold, values: np.ndarray, samples: np.ndarray, floor: int, width_s: float
) -> WindowJudgement:
    """Apply the window rule of ``th``: ``for D`` fails when breached windows with data follow
    each other for at least D (no-data windows neither extend nor break a run); ``in P% of
    windows`` fails when fewer than P% of the windows with data pass; otherwise any breached
    window fails. A window has data when its samples reach ``floor`` and its value exists."""
    has_data = (samples >= floor) & ~np.isnan(values)
    passing = np.array([th.passes(v) for v in values.tolist()], dtype=bool)
    breached = has_data & ~passing
    n_data, n_breached = int(has_data.sum()), int(breached.sum())
    if th.for_s is not None:
        longest = max((b - a for a, b in runs(breached[has_data])), default=0) * width_s
        return WindowJudgement(
            has_data, breached, longest >= th.for_s - 1e-9, f"longest breach {longest:g}s"
        )
    if th.in_windows is not None:
        share = (n_data - n_breached) / n_data if n_data else float("nan")
        return WindowJudgement(
            has_data, breached, share < th.in_windows, f"{format_percent(share)} of windows pass"
        )
    return WindowJudgement(
        has_data, breached, n_breached > 0, f"{n_breached} of {n_data} windows breached"
    )


__all__ = ["Tiling", "WindowJudgement", "judge_windows", "per_group", "runs", "worst"]
