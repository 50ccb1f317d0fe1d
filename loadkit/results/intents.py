"""Request intents: what a person meant to do once, however many attempts it took.

A request retried inside a ``retry`` block writes one request row per attempt; the rows of one
intent share ``(arrival_id, step, name, intent_ns)``, ``intent_ns`` being the first attempt's
intended start. ``intents(requests)`` folds them into one row per intent, with the columns the
requests frame has (so the same selectors and stats apply) and times as the fan lived them:
``response_ms`` runs from the first attempt's intended start to the final attempt's last byte.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INTENT_KEYS = ("arrival_id", "step", "name", "intent_ns")


def intents(requests: pd.DataFrame, t0_ns: int = 0) -> pd.DataFrame:
    """One row per intent of ``requests`` (a requests frame with every REQUEST_SCHEMA column).

    Columns: ``arrival_id, worker, persona, step, name, method`` (as the rows), ``intent_ns``
    (the key shared by its rows), ``intended_ns`` (first attempt's intended start, ==
    ``intent_ns``), ``start_ns`` (first attempt's actual start), ``end_ns`` (final attempt's
    last byte, epoch ns), ``attempts`` (rows folded), ``status, outcome, error, bytes,
    service_ms`` (of the final attempt), ``response_ms`` (end_ns - intended_ns, in ms) and
    ``t_s`` (intended start, seconds after ``t0_ns``). Rows in order of intended start.
    """
    if requests.empty:
        return _empty(requests)
    # one lexsort on (intent key, start), then columns taken by position (dtypes kept): 0.6 s
    # for 1.2 M rows on a loaded 2-core VM, ~6x faster than a groupby and per-column casts
    keys = [_codes(requests[k]) for k in INTENT_KEYS]
    order = np.lexsort((requests["start_ns"].to_numpy(np.int64), *reversed(keys)))
    ordered = [k[order] for k in keys]
    starts = np.zeros(order.size, dtype=bool)  # a row that begins a new intent
    starts[0] = True
    for k in ordered:
        starts[1:] |= k[1:] != k[:-1]
    begin = np.flatnonzero(starts)
    attempts = np.diff(np.append(begin, order.size))
    first, last = order[begin], order[begin + attempts - 1]
    intended_ns = requests["intent_ns"].to_numpy(np.int64)[first]
    by_time = np.argsort(intended_ns, kind="stable")  # rows in order of intended start
    first, last, attempts, intended_ns = (a[by_time] for a in (first, last, attempts, intended_ns))
    end_ns = requests["intended_ns"].to_numpy(np.int64)[last] + np.rint(
        requests["response_ms"].to_numpy(np.float64)[last] * 1e6
    ).astype(np.int64)

    def take(column: str, rows: np.ndarray) -> pd.Series:  # keeps dtypes (categoricals)
        return requests[column].iloc[rows].reset_index(drop=True)

    out = pd.DataFrame(
        {
            "arrival_id": take("arrival_id", first),
            "worker": take("worker", last),
            "persona": take("persona", last),
            "step": take("step", first),
            "name": take("name", first),
            "method": take("method", last),
            "intent_ns": intended_ns,
            "intended_ns": intended_ns,
            "start_ns": take("start_ns", first),
            "end_ns": end_ns,
            "attempts": attempts.astype(np.int16),
            **{c: take(c, last) for c in ("status", "outcome", "error", "bytes", "service_ms")},
            "response_ms": (end_ns - intended_ns) / 1e6,
            "t_s": (intended_ns - t0_ns) / 1e9,
        }
    )
    return out


def _codes(column: pd.Series) -> np.ndarray:
    """Integers equal exactly where the column's values are equal."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes.to_numpy())
    if column.dtype.kind in "iu":
        return np.asarray(column.to_numpy())
    return np.asarray(pd.factorize(column)[0])


def _empty(requests: pd.DataFrame) -> pd.DataFrame:
    frame = requests.iloc[:0]
    added = {"end_ns": np.int64, "attempts": np.int16, "t_s": np.float64}
    return pd.DataFrame(
        {c: np.array([], added[c]) if c in added else frame[c].to_numpy() for c in _COLUMNS}
    ).astype({c: frame[c].dtype for c in _COLUMNS if c not in added})


_COLUMNS = ["arrival_id", "worker", "persona", "step", "name", "method", "intent_ns",
            "intended_ns", "start_ns", "end_ns", "attempts", "status", "outcome", "error",
            "bytes", "service_ms", "response_ms", "t_s"]  # fmt: skip

__all__ = ["INTENT_KEYS", "intents"]
