"""``regression(STAT{selector}) OP X%`` gates: this run against ``--baseline RUN``, judged on the
95% interval of the change (``loadkit.analysis.compare``), never on a bare ratio of two noisy
runs.

Each run contributes the same rows a plain gate on STAT would read (selector, ``during`` /
``from … to``, ok requests for latency stats), timed from the start of the range it looks at.
The gate:

* **fails** (exit 1) only when the whole interval is beyond the allowed change — for
  ``< 10%``: its low end is at least +10%: the slowdown is shown, not guessed;
* **passes** (exit 0) when the whole interval is within it;
* **passes with "not enough evidence"** (exit 0) when the interval straddles the limit: the
  runs cannot tell a regression from noise, so a release is not blocked on a coin toss; the
  interval is in the report for a human to weigh;
* is **no data** (inconclusive, exit 3) when there is no baseline or too little data for any
  interval (too few windows or samples, a baseline of 0): a verdict never passes on nothing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis.compare import CompareSettings, Estimator, Statistic, compare
from loadkit.analysis.model import GateKind, GateResult, GateStatus
from loadkit.gates import (
    LATENCY_KINDS,
    Comparison,
    Records,
    StatKind,
    Threshold,
    format_value,
    named_range,
)
from loadkit.results.frames import selection_mask
from loadkit.results.schema import ArrivalOutcome, Outcome

_DEFAULT = CompareSettings()
_ON_ARRIVALS = (StatKind.LATENESS, StatKind.DROPS, StatKind.DROP_RATE)
_COLUMNS = {StatKind.RESPONSE: "response_ms", StatKind.SERVICE: "service_ms"}
_REQUEST_ONLY = {"step", "name", "method", "status", "outcome"}


def statistic_of(th: Threshold) -> Statistic:
    """The estimator a threshold's stat needs (percentile, mean or total per second)."""
    kind, stat = th.stat.kind, th.stat
    if kind in LATENCY_KINDS:
        if stat.is_mean:
            return Statistic(Estimator.MEAN, None, stat.label)
        return Statistic(Estimator.QUANTILE, stat.q, stat.label)
    if kind in (StatKind.ERROR_RATE, StatKind.DROP_RATE):
        return Statistic(Estimator.MEAN, None, stat.label)
    return Statistic(Estimator.TOTAL, None, stat.label)


def time_range(th: Threshold, records: Records, t_s: np.ndarray) -> tuple[float, float]:
    """``[lo, hi)`` in seconds after t0 that the threshold looks at: the range it names
    (``loadkit.gates.named_range``), an open end closed by the rows themselves."""
    lo, hi = named_range(th, records.phases, records.onsale_offset_s)
    if math.isinf(lo):
        lo = float(min(0.0, t_s.min())) if t_s.size else 0.0
    if math.isinf(hi):
        hi = float(t_s.max()) + 1e-9 if t_s.size else records.duration_s
    return lo, hi


def sample(th: Threshold, records: Records) -> tuple[pd.DataFrame, float]:
    """The rows the stat reads, as ``t_s`` (seconds from the start of the range) and ``value``
    (the latency in ms, a 0/1 error or drop flag, or 1 per counted event), and the seconds the
    range covers (what a rate divides by)."""
    kind = th.stat.kind
    frame = records.arrivals if kind in _ON_ARRIVALS else records.requests
    t_s = frame["t_s"].to_numpy(dtype=float)
    lo, hi = time_range(th, records, t_s)
    inside = (t_s >= lo) & (t_s < hi) & selection_mask(frame, th.selector, ignore=("outcome",))
    wanted = th.select("outcome")
    outcome = frame["outcome"]
    hit = selection_mask(frame, [("outcome", wanted)]) if wanted else None
    if kind is StatKind.LATENESS:
        rows = inside & frame["lateness_ms"].notna().to_numpy()
        values = frame["lateness_ms"].to_numpy(dtype=float, na_value=np.nan)
    elif kind in LATENCY_KINDS:
        ok = (outcome == Outcome.OK.value).to_numpy(dtype=bool)
        rows = inside & (hit if hit is not None else ok)
        values = frame[_COLUMNS[kind]].to_numpy(dtype=float, na_value=np.nan)
    elif kind in (StatKind.ERROR_RATE, StatKind.DROP_RATE):
        if kind is StatKind.DROP_RATE:
            bad = (outcome == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
        else:
            bad = hit if hit is not None else (outcome != Outcome.OK.value).to_numpy(dtype=bool)
        rows, values = inside, bad.astype(float)
    else:  # count, rate, drops: one per event
        if kind is StatKind.DROPS:
            rows = inside & (outcome == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
        else:
            rows = inside & (hit if hit is not None else True)
        values = np.ones(len(frame))
    out = pd.DataFrame({"t_s": t_s[rows] - lo, "value": values[rows]})
    if kind is StatKind.ERROR_RATE and not _REQUEST_ONLY & set(dict(th.selector)):
        out = pd.concat([out, _dropped(th, records, lo, hi)], ignore_index=True)
    return out, max(hi - lo, 0.0)


def _dropped(th: Threshold, records: Records, lo: float, hi: float) -> pd.DataFrame:
    """Dropped arrivals as failed requests: a visitor-level error rate counts them, as the
    plain gate does (DESIGN.md §3)."""
    arrivals = records.arrivals
    a_s = arrivals["t_s"].to_numpy(dtype=float)
    dropped = (arrivals["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
    hit = dropped & (a_s >= lo) & (a_s < hi) & selection_mask(arrivals, th.selector)
    return pd.DataFrame({"t_s": a_s[hit] - lo, "value": np.ones(int(hit.sum()))})


def _status(th: Threshold, low: float, high: float) -> tuple[GateStatus, bool]:
    """(status, clear): failed only when the whole interval breaches; clear when it all passes."""
    inside = low <= th.value <= high
    if not th.passes(low) and not th.passes(high) and not (th.op is Comparison.EQ and inside):
        return (GateStatus.WARN if th.warn else GateStatus.FAILED), True
    return GateStatus.PASSED, th.passes(low) and th.passes(high)


def regression_gate(
    th: Threshold,
    records: Records,
    baseline: Records | None,
    settings: CompareSettings = _DEFAULT,
) -> GateResult:
    """Judge one ``regression(...)`` threshold (see the module docstring)."""
    about: dict[str, Any] = {
        "location": str(th.location) if th.location else None,
        "stat": th.stat.label,
        "limit": th.value,
        "selector": th.selector,
    }
    limit_text = f"{th.op.value} {th.value_text}"
    if baseline is None:
        text = "no baseline run given (--baseline RUN_DIR)"
        return GateResult(
            th.text, GateKind.REGRESSION, GateStatus.NO_DATA, None, text, limit_text, **about
        )
    if th.over_s is not None:  # the gate's own windows are the resampled blocks
        settings = dataclasses.replace(settings, window_s=th.over_s)
    (now, now_s), (base, base_s) = sample(th, records), sample(th, baseline)
    change = compare(now, base, statistic_of(th), settings, durations_s=(now_s, base_s))
    kind = th.stat.kind
    values = f"{format_value(kind, change.base)} → {format_value(kind, change.now)}"
    method = (
        f"paired block bootstrap: {settings.replicates:,} resamples of {change.windows} windows "
        f"of {change.window_s:g}s; {change.samples_now:,} samples now, "
        f"{change.samples_base:,} in the baseline; seed {settings.seed}"
    )
    about = {**about, "samples": change.samples_now, "detail": method}
    if change.low is None or change.high is None:
        text = f"not enough evidence: {change.reason} ({values})"
        return GateResult(
            th.text, GateKind.REGRESSION, GateStatus.NO_DATA, None, text, limit_text, **about
        )
    status, clear = _status(th, change.low, change.high)
    text = f"{change.text()} ({values})"
    if not clear:  # the interval straddles the limit: noise cannot be told from a regression
        text = f"not enough evidence of a regression: {text}"
    return GateResult(
        th.text, GateKind.REGRESSION, status, change.change, text, limit_text, **about
    )


def _ok_latencies(records: Records) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Row positions per step, and (t_s from the run's start, response_ms), of ok requests."""
    frame = records.requests
    ok = (frame["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
    t_s = frame["t_s"].to_numpy(dtype=float)[ok]
    start = min(0.0, float(t_s.min())) if t_s.size else 0.0
    values = frame["response_ms"].to_numpy(dtype=float, na_value=np.nan)[ok]
    steps = frame["step"].astype("category")[ok]  # codes: no string per row
    codes = steps.cat.codes.to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(steps.cat.categories) + 1))
    rows = {
        str(name): order[bounds[i] : bounds[i + 1]]
        for i, name in enumerate(steps.cat.categories)
        if bounds[i + 1] > bounds[i]
    }
    return rows, pd.DataFrame({"t_s": t_s - start, "value": values})


def step_changes(
    records: Records, baseline: Records, settings: CompareSettings = _DEFAULT
) -> pd.DataFrame:
    """Per step (and ``all``): the 95% interval of the whole-run p95 change of ok requests'
    response times, as columns ``step``, ``p95_change_low``, ``p95_change_high`` (NaN when
    there is not enough evidence) — what the baseline comparison tables show next to the
    bare change."""
    (now_rows, now), (base_rows, base) = _ok_latencies(records), _ok_latencies(baseline)
    p95 = Statistic(Estimator.QUANTILE, 95.0, "p95")
    empty = np.array([], dtype=np.int64)
    out = []
    for step in ["all", *sorted(set(now_rows) | set(base_rows))]:
        if step == "all":
            change = compare(now, base, p95, settings)
        else:
            pick_now, pick_base = now_rows.get(step, empty), base_rows.get(step, empty)
            change = compare(now.iloc[pick_now], base.iloc[pick_base], p95, settings)
        low = change.low if change.low is not None else float("nan")
        high = change.high if change.high is not None else float("nan")
        out.append((step, low, high))
    return pd.DataFrame(out, columns=["step", "p95_change_low", "p95_change_high"])


__all__ = ["regression_gate", "sample", "statistic_of", "step_changes"]
