"""What an SRE reads first: the failures table, the response-time distribution, and latency
against offered load (the knee view) for any run. Used by the terminal, summary.md and
report.html; the plots join ``render_plots`` as ``distribution.png`` and ``knee.png``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from loadkit.analysis import Analysis, GateResult
from loadkit.report.knee import GateLine, plot_knee, run_knee_points
from loadkit.report.plots import _figure, _png
from loadkit.units import format_duration

FAILURE_HEADER = ("status", "error", "step", "count", "first seen", "last seen")
MAX_SHOWN = {"terminal": 10, "markdown": 5, "html": 50}


def _status(code: int, outcome: str) -> str:
    return str(code) if code else outcome.replace("_", " ")


def failure_rows(analysis: Analysis, where: str = "terminal") -> list[list[str]]:
    """Rows of the failures table (status or outcome, error text, step, count, first/last
    seen in seconds after t0), most frequent first; empty when nothing failed."""
    table = analysis.failures
    if table is None or table.empty:
        return []
    rows = []
    for r in table.head(MAX_SHOWN.get(where, 10)).to_dict("records"):
        error = str(r["error"])
        rows.append(
            [
                _status(int(r["status"]), str(r["outcome"])),
                error if len(error) <= 70 else error[:67] + "...",
                str(r["step"]),
                f"{int(r['count']):,}",
                f"{float(r['first_s']):.1f}s",
                f"{float(r['last_s']):.1f}s",
            ]
        )
    return rows


def failures_note(analysis: Analysis, where: str) -> str:
    """'(top N of M kinds)' when the table was cut, else ''."""
    table = analysis.failures
    shown = MAX_SHOWN.get(where, 10)
    if table is None or len(table) <= shown:
        return ""
    return f" (the {shown} most frequent of {len(table)} kinds)"


def status_class(cell: str) -> str:
    """CSS class of a status cell: HTTP class (s2xx..s5xx), no answer, or a gate status."""
    if cell.isdigit():
        return f"s{cell[0]}xx"
    word = cell.split(" ")[0].lower()
    return {"pass": "passed", "fail": "failed", "no": "nodata", "warn": "warn"}.get(
        word, "noanswer"
    )


def failures_html(analysis: Analysis) -> str:
    """The failures section of report.html, status cells coloured by class."""
    rows = failure_rows(analysis, "html")
    if not rows:
        return "<h2>Failures</h2><p class='passed'>No request failed.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in FAILURE_HEADER)
    body = "".join(
        f"<tr><td class='status {status_class(r[0])}'>{html.escape(r[0])}</td>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in r[1:])
        + "</tr>"
        for r in rows
    )
    note = html.escape(failures_note(analysis, "html"))
    return f"<h2>Failures{note}</h2><table class='failures'><tr>{head}</tr>{body}</table>"


def _gate_lines(gates: Sequence[GateResult]) -> tuple[list[GateLine], list[GateLine]]:
    latency = [(g.text, float(g.limit)) for g in gates if g.stat_kind == "response" and g.limit]
    errors = [
        (g.text, float(g.limit))
        for g in gates
        if g.stat_kind == "error_rate" and g.limit is not None
    ]
    return latency, errors


def plot_distribution(analysis: Analysis) -> bytes:
    """Response-time CDF per step (successful requests; x log ms, y share of requests at or
    under it); the baseline's dashed, in the same colour, when there is one."""
    fig = _figure()
    ax = fig.add_subplot()
    base = analysis.baseline_hdr
    for step, part in analysis.hdr.groupby("step", observed=True):
        line = ax.plot(part["response_ms"], part["percentile"], lw=1.4, label=str(step))[0]
        if base is not None:
            before = base[base["step"] == step]
            if len(before):
                ax.plot(before["response_ms"], before["percentile"], lw=1.0, ls="--",
                        color=line.get_color())  # fmt: skip
    if base is not None:
        ax.plot([], [], ls="--", color="#555", label="baseline (same colour)")
    for g in analysis.gates:
        if g.stat_kind == "response" and g.limit:
            ax.axvline(float(g.limit), color="#c62828", ls="-.", lw=0.8)
    if len(analysis.hdr) and float(np.nanmin(analysis.hdr["response_ms"])) > 0:
        ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("response time (ms, successful requests)")
    ax.set_ylabel("% of requests at or under")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    title = "Response-time distribution (CDF)"
    ax.set_title(title + (": baseline dashed" if base is not None else ""))
    return _png(fig)


def plot_run_knee(analysis: Analysis) -> bytes:
    """Latency and errors against the arrival rate offered in each second of this run."""
    points = run_knee_points(analysis)
    latency, errors = _gate_lines(analysis.gates)
    if points.empty:
        fig = _figure(2.0)
        fig.add_subplot().text(0.5, 0.5, "no requests: no knee to draw", ha="center")
        return _png(fig)
    return plot_knee(
        points,
        latency,
        errors,
        title="Latency against offered load (1 s windows banded by arrival rate; "
        "percentiles are the median of the windows')",
    )


def distribution_line(analysis: Analysis) -> list[str]:
    """One terminal line per step: p50 / p90 / p99 / p99.9 / max of successful requests. p50
    is the steps table's (exact); the others are levels the HDR curves hold exactly."""
    steps = analysis.steps
    whole = steps[steps["phase"] == "all"].set_index("step")["p50_ms"] if len(steps) else None
    out = []
    for step, part in analysis.hdr.groupby("step", observed=True):
        pct, ms = part["percentile"].to_numpy(), part["response_ms"].to_numpy()
        p50 = whole.get(str(step)) if whole is not None else None
        p50 = float(np.interp(50.0, pct, ms)) if p50 is None or p50 != p50 else float(p50)
        cells = [f"p50 {format_duration(p50 / 1e3)}"]
        for q, label in ((90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"), (100.0, "max")):
            cells.append(f"{label} {format_duration(float(np.interp(q, pct, ms)) / 1e3)}")
        out.append(f"{step}: " + " · ".join(cells))
    return out


def knee_line(analysis: Analysis) -> str:
    """The knee view in one terminal line: p95 and errors at the lightest and heaviest offered
    load of the run ('' when the run offered one rate only)."""
    points = run_knee_points(analysis)
    if len(points) < 2:
        return ""

    def at(row: pd.Series) -> str:
        p95 = row["p95_ms"]
        shown = "—" if p95 != p95 else format_duration(float(p95) / 1e3)
        return f"{row['offered_per_s']:,.1f}/s → p95 {shown}, errors {row['error_rate']:.1%}"

    return f"latency against offered load: {at(points.iloc[0])} … {at(points.iloc[-1])}"


EXTRA_PLOTS: dict[str, Callable[[Analysis], bytes]] = {
    "distribution.png": plot_distribution,
    "knee.png": plot_run_knee,
}

__all__ = [
    "EXTRA_PLOTS",
    "FAILURE_HEADER",
    "distribution_line",
    "failure_rows",
    "failures_html",
    "failures_note",
    "knee_line",
    "plot_distribution",
    "plot_run_knee",
    "status_class",
]
