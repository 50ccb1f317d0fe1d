"""Gate a plain Locust run from its ``--csv`` files (``PREFIX_stats.csv``, ``_failures.csv``).

What those files allow: per request name (and the ``Aggregated`` row) the request and failure
counts, requests per second, and Locust's *rounded, whole-run* percentiles (50 … 100 %), min,
max and average. What they cannot show (there are no per-request records): exact percentiles,
windows (``over``/``for``/``in``), phases and time ranges, start lateness and drops (Locust's
closed model has none to record), the funnel and the invariants. Thresholds that need those are
reported *no data* with that reason, which makes the verdict inconclusive (exit 3).
Selectors: ``name`` (or ``step``) matches Locust's Name column, ``method`` its Type column.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd

from loadkit.analysis.analyze import decide
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
from loadkit.gates import StatKind, Threshold, format_value

LIMITS = (
    "Locust CSV input: percentiles are Locust's rounded whole-run values; there are no "
    "per-request records, so no exact windows, phases, lateness, drops, funnel or invariants."
)
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
    if th.windowed or th.phase is not None or th.start is not None or th.end is not None:
        return "windows, phases and time ranges need per-request records"
    if th.stat.kind in (StatKind.LATENESS, StatKind.DROPS, StatKind.DROP_RATE):
        return "Locust records no start lateness or drops"
    if th.stat.kind is StatKind.SERVICE or set(dict(th.selector)) - {"name", "step", "method"}:
        return "only name/step and method selectors on response times are in the CSV"
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
    column = "Min Response Time" if stat.q == 0.0 else _PCT_COLUMNS.get(stat.q or -1.0)
    if column is None:
        return float(
            "nan"
        ), f"Locust reports no p({stat.q:g}); it has {', '.join(_PCT_COLUMNS.values())}"
    return float(row[column]), None


def csv_gate(th: Threshold, stats: pd.DataFrame) -> GateResult:
    """One threshold judged on Locust's stats CSV (see the module docstring)."""
    limit = f"{th.op.value} {th.value_text}"
    loc = str(th.location) if th.location else None
    why = _why_not(th)
    rows = _rows(th, stats) if why is None else stats.iloc[0:0]
    if why is None and rows.empty:
        why = "no matching request name in the CSV"
    value, problem = _observe(th, rows) if why is None else (float("nan"), why)
    if problem is not None or value != value:
        text = f"no data: {problem or 'no requests'}"
        return GateResult(
            th.text, GateKind.THRESHOLD, GateStatus.NO_DATA, None, text, limit, location=loc,
            warn=th.warn, reason=text,
        )  # fmt: skip
    failed = not th.passes(value)
    status = (GateStatus.WARN if th.warn else GateStatus.FAILED) if failed else GateStatus.PASSED
    return GateResult(
        th.text,
        GateKind.THRESHOLD,
        status,
        value,
        format_value(th.stat.kind, value),
        limit,
        location=loc,
        warn=th.warn,
        samples=int(rows["Request Count"].sum()),
        stat=th.stat.label,
        stat_kind=th.stat.kind.value,
        limit=th.value,
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
        ("max", "100%"),
    ):
        out[f"{label}_ms"] = stats[column].astype(float) if column in stats else np.nan
    return out


def analyze_locust_csv(
    prefix: str | Path, thresholds: list[Threshold] | tuple[Threshold, ...]
) -> Analysis:
    """Analyze a Locust ``--csv`` prefix. Raises ``ResultsError`` when the stats are missing."""
    stats = read_locust_stats(prefix)
    gates = tuple(csv_gate(th, stats) for th in thresholds)
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
    validity = Validity(())
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
        # Locust's CSVs hold no arrivals: no funnel at all rather than a row of zeros
        funnel=pd.DataFrame(columns=["stage", "visitors", "of_previous", "of_arrived"]),
        hdr=pd.DataFrame(hdr, columns=["step", "percentile", "response_ms"]),
        queue_wait_s=np.array([], dtype=float),
    )


__all__ = ["LIMITS", "analyze_locust_csv", "csv_gate", "read_locust_stats"]
