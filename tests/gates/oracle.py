"""A small, obviously-correct reference evaluator of one gate, in plain pandas, written from
docs/thresholds.md ("What a gate means") and nothing else: the property tests compare
loadkit's gate engine with it. Slow on purpose: one row selection per window."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loadkit.gates import Threshold
from loadkit.profiles import Phase

LATENCY = {"response": "response_ms", "service": "service_ms"}
NAMED = ("step", "name", "persona", "method")
REQUEST_ONLY = {"step", "name", "method", "status", "outcome"}


@dataclass(frozen=True)
class Expected:
    status: str  # passed / failed / warn / no data
    observed: float | None
    samples: int


def _matches(frame: pd.DataFrame, key: str, pattern: str) -> pd.Series:
    hits = [fnmatch.fnmatchcase(v, pattern) for v in frame[key].astype(str)]
    return pd.Series(hits, index=frame.index, dtype=bool)


def _select(th: Threshold, frame: pd.DataFrame, *, outcome_too: bool) -> pd.DataFrame:
    for key, pattern in th.selector:
        if key in frame.columns and (key != "outcome" or outcome_too):
            frame = frame.loc[_matches(frame, key, pattern)]
    return frame


def _value(
    th: Threshold, req: pd.DataFrame, arr: pd.DataFrame, seconds: float
) -> tuple[float, int]:
    """The stat over rows already cut to one window (or range): (value or NaN, samples)."""
    kind = th.stat.kind.value
    wanted = th.select("outcome")
    if kind in LATENCY:
        rows = _select(th, req, outcome_too=True)
        if wanted is None:
            rows = rows[rows["outcome"] == "ok"]
        values = rows[LATENCY[kind]].to_numpy(dtype=float)
        if values.size == 0:
            return math.nan, 0
        if th.stat.is_mean:
            return float(values.mean()), values.size
        return float(np.percentile(values, th.stat.q)), values.size
    if kind == "error_rate":
        rows = _select(th, req, outcome_too=False)
        bad = _matches(rows, "outcome", wanted).sum() if wanted else (rows["outcome"] != "ok").sum()
        total = len(rows)
        if not REQUEST_ONLY & {k for k, _ in th.selector}:  # a dropped visitor failed too
            drops = int((_select(th, arr, outcome_too=False)["outcome"] == "dropped").sum())
            bad, total = bad + drops, total + drops
        return (bad / total if total else math.nan), total
    rows = _select(th, req, outcome_too=True)
    return (len(rows) / seconds if kind == "rate" else float(len(rows))), len(rows)


def _range(th: Threshold, phases: tuple[Phase, ...], onsale_s: float) -> tuple[float, float]:
    if th.phase == "drain" and all(p.name != "drain" for p in phases):
        return max((p.end_s for p in phases), default=-math.inf), math.inf
    if th.phase is not None:
        phase = next(p for p in phases if p.name == th.phase)
        return phase.start_s, phase.end_s
    lo = th.start.resolve_s(onsale_s) if th.start else -math.inf
    hi = th.end.resolve_s(onsale_s) if th.end else math.inf
    return lo, hi


def _passes(th: Threshold, value: float) -> bool:
    return {
        "<": value < th.value,
        "<=": value <= th.value,
        ">": value > th.value,
        ">=": value >= th.value,
        "==": value == th.value,
        "!=": value != th.value,
    }[th.op.value]


def _worst(th: Threshold, values: list[float]) -> float:
    return min(values) if th.op.value in (">", ">=") else max(values)


def expected(
    th: Threshold,
    req: pd.DataFrame,
    arr: pd.DataFrame,
    phases: tuple[Phase, ...],
    onsale_s: float = 0.0,
) -> Expected:
    """What docs/thresholds.md says ``th`` gives on these records (requests: t_s, step,
    outcome, response_ms, service_ms; arrivals: t_s, outcome, persona)."""
    for key, pattern in th.selector:
        if key in NAMED and key in req.columns and not _matches(req, key, pattern).any():
            return Expected("no data", None, 0)
    # covered: first intended start → last end (or just after the last start, if later)
    first = min(req["t_s"].min(), arr["t_s"].min())
    starts = pd.concat([req["t_s"], arr["t_s"]])
    last = max((req["t_s"] + req["response_ms"] / 1000).max(), np.nextafter(starts.max(), np.inf))
    lo, hi = _range(th, phases, onsale_s)
    lo, hi = max(lo, first), min(hi, last)
    if hi <= lo:
        return Expected("no data", None, 0)
    sampled = th.stat.kind.value in ("response", "service", "error_rate")
    floor = th.min_samples if th.min_samples is not None else (5 if sampled else 0)
    if not th.windowed:
        value, n = _value(th, _cut(req, lo, hi), _cut(arr, lo, hi), hi - lo)
        if n < floor or math.isnan(value):
            return Expected("no data", None, n)
        return Expected(_status(th, not _passes(th, value)), value, n)
    width = th.window_s
    judged: list[tuple[float, bool]] = []  # per window with data: value, breached
    runs, longest, samples = 0, 0, 0
    in_req, in_arr = _cut(req, lo, hi), _cut(arr, lo, hi)
    for k in range(math.floor(lo / width), math.ceil(hi / width)):
        a, b = max(k * width, lo), min((k + 1) * width, hi)
        value, n = _value(
            th,
            in_req.loc[np.floor(in_req["t_s"] / width) == k],
            in_arr.loc[np.floor(in_arr["t_s"] / width) == k],
            b - a,
        )
        if n < floor or math.isnan(value):
            continue
        breached = not _passes(th, value)
        judged.append((value, breached))
        samples += n
        runs = runs + 1 if breached else 0
        longest = max(longest, runs)
    if not judged:
        return Expected("no data", None, 0)
    breaches = sum(b for _, b in judged)
    if th.for_s is not None:
        failed = longest * width >= th.for_s - 1e-9
    elif th.in_windows is not None:
        failed = (len(judged) - breaches) / len(judged) < th.in_windows
    else:
        failed = breaches > 0
    return Expected(_status(th, failed), _worst(th, [v for v, _ in judged]), samples)


def _cut(frame: pd.DataFrame, lo: float, hi: float) -> pd.DataFrame:
    return frame.loc[(frame["t_s"] >= lo) & (frame["t_s"] < hi)]


def _status(th: Threshold, failed: bool) -> str:
    return ("warn" if th.warn else "failed") if failed else "passed"
