"""Plain-text and Markdown reports: the terminal table and ``summary.md``.

Both put the verdict first. ``summary.md`` is made for a CI job summary or a PR comment:
verdict, reasons and gates on top; details folded in ``<details>`` blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis import Analysis, GateResult, GateStatus, Verdict
from loadkit.report import journeys
from loadkit.results.frames import AFTER_PHASES
from loadkit.units import format_duration, format_ms, format_percent, format_rate

_SYMBOL = {
    GateStatus.PASSED: "PASS",
    GateStatus.FAILED: "FAIL",
    GateStatus.NO_DATA: "NO DATA",
    GateStatus.WARN: "WARN",
}
_EMOJI = {
    GateStatus.PASSED: "✅",
    GateStatus.FAILED: "❌",
    GateStatus.NO_DATA: "⚪",
    GateStatus.WARN: "⚠️",
}
_VERDICT_EMOJI = {
    Verdict.PASSED: "✅",
    Verdict.FAILED: "❌",
    Verdict.INVALID: "🚫",
    Verdict.INCONCLUSIVE: "❔",
    Verdict.ABORTED: "⏹️",
}
STEP_COLUMNS = ("step", "requests", "errors", "error %", "rate", "p50", "p95", "p99", "max")


class _Row:
    """Attribute access to one table row (values typed Any, as pandas gives them)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _records(frame: pd.DataFrame) -> list[Any]:
    return [_Row({str(k): v for k, v in row.items()}) for row in frame.to_dict("records")]


def _ms(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format_ms(v)


def _change(fraction: float, low: float = math.nan, high: float = math.nan) -> str:
    """``+12.3%``, with its 95% interval when known: ``+12.3% (+8.1%…+16.0%)``."""
    if fraction != fraction:
        return "—"
    interval = f" ({low:+.1%}…{high:+.1%})" if low == low and high == high else ""
    return f"{fraction:+.1%}{interval}"


def _p95_interval(row: Any) -> tuple[float, float]:
    """The comparison row's p95 change interval (``analysis.regression.step_changes``)."""
    return getattr(row, "p95_change_low", math.nan), getattr(row, "p95_change_high", math.nan)


def step_rows(steps: pd.DataFrame, phase: str) -> list[list[str]]:
    """Rows of the per-step table for one phase (``all`` = whole run)."""
    part = steps[steps["phase"] == phase]
    return [
        [
            str(r.step),
            f"{int(r.requests):,}",
            f"{int(r.errors):,}",
            format_percent(float(r.error_rate)),
            format_rate(float(r.throughput_per_s)),
            _ms(r.p50_ms),
            _ms(r.p95_ms),
            _ms(r.p99_ms),
            _ms(r.max_ms),
        ]
        for r in _records(part)
    ]


def status_text(gate: GateResult) -> str:
    """PASS / FAIL / NO DATA / WARN, marking a no-data ``as warn`` gate (it decides nothing)."""
    return _SYMBOL[gate.status] + (
        " (warn)" if gate.warn and gate.status is GateStatus.NO_DATA else ""
    )


def samples_text(gate: GateResult) -> str:
    """The samples a gate judged (empty for probes)."""
    return "" if gate.kind.value == "probe" else f"{gate.samples:,}"


def breach_text(gate: GateResult, limit: int = 3) -> str:
    spans = [f"{b.start_s:g}s–{b.end_s:g}s" for b in gate.breaches[:limit]]
    more = len(gate.breaches) - limit
    return ", ".join(spans) + (f" (+{more} more)" if more > 0 else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned text columns; the first ``left`` columns are left-aligned, numbers right."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def phase_order(analysis: Analysis) -> list[str]:
    present = set(analysis.steps["phase"])
    names = [p.name for p in analysis.run.phases if p.name in present]
    return names + [p for p in (AFTER_PHASES,) if p in present]


def render_terminal(analysis: Analysis) -> str:
    """A terminal report: verdict and reasons, gates, per-step table (whole run and per phase),
    validity and funnel. Plain text, no colours, fits 100 columns."""
    run = analysis.run
    out = [
        f"loadkit · run {run.run_id} · {run.status}{' (partial)' if run.partial else ''}",
        f"verdict: {analysis.verdict.value.upper()} (exit {int(analysis.exit_code)})",
    ]
    out += [f"  · {r}" for r in analysis.reasons]
    if analysis.gates:
        out += ["", "gates"]
        rows = [
            [status_text(g), g.text, g.reason or g.observed_text, samples_text(g), breach_text(g)]
            for g in analysis.gates
        ]  # the limit is in the threshold text; invariants say theirs in "observed"
        header = ("", "gate", "observed (or why no data)", "samples", "breached windows")
        out += ["  " + ln for ln in _table(header, rows, left=3)]
    out += ["", "steps, whole run"]
    out += ["  " + ln for ln in _table(STEP_COLUMNS, step_rows(analysis.steps, "all"))]
    out += _sre_sections(analysis)
    for phase in phase_order(analysis):
        out += ["", f"steps, phase {phase}"]
        out += ["  " + ln for ln in _table(STEP_COLUMNS, step_rows(analysis.steps, phase))]
    if analysis.validity.checks:  # none on a Locust CSV: its closed model has nothing to judge
        out += ["", "validity"]
        out += [
            f"  {'ok ' if c.ok else 'BAD'} {c.name}: {c.observed_text} (budget {c.budget_text})"
            for c in analysis.validity.checks
        ]
    if analysis.comparison is not None:
        rows = [
            [
                str(r.step),
                _ms(r.p95_ms_baseline),
                _ms(r.p95_ms),
                _change(r.p95_change, *_p95_interval(r)),
                _ms(r.p99_ms_baseline),
                _ms(r.p99_ms),
                _change(r.p99_change),
            ]
            for r in _records(analysis.comparison)
        ]
        out += ["", "compared with the baseline"]
        names = ("step", "p95 before", "p95 now", "change", "p99 before", "p99 now", "change")
        out += ["  " + ln for ln in _table(names, rows)]
    f = analysis.funnel
    if len(f):  # a Locust CSV has no journeys, so no funnel
        out += ["", "funnel  " + " → ".join(f"{r.stage} {int(r.visitors):,}" for r in _records(f))]
    out += journeys.terminal_lines(analysis, _table)
    return "\n".join(out) + "\n"


def _sre_sections(analysis: Analysis) -> list[str]:
    """Failures (status, error, step, count, first/last seen) and the response-time spread."""
    from loadkit.report.sre import (
        FAILURE_HEADER,
        distribution_line,
        failure_rows,
        failures_note,
        knee_line,
    )

    out = ["", "response times (successful requests)"]
    out += ["  " + ln for ln in distribution_line(analysis)]
    knee = knee_line(analysis)
    out += [f"  {knee}"] if knee else []
    rows = failure_rows(analysis, "terminal")
    if rows:
        out += ["", "failures" + failures_note(analysis, "terminal")]
        out += ["  " + ln for ln in _table(FAILURE_HEADER, rows, left=3)]
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(x: str) -> str:
        return str(x).replace("|", "\\|")

    return [
        "| " + " | ".join(esc(h) for h in header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
        *("| " + " | ".join(esc(c) for c in r) + " |" for r in rows),
    ]


def _details(title: str, body: list[str]) -> list[str]:
    return ["", "<details>", f"<summary>{title}</summary>", "", *body, "", "</details>"]


def _md_failures(analysis: Analysis) -> list[str]:
    """The most frequent failures, shown (not folded): the first thing a CI reader wants."""
    from loadkit.report.sre import FAILURE_HEADER, failure_rows, failures_note

    rows = failure_rows(analysis, "markdown")
    if not rows:
        return []
    return [
        "",
        f"### Failures{failures_note(analysis, 'markdown')}",
        "",
        *_md_table(FAILURE_HEADER, rows),
    ]


def render_markdown(analysis: Analysis) -> str:
    """``summary.md``: verdict first, gates, then details folded away."""
    run = analysis.run
    v = analysis.verdict
    out = [
        f"## {_VERDICT_EMOJI[v]} loadkit: **{v.value.upper()}** (exit {int(analysis.exit_code)})",
        "",
        f"Run `{run.run_id}` · status {run.status}"
        f"{' · **partial**' if run.partial else ''} · target `{run.target or '?'}`",
        "",
    ]
    out += [f"- {r}" for r in analysis.reasons]
    if analysis.gates:
        out += ["", "### Gates", ""]
        out += _md_table(
            ("", "gate", "observed", "limit", "samples", "breached windows", "where"),
            [
                [
                    _EMOJI[g.status] + (" (warn)" if g.warn else ""),
                    f"`{g.text}`",
                    g.observed_text,
                    g.limit_text,
                    samples_text(g),
                    breach_text(g),
                    g.location or "",
                ]
                for g in analysis.gates
            ],
        )
    out += _md_failures(analysis)
    out += _details("Steps (whole run)", _md_table(STEP_COLUMNS, step_rows(analysis.steps, "all")))
    for phase in phase_order(analysis):
        out += _details(
            f"Steps in phase {phase}", _md_table(STEP_COLUMNS, step_rows(analysis.steps, phase))
        )
    if analysis.validity.checks:  # none on a Locust CSV
        out += _details(
            "Validity (generator health)",
            _md_table(
                ("", "check", "observed", "budget"),
                [
                    ["✅" if c.ok else "🚫", c.name, c.observed_text, c.budget_text]
                    for c in analysis.validity.checks
                ],
            ),
        )
    out += journeys.markdown_lines(analysis, _md_table)
    if len(analysis.funnel):  # none on a Locust CSV
        out += _details(
            "Funnel",
            _md_table(
                ("stage", "visitors", "of previous", "of arrived"),
                [
                    [
                        str(r.stage),
                        f"{int(r.visitors):,}",
                        format_percent(float(r.of_previous)),
                        format_percent(float(r.of_arrived)),
                    ]
                    for r in _records(analysis.funnel)
                ],
            ),
        )
    wait = analysis.queue_wait_s
    if wait.size:
        qs = np.percentile(wait, [50, 90, 95, 99, 100])
        out += _details(
            "Queue wait (join → admission)",
            _md_table(
                ("visitors", "p50", "p90", "p95", "p99", "max"),
                [[f"{wait.size:,}", *(format_duration(float(v)) for v in qs)]],
            ),
        )
    if analysis.comparison is not None:
        c = analysis.comparison
        out += _details(
            "Compared with the baseline",
            _md_table(
                ("step", "p95", "p95 before", "change", "p99", "p99 before", "errors Δ pp"),
                [
                    [
                        str(r.step),
                        _ms(r.p95_ms),
                        _ms(r.p95_ms_baseline),
                        _change(r.p95_change, *_p95_interval(r)),
                        _ms(r.p99_ms),
                        _ms(r.p99_ms_baseline),
                        f"{r.error_rate_change_pp:+.2f}",
                    ]
                    for r in _records(c)
                ],
            ),
        )
    return "\n".join(out) + "\n"


__all__ = ["breach_text", "render_markdown", "render_terminal", "status_text", "step_rows"]
