"""The failures table: what went wrong, where, how often, and when (first and last seen).

One row per (HTTP status, outcome, error text, step) of the requests that were not ok, most
frequent first: what an SRE reads first in a war room. Times are seconds after t0 (intended
start). Error texts are the recorder's (short, credentials already redacted).
"""

from __future__ import annotations

import pandas as pd

from loadkit.results.reader import Run
from loadkit.results.schema import GENERATOR_FAULT_PREFIX, Outcome

FAILURE_COLUMNS = ("status", "outcome", "error", "step", "count", "first_s", "last_s")
MAX_FAILURE_ROWS = 50


def failure_table(requests: pd.DataFrame, limit: int = MAX_FAILURE_ROWS) -> pd.DataFrame:
    """Failed requests grouped by (status, outcome, error, step): count, first_s, last_s.

    ``requests`` needs ``status``, ``outcome``, ``error``, ``step`` and ``t_s``; status 0 means
    no answer. At most ``limit`` rows, most frequent first (ties: first seen first)."""
    failed = requests[requests["outcome"].astype(str) != Outcome.OK.value]
    if failed.empty:
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    keys = pd.DataFrame(
        {
            "status": failed["status"].fillna(0).astype(int),
            "outcome": failed["outcome"].astype(str),
            "error": failed["error"].astype(object).fillna("").astype(str),
            "step": failed["step"].astype(str),
            "t_s": failed["t_s"].to_numpy(float),
        }
    )
    grouped = keys.groupby(["status", "outcome", "error", "step"], sort=False)["t_s"]
    table = grouped.agg(count="size", first_s="min", last_s="max").reset_index()
    table = table.sort_values(["count", "first_s"], ascending=[False, True])
    return table.head(limit).reset_index(drop=True)[list(FAILURE_COLUMNS)]


def run_failures(run: Run, requests: pd.DataFrame) -> pd.DataFrame:
    """``failure_table`` of a run, given the analyzer's ``requests`` (outcome, step, t_s):
    status and error text are read for the failed rows only (same row order as any read)."""
    failed = (requests["outcome"].astype(str) != Outcome.OK.value).to_numpy()
    if not failed.any():
        return failure_table(requests.iloc[:0].assign(status=[], error=[]))
    detail = run.load_requests(["status", "error"])[failed].reset_index(drop=True)
    for column in ("outcome", "step", "t_s"):
        detail[column] = requests[column].to_numpy()[failed]
    return failure_table(detail)


def generator_faults(run: Run, requests: pd.DataFrame) -> dict[str, int]:
    """Error text -> count of the requests the load generator's own resources failed
    (``connection_error`` rows whose text starts ``GENERATOR_FAULT_PREFIX``), most frequent
    first; empty when none. The error column is read only when a connection error exists."""
    failed = (requests["outcome"].astype(str) == Outcome.CONNECTION_ERROR.value).to_numpy()
    if not failed.any():
        return {}
    errors = run.load_requests(["error"])["error"][failed].astype(object).dropna().astype(str)
    faults = errors[errors.str.startswith(GENERATOR_FAULT_PREFIX)]
    return {str(k): int(v) for k, v in faults.value_counts().items()}


__all__ = [
    "FAILURE_COLUMNS",
    "MAX_FAILURE_ROWS",
    "failure_table",
    "generator_faults",
    "run_failures",
]
