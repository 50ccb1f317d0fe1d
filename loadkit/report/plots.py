"""The report's plots, drawn with matplotlib's Agg canvas (no pyplot state, never a window).

Each ``plot_*`` takes an ``Analysis`` and returns PNG bytes; ``render_plots`` returns them all
by file name. Times on the x axis are seconds after t0 (profile time 0); the on-sale second is
a dashed line, phases are shaded, threshold limits are horizontal lines.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # before any other matplotlib import: never a GUI backend

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from loadkit.analysis import Analysis, GateStatus
from loadkit.results.frames import ERROR_OUTCOMES

_PHASE_COLOURS = ("#e8eef7", "#fbe9e7", "#e8f5e9", "#fff8e1", "#f3e5f5")
_OUTCOME_COLOURS = {
    "ok": "#4caf50",
    "http_error": "#e53935",
    "connection_error": "#8e24aa",
    "timeout": "#fb8c00",
    "expectation_failed": "#fdd835",
}


def _figure(height_in: float = 3.6) -> Figure:
    fig = Figure(figsize=(10, height_in), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _timeline(ax: Axes, analysis: Analysis) -> None:
    """Phase shading, t0 and on-sale lines on a time axis."""
    for i, phase in enumerate(analysis.run.phases):
        name, start, end = phase.name, phase.start_s, phase.end_s
        ax.axvspan(start, end, color=_PHASE_COLOURS[i % len(_PHASE_COLOURS)], zorder=0)
        ax.text(
            (start + end) / 2,
            1.0,
            name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            color="#555",
        )
    ax.axvline(0, color="#999", lw=0.8, ls=":")
    ax.axvline(analysis.run.onsale_offset_s, color="#333", lw=1.0, ls="--", label="on-sale")
    ax.set_xlabel("seconds after t0 (intended start)")


def _baseline_p95(analysis: Analysis) -> dict[str, float]:
    """Whole-run p95 per step of the baseline run, when compared with one (else empty)."""
    c = analysis.comparison
    if c is None or "p95_ms_baseline" not in c:
        return {}
    rows = c.dropna(subset=["p95_ms_baseline"])
    return {str(k): float(v) for k, v in zip(rows["step"], rows["p95_ms_baseline"], strict=True)}


def plot_latency(analysis: Analysis) -> bytes:
    """p95 (solid) and p99 (dotted) response time per step per second, arrival rate behind."""
    fig = _figure(4.2)
    ax = fig.add_subplot()
    _timeline(ax, analysis)
    w = analysis.windows
    before = _baseline_p95(analysis)
    if len(w):
        for step, part in w.groupby("step", observed=True):
            line = ax.plot(
                part["window_start_s"], part["response_p95_ms"], lw=1.2, label=f"{step} p95"
            )[0]
            ax.plot(
                part["window_start_s"],
                part["response_p99_ms"],
                lw=0.8,
                ls=":",
                color=line.get_color(),
            )
            if str(step) in before:  # the baseline's whole-run p95 of this step, dashed
                ax.axhline(before[str(step)], color=line.get_color(), lw=0.8, ls="--", alpha=0.7)
    limits: dict[float, list[str]] = {}
    failed: set[float] = set()
    for g in analysis.gates:
        if g.stat_kind == "response" and g.limit is not None:
            limits.setdefault(g.limit, []).append(g.text)
            if g.status is GateStatus.FAILED:
                failed.add(g.limit)
    for limit, texts in limits.items():  # one line per limit value, naming its gates
        colour = "#c62828" if limit in failed else "#2e7d32"
        ax.axhline(limit, color=colour, lw=0.9, ls="-.")
        label = texts[0] + (f" (+{len(texts) - 1})" if len(texts) > 1 else "")
        ax.text(ax.get_xlim()[0], limit, f" {label}", fontsize=7, color=colour, va="bottom")
    ax.set_ylabel("response time (ms)")
    gen = analysis.generator
    if len(gen):
        rate_ax = ax.twinx()
        rate_ax.fill_between(
            gen["window_start_s"],
            gen["offered_per_s"],
            step="post",
            color="#90a4ae",
            alpha=0.08,
            label="arrivals/s",
        )
        # an outline over the phase shading, so the crowd's shape is readable behind the lines
        rate_ax.step(gen["window_start_s"], gen["offered_per_s"], where="post",
                     color="#37474f", lw=1.1, alpha=0.8)  # fmt: skip
        rate_ax.set_ylim(0, max(1.0, float(gen["offered_per_s"].max())) * 1.15)
        rate_ax.set_ylabel("arrivals per second (grey)", color="#37474f")
        # the rate axis on top with a see-through background: the phase shading (on ``ax``)
        # no longer hides it, and the translucent area lets the latency lines show through
        rate_ax.set_zorder(ax.get_zorder() + 1)
        rate_ax.patch.set_visible(False)
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    title = "Response time by step (p95 solid, p99 dotted) and arrival rate"
    if before:
        title += "; baseline p95 dashed"
    ax.set_title(title, pad=14)
    return _png(fig)


def plot_throughput(analysis: Analysis) -> bytes:
    """Requests per second, stacked by outcome class."""
    fig = _figure()
    ax = fig.add_subplot()
    _timeline(ax, analysis)
    w = analysis.windows
    if len(w):
        per_s = w.groupby("window_start_s")[["ok", *ERROR_OUTCOMES]].sum()
        names = [c for c in per_s.columns if per_s[c].sum() > 0 or c == "ok"]
        ax.stackplot(
            per_s.index.to_numpy(),
            *(per_s[c].to_numpy() for c in names),
            labels=names,
            colors=[_OUTCOME_COLOURS[c] for c in names],
            step="post",
        )
        ax.legend(loc="upper left", fontsize=7)
    ax.set_ylabel("requests per second")
    ax.set_title("Throughput by outcome", pad=14)
    return _png(fig)


def plot_hdr(analysis: Analysis) -> bytes:
    """Response-time percentile distribution per step (x: 1/(1-p), log scale)."""
    fig = _figure()
    ax = fig.add_subplot()
    for step, part in analysis.hdr.groupby("step", observed=True):
        p = part["percentile"].to_numpy() / 100.0
        keep = p < 1.0
        ax.plot(1.0 / (1.0 - p[keep]), part["response_ms"].to_numpy()[keep], label=str(step))
    ax.set_xscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000]
    ax.set_xticks(ticks, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("response time (ms)")
    ax.legend(fontsize=7)
    ax.set_title("Latency by percentile (successful requests)")
    return _png(fig)


def plot_funnel(analysis: Analysis) -> bytes:
    """Visitors at each funnel stage, with conversion from arrival."""
    fig = _figure(3.0)
    ax = fig.add_subplot()
    f = analysis.funnel
    y = np.arange(len(f))[::-1]
    ax.barh(y, f["visitors"], color="#42a5f5")
    for yi, n, share in zip(y, f["visitors"], f["of_arrived"], strict=True):
        label = f" {int(n):,}" + (f" ({share:.0%})" if share == share else "")
        ax.text(n, yi, label, va="center", fontsize=8)
    ax.set_yticks(y, list(f["stage"]))
    ax.set_xlabel("visitors")
    ax.set_title("Funnel: " + " → ".join(str(s) for s in f["stage"]))  # the scenario's stages
    return _png(fig)


def plot_queue_wait(analysis: Analysis) -> bytes:
    """Distribution of the wait from queue join to admission."""
    fig = _figure(3.0)
    ax = fig.add_subplot()
    wait = analysis.queue_wait_s
    if wait.size:
        ax.hist(wait, bins=min(60, max(10, wait.size // 20)), color="#7e57c2")
        for q in (50, 95, 99):
            v = float(np.percentile(wait, q))
            ax.axvline(v, color="#333", lw=0.8, ls="--")
            ax.text(
                v, 1.0, f" p{q} {v:.0f}s", transform=ax.get_xaxis_transform(), fontsize=7, va="top"
            )
    else:
        ax.text(
            0.5,
            0.5,
            "no visitor was both seen joining and admitted",
            ha="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("seconds from join to admission")
    ax.set_ylabel("visitors")
    ax.set_title("Queue wait")
    return _png(fig)


def plot_generator(analysis: Analysis) -> bytes:
    """Generator health: start lateness p99, visitors in flight, dropped arrivals."""
    fig = _figure(5.4)
    gen = analysis.generator
    axes = fig.subplots(3, 1, sharex=True)
    series = (
        ("lateness_p99_ms", "lateness p99 (ms)", "#ef6c00"),
        ("in_flight", "visitors in flight", "#1e88e5"),
        ("dropped", "dropped / s", "#c62828"),
    )
    for ax, (column, label, colour) in zip(axes, series, strict=True):
        ax.axvline(analysis.run.onsale_offset_s, color="#333", lw=0.8, ls="--")
        if len(gen):
            ax.plot(
                gen["window_start_s"], gen[column], color=colour, lw=1.0, drawstyle="steps-post"
            )
        ax.set_ylabel(label, fontsize=8)
    axes[0].set_title("Generator health")
    axes[-1].set_xlabel("seconds after t0 (scheduled start)")
    return _png(fig)


PLOTS: dict[str, Callable[[Analysis], bytes]] = {
    "latency.png": plot_latency,
    "throughput.png": plot_throughput,
    "hdr.png": plot_hdr,
    "funnel.png": plot_funnel,
    "queue_wait.png": plot_queue_wait,
    "generator.png": plot_generator,
}


def _has_data(name: str, analysis: Analysis) -> bool:
    """False for a plot whose table is empty (a Locust CSV has no windows, funnel or generator)."""
    needs = {
        "latency.png": analysis.windows,
        "throughput.png": analysis.windows,
        "funnel.png": analysis.funnel,
        "queue_wait.png": analysis.funnel,
        "generator.png": analysis.generator,
        "knee.png": analysis.windows,
        "distribution.png": analysis.hdr,
    }
    table = needs.get(name)
    return table is None or len(table) > 0


def render_plots(analysis: Analysis) -> dict[str, bytes]:
    """Every plot that has data to draw, as PNG bytes, by file name (with ``report.sre``'s
    distribution and knee)."""
    from loadkit.report.sre import EXTRA_PLOTS  # it draws with this module's helpers

    every = {**PLOTS, **EXTRA_PLOTS}
    return {name: draw(analysis) for name, draw in every.items() if _has_data(name, analysis)}


__all__ = ["PLOTS", "render_plots"]
