"""Regressions with confidence: the change of a stat between two runs, with a 95% interval.

Method: a **paired per-window block bootstrap**. Both runs are cut into tumbling windows on
one time axis (seconds from the start of the range each looks at, so the spike of one run
faces the spike of the other). A resample draws as many windows as there are, with
replacement, and takes the *same* windows from both runs: the stat is recomputed on each run's
pooled resampled windows and the change is ``now / base − 1``. Whole windows are resampled, not
single requests, because requests close in time are not independent (a queue builds, a GC
pauses): the spread between windows carries that correlation into the interval. The interval
is the 2.5th … 97.5th percentile of 1,000 resampled changes; the generator is seeded, so the
same two runs always give the same interval.

Cost is independent of the request count after one pass: a window is summarised by its count
(``count``, ``rate``), its sum and count (``avg``, ``error_rate``), or a histogram of its values
in log bins 0.1% wide (percentiles); a resample is a matrix product of the resampling counts
with those summaries. The point estimate uses the exact values; resampled percentiles are
read from the bins (±0.05%, far below any limit worth gating on).

Not enough evidence (``Change.reason`` says why, and there is no interval): fewer than
``min_windows`` windows with data, fewer than ``min_tail_samples`` values beyond the
percentile in either run (a p(95) needs 200, a p(99) 1,000; ``max`` never qualifies, the
bootstrap cannot bound an extreme), or a baseline of 0 (a relative change is undefined) while
this run's value is not 0 (both 0, e.g. no errors in either run, is a change of exactly 0).

Pure: DataFrames in (columns ``t_s`` and ``value``), a frozen ``Change`` out; numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd


class Estimator(StrEnum):
    QUANTILE = "quantile"  # a percentile of the values (latency, lateness)
    MEAN = "mean"  # the mean of the values (avg latency; error_rate and drop_rate of 0/1 flags)
    TOTAL = "total"  # the sum of the values per unit of time (count and rate of 1s)


@dataclass(frozen=True)
class Statistic:
    """What is compared: an estimator, its percentile ``q`` (0–100) and a label for texts."""

    estimator: Estimator
    q: float | None = None
    label: str = ""


@dataclass(frozen=True)
class CompareSettings:
    """The bootstrap's knobs; the defaults are what ``loadkit analyze`` uses."""

    confidence: float = 0.95
    replicates: int = 1000
    seed: int = 20261205
    window_s: float | None = None  # None: span / 60 rounded up to 0.5, 1, 2, 5 or 10 s
    min_windows: int = 10
    min_tail_samples: int = 10
    bin_ratio: float = 1.001  # width of a histogram bin, as the ratio of its edges (0.1%)


@dataclass(frozen=True)
class Change:
    """The compared stat: point values, the relative change and its interval (fractions).

    ``change``, ``low`` and ``high`` are None when ``reason`` says there is not enough evidence
    (``change`` may still be set when only the interval is missing)."""

    statistic: Statistic
    now: float
    base: float
    change: float | None
    low: float | None
    high: float | None
    confidence: float
    windows: int
    window_s: float
    samples_now: int
    samples_base: int
    reason: str | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def text(self) -> str:
        """``p95 +12% (+8…+16%)``, or ``p95 +3% (no interval)`` without one."""
        if self.change is None:
            return f"{self.statistic.label} —"
        shown = [x for x in (self.change, self.low, self.high) if x is not None]
        digits = 1 if max(abs(x) for x in shown) < 0.1 else 0
        body = f"{self.statistic.label} {_pct(self.change, digits)}"
        if self.low is None or self.high is None:
            return body + " (no interval)"
        return f"{body} ({_pct(self.low, digits)}…{_pct(self.high, digits)})"


def _pct(x: float, digits: int) -> str:
    return f"{x * 100:+.{digits}f}%".replace("-", "−")


@dataclass(frozen=True)
class _Run:
    """One run's values and the window code of each."""

    values: np.ndarray
    codes: np.ndarray


def _window_s(spans_s: float, settings: CompareSettings) -> float:
    if settings.window_s is not None:
        return float(settings.window_s)
    wanted = spans_s / 60.0  # about 60 windows: enough to resample, wide enough to hold a queue
    return next((w for w in (0.5, 1.0, 2.0, 5.0) if w >= wanted), 10.0)


def _prepare(frame: pd.DataFrame, width_s: float) -> _Run:
    t_s = frame["t_s"].to_numpy(dtype=float)
    values = frame["value"].to_numpy(dtype=float)
    keep = ~np.isnan(values) & ~np.isnan(t_s)
    codes = np.floor(np.maximum(t_s[keep], 0.0) / width_s).astype(np.int64)
    return _Run(values[keep], codes)


def _point(stat: Statistic, values: np.ndarray, duration_s: float) -> float:
    if values.size == 0:
        return float("nan")
    if stat.estimator is Estimator.QUANTILE:
        return float(np.percentile(values, stat.q if stat.q is not None else 50.0))
    if stat.estimator is Estimator.MEAN:
        return float(values.mean())
    return float(values.sum() / max(duration_s, 1e-9))


def _not_enough(stat: Statistic, runs: tuple[_Run, _Run], used: int, s: CompareSettings) -> str:
    """Why the data cannot bound the change, or ``""`` when it can."""
    if used < s.min_windows:
        return f"{used} windows with data, need {s.min_windows}"
    if stat.estimator is Estimator.QUANTILE:
        q = stat.q if stat.q is not None else 50.0
        tail = min(q, 100.0 - q) / 100.0
        if tail <= 0.0:
            return f"{stat.label} is an extreme: no interval can bound it; compare p(99.9)"
        need = math.ceil(s.min_tail_samples / tail)
        fewest = min(r.values.size for r in runs)
        if fewest < need:
            return f"{fewest:,} samples in the smaller run, a {stat.label} needs {need:,}"
    elif min(r.values.size for r in runs) == 0:
        return "no samples in one of the runs"
    return ""


@dataclass(frozen=True)
class _Bins:
    """Histogram bins: bin 0 holds every value ≤ 0 (read back as 0); bin k ≥ 1 holds
    ``[low·e^((k−1)·step), low·e^(k·step))``, log-spaced from the smallest positive value."""

    low: float
    step: float
    n: int

    @classmethod
    def of(cls, runs: tuple[_Run, _Run], ratio: float) -> _Bins:
        positive = [r.values[r.values > 0] for r in runs]
        low = min((float(p.min()) for p in positive if p.size), default=1.0)
        high = max((float(p.max()) for p in positive if p.size), default=1.0)
        span = math.log(high / low)
        step = max(math.log(ratio), span / 20_000)  # never more than 20k bins
        return cls(low, step, int(span / step) + 2)

    def index(self, values: np.ndarray) -> np.ndarray:
        scaled = np.log(np.maximum(values, self.low) / self.low)
        scaled /= self.step
        index: np.ndarray = np.minimum(scaled.astype(np.int64) + 1, self.n - 1)
        index[values <= 0] = 0
        return index

    def centre(self, k: np.ndarray) -> np.ndarray:
        centres = self.low * np.exp((np.asarray(k, dtype=float) - 0.5) * self.step)
        return np.where(np.asarray(k) == 0, 0.0, centres)


def _summaries(stat: Statistic, run: _Run, n_w: int, bins: _Bins) -> np.ndarray:
    """Per window (rows): [count] (TOTAL), [sum, count] (MEAN) or a histogram (QUANTILE)."""
    if stat.estimator is Estimator.TOTAL:
        return np.bincount(run.codes, weights=run.values, minlength=n_w)[:, None]
    if stat.estimator is Estimator.MEAN:
        sums = np.bincount(run.codes, weights=run.values, minlength=n_w)
        return np.stack([sums, np.bincount(run.codes, minlength=n_w).astype(float)], axis=1)
    flat = np.bincount(run.codes * bins.n + bins.index(run.values), minlength=n_w * bins.n)
    return flat.reshape(n_w, bins.n).astype(np.float64)


def _replicates(
    stat: Statistic, summary: np.ndarray, weights: np.ndarray, centres: np.ndarray
) -> np.ndarray:
    """The stat of each resample: ``weights`` (resamples × windows) counts each window's draws;
    ``centres`` are the values of the histogram columns (QUANTILE)."""
    pooled: np.ndarray = weights @ summary  # (resamples, columns): one BLAS call for all
    out: np.ndarray
    if stat.estimator is Estimator.TOTAL:
        out = pooled[:, 0] / weights.sum(axis=1)  # per window; the runs' ratio is what counts
        return out
    if stat.estimator is Estimator.MEAN:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = pooled[:, 0] / pooled[:, 1]
        return out
    # the column holding the value of rank ceil(q·(n − 1)) + 1, the upper of the two values
    # numpy's linear percentile interpolates between (the bins are 0.1% wide anyway)
    cum = np.cumsum(pooled, axis=1)
    out = centres[np.minimum(_rank_column(stat, cum), centres.size - 1)]
    out[cum[:, -1] == 0] = np.nan
    return out


def _rank_column(stat: Statistic, cum: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Per row of cumulative histograms, the first column whose count reaches the percentile's
    rank ``q·(n − 1) + 1 − slack`` (see _replicates)."""
    q = (stat.q if stat.q is not None else 50.0) / 100.0
    target = q * (cum[:, -1] - 1) + 1 - slack
    column: np.ndarray = (cum < target[:, None] - 1e-9).sum(axis=1)
    return column


def _quantile_band(
    stat: Statistic, parts: list[np.ndarray], bins: _Bins
) -> tuple[list[np.ndarray], np.ndarray]:
    """Keep only the histogram columns a resampled percentile can land in, plus one column
    below and one above holding the rest. Exact: if every window counts fewer than
    ``q·(n_i − 1)`` values up to a column, a mix of them counts fewer than its rank
    ``q·(N − 1) + 1``; if every window reaches ``q·(n_i − 1) + 1``, the mix reaches its rank.
    It makes the resamples' matrices a few hundred columns wide instead of thousands."""
    used = np.flatnonzero(parts[0].sum(axis=0) + parts[1].sum(axis=0) > 0)
    parts = [p[:, used] for p in parts]
    cum = np.cumsum(np.vstack(parts), axis=1)
    filled = cum[:, -1] > 0
    lo = max(int(_rank_column(stat, cum[filled], slack=1.0).min()), 1) - 1
    hi = min(int(_rank_column(stat, cum[filled]).max()) + 1, used.size - 1)
    centres = bins.centre(used)
    banded = [
        np.hstack(
            [
                p[:, :lo].sum(axis=1, keepdims=True),
                p[:, lo : hi + 1],
                p[:, hi + 1 :].sum(axis=1, keepdims=True),
            ]
        )
        for p in parts
    ]
    edges = np.concatenate(
        [[centres[max(lo - 1, 0)]], centres[lo : hi + 1], [centres[min(hi + 1, used.size - 1)]]]
    )
    return banded, edges


def _resampling_weights(k: int, settings: CompareSettings) -> np.ndarray:
    """(resamples × k): how often each of k windows is drawn, k draws with replacement each."""
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, k, size=(settings.replicates, k))
    draws += np.arange(settings.replicates)[:, None] * k
    counts = np.bincount(draws.ravel(), minlength=settings.replicates * k)
    weights: np.ndarray = counts.reshape(settings.replicates, k).astype(np.float64)
    return weights


def _interval(
    statistic: Statistic,
    summaries: list[np.ndarray],
    used: np.ndarray,
    bins: _Bins,
    settings: CompareSettings,
) -> tuple[float, float] | str:
    """The resampled interval of the change, or why the resamples cannot give one."""
    parts = [s[used] for s in summaries]
    centres = np.empty(0)
    if statistic.estimator is Estimator.QUANTILE:
        parts, centres = _quantile_band(statistic, parts, bins)
    weights = _resampling_weights(used.size, settings)
    now, base = (_replicates(statistic, p, weights, centres) for p in parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = now / base - 1.0
    alpha = 1.0 - settings.confidence
    if np.mean(~np.isfinite(ratios)) > alpha / 2:
        return "too many resamples have no baseline value: the baseline is too sparse"
    ratios = np.where(np.isfinite(ratios), ratios, np.inf)  # an undefined ratio counts as worst
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def compare(
    now: pd.DataFrame,
    base: pd.DataFrame,
    statistic: Statistic,
    settings: CompareSettings = CompareSettings(),  # frozen: a shared default is safe
    *,
    durations_s: tuple[float, float] | None = None,
) -> Change:
    """Compare ``statistic`` of ``now`` against ``base`` (columns ``t_s``: seconds from the
    start of the range compared, ``value``: float; NaN values are ignored). ``durations_s``
    are the seconds each run's range covers, which a TOTAL (rate) divides by; by default up
    to its last ``t_s``. Seeded and deterministic; see the module docstring for the method
    and when there is no interval."""
    ends = tuple(max(float(f["t_s"].max()), 0.0) if len(f) else 0.0 for f in (now, base))
    width = _window_s(max(ends), settings)
    runs = (_prepare(now, width), _prepare(base, width))
    n_w = max(int(max(r.codes.max(initial=-1) for r in runs)) + 1, 1)
    spans = durations_s or ends
    point_now, point_base = (
        _point(statistic, r.values, d) for r, d in zip(runs, spans, strict=True)
    )
    defined = point_base != 0 and not math.isnan(point_base) and not math.isnan(point_now)
    bins = _Bins.of(runs, settings.bin_ratio)
    summaries = [_summaries(statistic, r, n_w, bins) for r in runs]
    if statistic.estimator is Estimator.TOTAL:
        used = np.arange(n_w)  # an empty window is a count of 0: it stays in
    else:
        used = np.flatnonzero((summaries[0].sum(axis=1) > 0) | (summaries[1].sum(axis=1) > 0))
    why = _not_enough(statistic, runs, int(used.size), settings)
    both_zero = point_now == 0 and point_base == 0  # e.g. no errors in either run: no change
    if not why and not defined and not both_zero:
        why = f"the baseline's {statistic.label} is 0: a relative change is undefined"
    found: tuple[float, float] | str = why or (
        (0.0, 0.0) if both_zero else _interval(statistic, summaries, used, bins, settings)
    )
    low, high = found if isinstance(found, tuple) else (None, None)
    return Change(
        statistic=statistic,
        now=point_now,
        base=point_base,
        change=point_now / point_base - 1.0 if defined else (0.0 if both_zero else None),
        low=low,
        high=high,
        confidence=settings.confidence,
        windows=int(used.size),
        window_s=width,
        samples_now=int(runs[0].values.size),
        samples_base=int(runs[1].values.size),
        reason=found if isinstance(found, str) else None,
    )


__all__ = ["Change", "CompareSettings", "Estimator", "Statistic", "compare"]
