"""Gate a plain Locust run from its ``--csv`` files (``PREFIX_stats.csv``, ``_stats_history.csv``).

What those files allow: per request name (and the ``Aggregated`` row) the request and failure
counts, requests per second, Locust's *rounded, whole-run* percentiles (50 … 100 %), and its
exact min, max and average; the history file adds cumulative counts about once a second, which
drive windowed ``count`` / ``rate`` / ``error_rate`` gates (``loadkit.analysis.locust_history``).

Judged like Locust: Locust's response times include failed requests, so latency gates on a CSV
do too, and the summary says so. A failed request also counts as slower than any limit: a
``p(q)`` gate fails when more than (100 − q)% of the selected requests failed (its q-th
percentile then falls on a failure), ``max`` when any failed, ``avg`` and ``min`` when all
failed; otherwise the value is Locust's (``max`` from the exact Max column). So a latency gate
never passes on an endpoint that only failed fast.

What the files cannot show (there are no per-request records): exact percentiles, latency
windows, phases and time ranges, start lateness and drops (Locust's closed model has none to
record), the funnel and the invariants. Thresholds that need those are reported *no data*
with that reason, which makes the verdict inconclusive (exit 3). Selectors: ``name`` (or
``step``) matches Locust's Name column, ``method`` its Type column.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis.analyze import decide
from loadkit.analysis.locust_history import History, history_gate, read_history, why_no_history
from loadkit.analysis.model import (
    Analysis,
    GateKind,
    GateResult,
    GateStatus,
    RunInfo,
    Validity,
    ValidityBudget,
)
from loadkit.errors import ResultsError
from loadkit.gates import LATENCY_KINDS, StatKind, Threshold, format_value
from loadkit.units import format_percent

LIMITS = (
    "Locust CSV input: response times include failed requests, as Locust's percentiles do "
    "(and a latency gate fails when failures alone breach it); percentiles are Locust's "
    "rounded whole-run values; there are no per-request records, so no exact or latency "
    "windows, phases, lateness, drops, funnel or invariants."
)
_FUNNEL_COLUMNS = ["stage", "visitors", "of_previous", "of_arrived"]
_PCT_COLUMNS = {
    50.0: "50%",
    66.0: "66%",
    75.0: "75%",
    80.0: "80%",
    90.0: "90%",
    95.0: "95%",
    98.0: "98%",
    99.0: "99%",
    99.9: "99.9%",
    99.99: "99.99%",
    100.0: "100%",
}


def read_locust_stats(prefix: str | Path) -> pd.DataFrame:
    """``PREFIX_stats.csv`` as a DataFrame. Raises ``ResultsError`` when it is missing."""
    path = Path(f"{prefix}_stats.csv")
    try:
        stats = pd.read_csv(path, na_values=["N/A"])
    except FileNotFoundError:
        raise ResultsError(
            f"{path} not found", hint="Pass the prefix given to locust --csv (e.g. out/run)."
        ) from None
    except (OSError, pd.errors.ParserError) as exc:
        raise ResultsError(f"{path} cannot be read: {exc}") from None
    if not {"Name", "Request Count", "Failure Count"} <= set(stats.columns):
        raise ResultsError(f"{path} is not a Locust stats CSV (no Name/Request Count columns)")
    return stats


def _rows(th: Threshold, stats: pd.DataFrame) -> pd.DataFrame:
    sel = dict(th.selector)
    name = sel.get("name") or sel.get("step")
    if name is None and "method" not in sel:
        return stats[stats["Name"] == "Aggregated"]
    rows = stats[stats["Name"] != "Aggregated"]
    if name is not None:
        rows = rows[[fnmatch.fnmatchcase(str(n), name) for n in rows["Name"]]]
    if "method" in sel:
        rows = rows[[fnmatch.fnmatchcase(str(t), sel["method"]) for t in rows["Type"]]]
    return rows


def _why_not(th: Threshold) -> str | None:
    if th.invariant is not None or th.regression:
        return "invariants and regressions need loadkit's own records"
    if th.phase is not None or th.start is not None or th.end is not None:
        return "windows, phases and time ranges need per-request records"
    if th.stat.kind in (StatKind.LATENESS, StatKind.DROPS, StatKind.DROP_RATE):
        return "Locust records no start lateness or drops"
    if th.stat.kind is StatKind.SERVICE or set(dict(th.selector)) - {"name", "step", "method"}:
        return "only name/step and method selectors on response times are in the CSV"
    return None


def _failures_breach(th: Threshold, rows: pd.DataFrame) -> str | None:
    """Why the failures alone breach a latency gate (a failure is slower than any limit)."""
    requests = float(rows["Request Count"].sum())
    failures = float(rows["Failure Count"].sum())
    if th.stat.kind not in LATENCY_KINDS or requests == 0 or failures == 0:
        return None
    share = failures / requests
    stat = th.stat
    if stat.is_mean or stat.q == 0.0:
        allowed = 1.0  # avg and min: only when nothing succeeded
    else:
        allowed = 1.0 - (stat.q if stat.q is not None else 50.0) / 100.0
    if share >= 1.0:
        return f"every request failed ({failures:,.0f} of {requests:,.0f}): none was served"
    if share > allowed + 1e-12:
        return (
            f"{format_percent(share)} of requests failed, more than the "
            f"{format_percent(allowed)} a {stat.label} allows"
        )
    return None


def _observe(th: Threshold, rows: pd.DataFrame) -> tuple[float, str | None]:
    kind, stat = th.stat.kind, th.stat
    requests = float(rows["Request Count"].sum())
    if kind is StatKind.COUNT:
        return requests, None
    if kind is StatKind.RATE:
        return float(rows["Requests/s"].sum()), None
    if kind is StatKind.ERROR_RATE:
        fails = float(rows["Failure Count"].sum())
        return (fails / requests if requests else float("nan")), None
    if len(rows) != 1:
        return float("nan"), "percentiles of several request names cannot be combined"
    row = rows.iloc[0]
    if stat.is_mean:
        return float(row["Average Response Time"]), None
    exact = {0.0: "Min Response Time", 100.0: "Max Response Time"}
    column = exact.get(stat.q or 0.0) or _PCT_COLUMNS.get(stat.q or -1.0)
    if column is None:
        return float(
            "nan"
        ), f"Locust reports no p({stat.q:g}); it has {', '.join(_PCT_COLUMNS.values())}"
    return float(row[column]), None


def csv_gate(th: Threshold, stats: pd.DataFrame, history: History | None = None) -> GateResult:
    """One threshold judged on Locust's stats CSV, windowed ones on its ``history`` (see the
    module docstring)."""
    limit = f"{th.op.value} {th.value_text}"
    about: dict[str, Any] = {
        "location": str(th.location) if th.location else None,
        "stat": th.stat.label,
        "stat_kind": th.stat.kind.value,
        "limit": th.value,
        "selector": th.selector,
        "warn": th.warn,
    }
    why = _why_not(th)
    if why is None and th.windowed:
        why = why_no_history(th, history)
        if why is None and history is not None:
            return history_gate(th, history, about)
    rows = _rows(th, stats) if why is None else stats.iloc[0:0]
    if why is None and rows.empty:
        why = "no matching request name in the CSV"
    samples = int(rows["Request Count"].sum())
    breach = _failures_breach(th, rows) if why is None else None
    value, problem = _observe(th, rows) if why is None else (float("nan"), why)
    if breach is not None:  # failures decide it, whatever Locust's (failure-fed) value says
        known = value == value
        shown = f" (Locust's {th.stat.label}: {format_value(th.stat.kind, value)})" if known else ""
        status = GateStatus.WARN if th.warn else GateStatus.FAILED
        observed = value if known else None
        text = breach + shown
        return GateResult(
            th.text, GateKind.THRESHOLD, status, observed, text, limit, samples=samples, **about
        )
    if problem is not None or value != value:
        text = f"no data: {problem or 'no requests'}"
        return GateResult(
            th.text, GateKind.THRESHOLD, GateStatus.NO_DATA, None, text, limit, reason=text, **about
        )
    failed = not th.passes(value)
    status = (GateStatus.WARN if th.warn else GateStatus.FAILED) if failed else GateStatus.PASSED
    text = format_value(th.stat.kind, value)
    if th.stat.kind in LATENCY_KINDS and int(rows["Failure Count"].sum()) > 0:
        text += " incl. failures"
    return GateResult(
        th.text, GateKind.THRESHOLD, status, value, text, limit, samples=samples, **about
    )


def _steps(stats: pd.DataFrame) -> pd.DataFrame:
    requests = stats["Request Count"].astype(int)
    errors = stats["Failure Count"].astype(int)
    out = pd.DataFrame(
        {
            "step": ["all" if n == "Aggregated" else str(n) for n in stats["Name"]],
            "phase": "all",
            "requests": requests,
            "ok": requests - errors,
            "errors": errors,
            "error_rate": errors / requests.clip(lower=1),
            "throughput_per_s": stats["Requests/s"].astype(float),
        }
    )
    for label, column in (
        ("p50", "50%"),
        ("p90", "90%"),
        ("p95", "95%"),
        ("p99", "99%"),
        ("p99.9", "99.9%"),
        ("max", "Max Response Time"),  # exact, where 100% is rounded
    ):
        out[f"{label}_ms"] = stats[column].astype(float) if column in stats else np.nan
    return out


def analyze_locust_csv(
    prefix: str | Path, thresholds: list[Threshold] | tuple[Threshold, ...]
) -> Analysis:
    """Analyze a Locust ``--csv`` prefix. Raises ``ResultsError`` when the stats are missing
    or a stats / history file is not Locust's."""
    stats = read_locust_stats(prefix)
    history = read_history(prefix)
    gates = tuple(csv_gate(th, stats, history) for th in thresholds)
    info = RunInfo(
        run_id=Path(prefix).name,
        path=str(prefix),
        status="completed",
        partial=False,
        partial_reasons=(),
        t0_ns=0,
        onsale_offset_s=0.0,
        duration_s=0.0,
        phases=(),
        target="",
        scenario="locust csv",
    )
    validity = Validity(())  # Locust's closed model records no lateness or drops to judge
    total = stats[stats["Name"] == "Aggregated"]
    ok = int((total["Request Count"] - total["Failure Count"]).sum())
    verdict, reasons = decide(
        "completed", None, validity, gates, ok, ValidityBudget().min_ok_requests
    )
    hdr = [
        (str(n), q, float(r[c]))
        for _, r in stats.iterrows()
        for q, c in _PCT_COLUMNS.items()
        if (n := r["Name"]) != "Aggregated" and c in stats and r[c] == r[c]
    ]
    return Analysis(
        run=info,
        verdict=verdict,
        reasons=(*reasons, LIMITS),
        gates=gates,
        validity=validity,
        steps=_steps(stats),
        windows=pd.DataFrame(),
        generator=pd.DataFrame(),
        funnel=pd.DataFrame(columns=_FUNNEL_COLUMNS),  # no journeys: no funnel to show
        hdr=pd.DataFrame(hdr, columns=["step", "percentile", "response_ms"]),
        queue_wait_s=np.array([], dtype=float),
    )


__all__ = ["LIMITS", "analyze_locust_csv", "csv_gate", "read_locust_stats"]
