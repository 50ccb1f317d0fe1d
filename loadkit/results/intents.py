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
    keys = list(INTENT_KEYS)
    if requests.empty:
        return _empty(requests)
    ordered = requests.sort_values(["intent_ns", "start_ns"], kind="stable")
    grouped = ordered.groupby(keys, sort=False, observed=True, dropna=False)
    gid = grouped.ngroup().to_numpy()
    n = int(gid.max()) + 1
    attempts = np.bincount(gid, minlength=n)
    position = grouped.cumcount().to_numpy()
    first = ordered[position == 0].set_axis(gid[position == 0]).sort_index()
    last_mask = position == attempts[gid] - 1
    last = ordered[last_mask].set_axis(gid[last_mask]).sort_index()
    end_ns = last["intended_ns"].to_numpy(np.int64) + np.rint(
        last["response_ms"].to_numpy(np.float64) * 1e6
    ).astype(np.int64)
    intended_ns = first["intent_ns"].to_numpy(np.int64)
    out = pd.DataFrame(
        {
            "arrival_id": first["arrival_id"].to_numpy(),
            "worker": last["worker"].to_numpy(),
            "persona": last["persona"].to_numpy(),
            "step": first["step"].to_numpy(),
            "name": first["name"].to_numpy(),
            "method": last["method"].to_numpy(),
            "intent_ns": intended_ns,
            "intended_ns": intended_ns,
            "start_ns": first["start_ns"].to_numpy(np.int64),
            "end_ns": end_ns,
            "attempts": attempts.astype(np.int16),
        }
    )
    for column in ("status", "outcome", "error", "bytes", "service_ms"):
        out[column] = last[column].to_numpy()
    out["response_ms"] = (end_ns - intended_ns) / 1e6
    out["t_s"] = (intended_ns - t0_ns) / 1e9
    for column in ("persona", "step", "name", "method", "outcome"):  # keep the requests' dtypes
        out[column] = out[column].astype(requests[column].dtype)
    return out.sort_values("intended_ns", kind="stable").reset_index(drop=True)


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
