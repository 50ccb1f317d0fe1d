"""How journeys ended, per persona, in every report: outcomes with leave reasons and the
outcome labels answers were given (``Analysis.outcomes`` / ``Analysis.labels``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from loadkit.analysis import Analysis
from loadkit.units import format_percent

_OUTCOME_HEADER = ("persona", "outcome", "reason", "visitors", "share")
_LABEL_HEADER = ("persona", "step", "label", "requests")
TERMINAL_ROWS = 12  # the terminal shows the commonest; summary.md and report.html show all


def _frame(analysis: Analysis, name: str) -> pd.DataFrame:
    frame = getattr(analysis, name, None)
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def _share(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else \
        format_percent(float(value))  # fmt: skip


def outcome_rows(analysis: Analysis) -> list[list[str]]:
    """Rows of ``_OUTCOME_HEADER``: per persona, each outcome and reason, commonest first."""
    frame = _frame(analysis, "outcomes")
    if frame.empty:
        return []
    frame = frame.sort_values(["persona", "visitors"], ascending=[True, False], kind="stable")
    rows: list[Any] = list(frame.itertuples(index=False))
    return [
        [str(r.persona), str(r.outcome), str(r.reason) or "—", f"{int(r.visitors):,}",
         _share(r.share)]
        for r in rows
    ]  # fmt: skip


def label_rows(analysis: Analysis) -> list[list[str]]:
    rows: list[Any] = list(_frame(analysis, "labels").itertuples(index=False))
    return [[str(r.persona), str(r.step), str(r.label), f"{int(r.requests):,}"] for r in rows]


def terminal_lines(analysis: Analysis, table: Any) -> list[str]:
    """Lines for the terminal report; ``table(header, rows, left)`` lays out columns (the
    first ``left`` aligned left)."""
    out: list[str] = []
    rows = outcome_rows(analysis)
    if rows:
        shown = sorted(rows, key=lambda r: -int(r[3].replace(",", "")))[:TERMINAL_ROWS]
        out += ["", "how journeys ended (per persona)"]
        out += ["  " + ln for ln in table(_OUTCOME_HEADER, shown, 3)]  # text columns left
        if len(rows) > len(shown):
            out.append(f"  ... {len(rows) - len(shown)} more in summary.md")
    labels = label_rows(analysis)
    if labels:
        out += ["", "outcome labels"] + ["  " + ln for ln in table(_LABEL_HEADER, labels, 3)]
    return out


def markdown_lines(analysis: Analysis, table: Any) -> list[str]:
    """Markdown tables for summary.md; ``table(header, rows)`` renders one."""
    out: list[str] = []
    rows = outcome_rows(analysis)
    if rows:
        out += ["", "### How journeys ended", "", *table(_OUTCOME_HEADER, rows)]
    labels = label_rows(analysis)
    if labels:
        out += ["", "### Outcome labels", "", *table(_LABEL_HEADER, labels)]
    return out


def html_parts(analysis: Analysis, table: Any) -> list[str]:
    """HTML sections for report.html; ``table(header, rows)`` renders one table."""
    out: list[str] = []
    rows = outcome_rows(analysis)
    if rows:
        out += ["<h2>How journeys ended</h2>", table(list(_OUTCOME_HEADER), rows)]
    labels = label_rows(analysis)
    if labels:
        out += ["<h2>Outcome labels</h2>", table(list(_LABEL_HEADER), labels)]
    return out


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for row in frame.itertuples(index=False):
        item = {c: getattr(row, c) for c in columns}
        for key, value in item.items():
            if isinstance(value, float) and math.isnan(value):
                item[key] = None
            elif hasattr(value, "item"):
                item[key] = value.item()
        out.append(item)
    return out


def journeys_json(analysis: Analysis) -> dict[str, Any]:
    """``verdict.json``'s ``funnel``, ``outcomes`` and ``labels`` (lists of objects)."""
    funnel = analysis.funnel
    return {
        "funnel": _records(funnel, ["stage", "visitors", "of_previous", "of_arrived"]),
        "outcomes": _records(_frame(analysis, "outcomes"), _OUTCOME_HEADER),
        "labels": _records(_frame(analysis, "labels"), _LABEL_HEADER),
    }


__all__ = ["html_parts", "journeys_json", "markdown_lines", "terminal_lines"]
