"""Windowed ``count`` / ``rate`` / ``error_rate`` gates on a Locust ``--csv`` run, from its
``PREFIX_stats_history.csv``.

Locust appends a history row about once a second: the ``Aggregated`` row always, and one per
request name with ``--csv-full-history``. Each row carries the *cumulative* ``Total Request
Count`` and ``Total Failure Count``, so the difference between two rows of a name is what
completed between their timestamps (whole epoch seconds). A gap longer than one second is
spread evenly over its seconds. Windows are tumbling, ``over`` whole seconds wide (1 s by
default), aligned to the first history row; times are seconds after it.

Rules, as for loadkit's own records: a count or rate window with no request is 0 (so a stall
breaches ``rate >= 20/s over 1s``); a rate divides by the seconds the window covers; an
error-rate window with fewer than ``min N samples`` requests (default 5) is *no data*. ``for
D`` fails when breached windows follow each other for at least D seconds (no-data windows
neither extend nor break a run); ``in P% of windows`` fails when fewer than P% of the windows
with data pass; otherwise any breached window fails the gate.

What the history cannot give: exact latency windows (its percentiles are Locust's rolling
values, not per window), per-name windows without ``--csv-full-history``, method selectors,
phases and time ranges. Those gates are *no data* with that reason.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis.model import BreachSpan, GateKind, GateResult, GateStatus
from loadkit.errors import ResultsError
from loadkit.gates import DEFAULT_MIN_SAMPLES, Comparison, StatKind, Threshold, format_value
from loadkit.units import format_percent

HISTORY_KINDS = (StatKind.COUNT, StatKind.RATE, StatKind.ERROR_RATE)
_COLUMNS = {"Timestamp", "Name", "Total Request Count", "Total Failure Count"}


@dataclass(frozen=True)
class History:
    """``PREFIX_stats_history.csv``: ``frame`` holds its rows; ``full`` when it has per-name rows."""

    path: Path
    frame: pd.DataFrame

    @property
    def full(self) -> bool:
        return bool((self.frame["Name"] != "Aggregated").any())


@dataclass(frozen=True)
class PerSecond:
    """Requests and failures completed in each second after the first history row."""

    requests: np.ndarray
    failures: np.ndarray


def read_history(prefix: str | Path) -> History | None:
    """The history file of a ``--csv`` prefix, or None when Locust wrote none.

    Raises ``ResultsError`` (exit 2) when it exists but is not a Locust stats history."""
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path, na_values=["N/A"], keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ResultsError(f"{path} cannot be read: {exc}") from None
    missing = _COLUMNS - set(frame.columns)
    if missing:
        raise ResultsError(
            f"{path} is not a Locust stats history (no {', '.join(sorted(missing))} column)"
        )
    numeric = frame[["Timestamp", "Total Request Count", "Total Failure Count"]]
    if not all(pd.api.types.is_numeric_dtype(t) for t in numeric.dtypes):
        raise ResultsError(f"{path}: Timestamp and the Total counts must be numbers")
    frame = frame.assign(Name=frame["Name"].astype(str))
    return History(path, frame.sort_values("Timestamp", kind="stable"))


def _spread(ts: np.ndarray, totals: np.ndarray, first_s: int, n_s: int) -> np.ndarray:
    """Per-second increments of one name's cumulative ``totals`` seen at epoch seconds ``ts``:
    the gain between two rows is spread over the seconds ``(previous row, this row]``."""
    out = np.zeros(n_s)
    prev_t: int | None = None
    prev = 0.0
    for t, total in zip(ts.astype(np.int64).tolist(), totals.astype(float).tolist(), strict=True):
        gain = total - prev if total >= prev else total  # lower: Locust reset its stats
        if gain > 0:
            hi = min(max(t - first_s, 1), n_s)
            lo = min(max((prev_t if prev_t is not None else t - 1) - first_s, 0), hi - 1)
            out[lo:hi] += gain / (hi - lo)
        prev_t, prev = t, total
    return out


def per_second(history: History, pattern: str | None) -> PerSecond | str:
    """Per-second completions of the names matching ``pattern`` (None: the Aggregated row),
    or the reason it cannot be told."""
    frame = history.frame
    first_s = int(frame["Timestamp"].min())
    n_s = max(int(frame["Timestamp"].max()) - first_s, 1)
    if pattern is None:
        rows = frame[frame["Name"] == "Aggregated"]
    elif not history.full:
        return "per-name windows need locust --csv-full-history (the history has totals only)"
    else:
        names = frame["Name"].tolist()
        hit = np.array(
            [n != "Aggregated" and fnmatch.fnmatchcase(n, pattern) for n in names], dtype=bool
        )
        rows = frame[hit]
        if rows.empty:
            return "no matching request name in the history"
    requests, failures = np.zeros(n_s), np.zeros(n_s)
    for _, one in rows.groupby("Name", sort=True):
        ts = one["Timestamp"].to_numpy()
        requests += _spread(ts, one["Total Request Count"].to_numpy(), first_s, n_s)
        failures += _spread(ts, one["Total Failure Count"].to_numpy(), first_s, n_s)
    return PerSecond(requests, failures)


def why_no_history(th: Threshold, history: History | None) -> str | None:
    """Why a windowed threshold cannot be judged on the history, or None when it can."""
    base = "windows need per-request records or locust's _stats_history.csv"
    if history is None:
        return f"{base} (none next to the stats file)"
    if th.stat.kind not in HISTORY_KINDS:
        return "latency windows need per-request records (the history has rolling percentiles)"
    if th.phase is not None or th.start is not None or th.end is not None:
        return "phases and time ranges need per-request records"
    if set(dict(th.selector)) - {"name", "step"}:
        return "the history has request names only (no method, status or outcome)"
    if th.window_s < 1 or not float(th.window_s).is_integer():
        return f"the history counts whole seconds: use over 1s, 2s, ... (not {th.window_s:g}s)"
    return None


def _windows(th: Threshold, series: PerSecond) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window: the stat, its sample count (requests), and whether it has data."""
    width = int(th.window_s)
    n_w = math.ceil(series.requests.size / width)
    pad = n_w * width - series.requests.size
    requests = np.pad(series.requests, (0, pad)).reshape(n_w, width).sum(axis=1)
    failures = np.pad(series.failures, (0, pad)).reshape(n_w, width).sum(axis=1)
    covered = np.minimum(width, series.requests.size - np.arange(n_w) * width)
    kind = th.stat.kind
    if kind is StatKind.ERROR_RATE:
        min_n = th.min_samples if th.min_samples is not None else DEFAULT_MIN_SAMPLES
        has_data = requests >= max(min_n, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return failures / requests, requests, has_data
    values = requests / covered if kind is StatKind.RATE else requests
    return values, requests, np.ones(n_w, dtype=bool)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index runs where ``flags`` is true."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _longest_run_s(breached: np.ndarray, width: int) -> int:
    return max((b - a for a, b in _runs(breached)), default=0) * width


def _worst(th: Threshold, values: np.ndarray) -> float:
    pick = np.nanmin if th.op in (Comparison.GT, Comparison.GE) else np.nanmax
    return float(pick(values)) if values.size else float("nan")


def history_gate(th: Threshold, history: History, about: dict[str, Any]) -> GateResult:
    """A windowed count/rate/error_rate threshold judged on the history (call
    ``why_no_history`` first: it must be None)."""
    limit_text = f"{th.op.value} {th.value_text}"
    sel = dict(th.selector)
    series = per_second(history, sel.get("name") or sel.get("step"))
    if isinstance(series, str):
        return GateResult(
            th.text, GateKind.THRESHOLD, GateStatus.NO_DATA, None, f"no data: {series}", limit_text
        )
    values, samples, has_data = _windows(th, series)
    width = int(th.window_s)
    breached = has_data & ~np.array([th.passes(float(v)) for v in values], dtype=bool)
    n_data, n_breached = int(has_data.sum()), int(breached.sum())
    if th.for_s is not None:
        longest = _longest_run_s(breached[has_data], width)
        failed, rule = longest >= th.for_s - 1e-9, f"longest breach {longest}s"
    elif th.in_windows is not None:
        share = (n_data - n_breached) / n_data if n_data else float("nan")
        failed, rule = share < th.in_windows, f"{format_percent(share)} of windows pass"
    else:
        failed, rule = n_breached > 0, f"{n_breached} of {n_data} windows breached"
    spans = tuple(
        BreachSpan(float(a * width), float(b * width), _worst(th, values[a:b]))
        for a, b in _runs(breached)
    )
    about = {
        **about,
        "samples": round(float(samples.sum())),
        "breaches": spans,
        "windows_total": len(values),
        "windows_no_data": len(values) - n_data,
        "windows_breached": n_breached,
        "window_s": float(width),
        "detail": f"from {history.path.name}: {width}s windows after its first row",
    }
    if n_data == 0:
        text = f"no data (no {width}s window of the history has enough requests)"
        return GateResult(
            th.text, GateKind.THRESHOLD, GateStatus.NO_DATA, None, text, limit_text, **about
        )
    worst = _worst(th, values[has_data])
    status = (
        GateStatus.PASSED if not failed else (GateStatus.WARN if th.warn else GateStatus.FAILED)
    )
    text = f"worst {format_value(th.stat.kind, worst)}; {rule}"
    return GateResult(th.text, GateKind.THRESHOLD, status, worst, text, limit_text, **about)


__all__ = ["HISTORY_KINDS", "History", "PerSecond", "history_gate", "per_second", "read_history"]
