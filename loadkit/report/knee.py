"""The knee view: latency (p50/p95/p99) and error rate against offered load, gate lines drawn.

One drawing for both uses: a capacity search (one point per probe, x = the probe's peak rate)
and any single run (``run_knee_points``: its 1 s windows grouped by the arrival rate offered in
them). Where the curves bend up — the knee — is where the target stops keeping up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from loadkit.analysis import Analysis
from loadkit.gates import Threshold
from loadkit.gates.model import StatKind
from loadkit.report.plots import _png

GateLine = tuple[str, float]  # (gate text, limit: ms for latency, fraction for error rate)
KNEE_COLUMNS = ("offered_per_s", "p50_ms", "p95_ms", "p99_ms", "error_rate")


def gate_lines(thresholds: Sequence[Threshold]) -> tuple[list[GateLine], list[GateLine]]:
    """(latency limits in ms, error-rate limits as fractions) of the response-time and
    error-rate gates, to draw on the knee plot."""
    latency = [
        (t.text, t.value)
        for t in thresholds
        if t.stat.kind in (StatKind.RESPONSE, StatKind.SERVICE)
    ]
    errors = [(t.text, t.value) for t in thresholds if t.stat.kind is StatKind.ERROR_RATE]
    return latency, errors


def run_knee_points(analysis: Analysis, bins: int = 8) -> pd.DataFrame:
    """A single run's knee: each 1 s window's offered arrival rate against its requests'
    latency and errors (every step), grouped into at most ``bins`` rate bands. Percentiles of a
    band are the request-weighted median of its windows' (an approximation, stated on the plot);
    error rates are exact per band."""
    gen, win = analysis.generator, analysis.windows
    if gen.empty or win.empty or "offered_per_s" not in gen:
        return pd.DataFrame(columns=list(KNEE_COLUMNS))
    offered = gen.set_index("window_start_s")["offered_per_s"]
    w = win.copy()
    w["offered_per_s"] = w["window_start_s"].map(offered)
    w = w.dropna(subset=["offered_per_s"])
    if w.empty:
        return pd.DataFrame(columns=list(KNEE_COLUMNS))
    offered_per_s = w["offered_per_s"].to_numpy(float)
    distinct = np.unique(offered_per_s)
    if len(distinct) <= bins:  # a few rates (steps, a plateau): one band each
        band = np.searchsorted(distinct, offered_per_s)
    else:  # a ramp or a spike: bands of about equal numbers of seconds
        edges = np.unique(np.quantile(offered_per_s, np.linspace(0, 1, bins + 1)))
        band = np.digitize(offered_per_s, edges[1:-1])
    rows = []
    for _, g in w.groupby(band):
        n = g["requests"].to_numpy(float)
        errors = (g["error_rate"].fillna(0) * n).sum()
        row = {"offered_per_s": float(np.average(g["offered_per_s"], weights=n))}
        for q in ("p50", "p95", "p99"):
            col = f"response_{q}_ms"
            vals = g[[col, "requests"]].dropna()
            row[f"{q}_ms"] = float(vals[col].median()) if len(vals) else np.nan
        row["error_rate"] = float(errors / n.sum()) if n.sum() else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=list(KNEE_COLUMNS)).sort_values("offered_per_s")


def plot_knee(
    points: pd.DataFrame,
    latency_limits: Sequence[GateLine] = (),
    error_limits: Sequence[GateLine] = (),
    *,
    title: str = "latency and errors against offered load",
    failed: Sequence[bool] | None = None,
    marks: Sequence[tuple[str, float]] = (),
) -> bytes:
    """PNG: p50/p95/p99 (ms, log scale) on the left axis, error rate (%) on the right, x the
    offered arrival rate; gate limits as dashed lines; ``failed`` marks points red (a probe
    whose gates failed); ``marks`` are labelled vertical lines (holds / fails at)."""
    fig = Figure(figsize=(10, 4.2), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    pts = points.sort_values("offered_per_s")
    x = pts["offered_per_s"].to_numpy(float)
    for col, style, label in (
        ("p50_ms", "-", "p50"),
        ("p95_ms", "-", "p95"),
        ("p99_ms", ":", "p99"),
    ):
        ax.plot(x, pts[col].to_numpy(float), style, marker="o", ms=4, label=label)
    for text, limit in latency_limits:
        ax.axhline(limit, color="#c62828", ls="--", lw=0.9)
        ax.annotate(text, (0.01, limit), xycoords=("axes fraction", "data"), fontsize=7,
                    color="#c62828", va="bottom")  # fmt: skip
    ax.set_xlabel("offered load (arrivals/s)")
    ax.set_ylabel("response time (ms)")
    if np.nanmax(pts[["p50_ms", "p95_ms", "p99_ms"]].to_numpy(float), initial=0) > 0:
        ax.set_yscale("log")
    ax2 = ax.twinx()
    ax2.plot(x, pts["error_rate"].to_numpy(float) * 100, color="#e53935", marker="s", ms=4,
             lw=1.2, label="error rate")  # fmt: skip
    for text, limit in error_limits:
        ax2.axhline(limit * 100, color="#e53935", ls="-.", lw=0.9)
        ax2.annotate(text, (0.99, limit * 100), xycoords=("axes fraction", "data"), fontsize=7,
                     color="#e53935", ha="right", va="bottom")  # fmt: skip
    ax2.set_ylabel("error rate (%)", color="#e53935")
    ax2.set_ylim(bottom=0)
    if failed is not None:
        bad = np.asarray(list(failed), dtype=bool)[np.argsort(points["offered_per_s"].to_numpy())]
        ax.scatter(x[bad], pts["p95_ms"].to_numpy(float)[bad], s=90, facecolors="none",
                   edgecolors="#c62828", label="gate failed", zorder=5)  # fmt: skip
    for label, at in marks:
        ax.axvline(at, color="#555", ls=":", lw=1.0)
        ax.annotate(label, (at, 0.02), xycoords=("data", "axes fraction"), fontsize=8,
                    rotation=90, ha="right", va="bottom", color="#333")  # fmt: skip
    handles = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="center left")
    ax.set_title(title, fontsize=10)
    return _png(fig)


__all__ = ["KNEE_COLUMNS", "gate_lines", "plot_knee", "run_knee_points"]
