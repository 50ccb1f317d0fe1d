"""The numeric core shared by ``Run`` and the analyzer: exact grouped percentiles and windows.

Percentiles are exact, from the raw records: values are sorted once per group (``np.lexsort``
on group code then value) and read by index, with numpy's default linear interpolation, so
``grouped_quantiles`` agrees with ``np.percentile`` group by group. Windows are tumbling,
aligned to t0 on the *intended* start of each request (no coordinated omission); a wider
window is computed from the records again, never by averaging narrower windows' percentiles.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from loadkit.profiles import Phase
from loadkit.results.schema import ArrivalOutcome, Outcome

QUANTILES = (50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
QUANTILE_LABELS = ("p50", "p90", "p95", "p99", "p99.9", "max")
ERROR_OUTCOMES = tuple(o.value for o in Outcome if o is not Outcome.OK)
FUNNEL_STAGES = ("arrived", "joined", "admitted", "held", "paid")


@dataclass(frozen=True)
class Ranked:
    """Values sorted once: ``sorted_values`` ascending and each value's ``rank`` (position) in
    it. Share one between several groupings of the same values to sort them only once."""

    sorted_values: np.ndarray
    rank: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Ranked:
        return cls(*_sort_and_rank(np.ascontiguousarray(values, dtype=np.float64)))


_INT64_MAX = np.int64(0x7FFF_FFFF_FFFF_FFFF)


def _sort_and_rank(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` sorted (NaN last, like ``np.sort``) and each value's position in them.

    Faster than ``np.argsort``: one integer sort of keys that pack each value's leading bits
    with its position, then a local fix of the rare runs whose leading bits tie. Buffers are
    reused because on big runs every fresh array costs page faults."""
    n = values.size
    index_bits = max(int(n - 1).bit_length(), 1)
    mask = np.int64((1 << index_bits) - 1)
    bits = values.view(np.int64)
    # IEEE 754 bits as an int64 that orders like the floats: flip the magnitude of negatives
    key = bits >> 63
    key &= _INT64_MAX
    key ^= bits
    nan = np.isnan(values)
    if nan.any():
        key[nan] = _INT64_MAX
    del nan
    key >>= index_bits
    key <<= index_bits
    order = np.arange(n, dtype=np.int64)
    key |= order
    key.sort()
    np.bitwise_and(key, mask, out=order)
    sorted_values = values[order]
    bad = np.flatnonzero(sorted_values[1:] < sorted_values[:-1])
    if bad.size:
        _fix_ties(key, ~mask, bad, order, sorted_values)
    rank = key  # the keys are no longer needed: their buffer becomes the ranks
    rank[order] = np.arange(n, dtype=np.int64)
    return sorted_values, rank


def _fix_ties(
    key: np.ndarray, high: np.int64, bad: np.ndarray, order: np.ndarray, sorted_values: np.ndarray
) -> None:
    """Sort, in place, the runs of equal leading bits that hold an inversion (``bad``)."""
    lead = key[bad] & high
    lo = np.unique(np.searchsorted(key, lead, "left"))
    hi = np.searchsorted(key, (key[lo] & high) | ~high, "right")
    lengths = hi - lo
    run = np.repeat(np.arange(lo.size), lengths)
    sel = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
    sub = sel[np.lexsort((sorted_values[sel], run))]
    order[sel] = order[sub]
    sorted_values[sel] = sorted_values[sub]


def ranked_quantiles(
    codes: np.ndarray, ranks: np.ndarray, ranked: Ranked, n_groups: int, qs: Sequence[float]
) -> np.ndarray:
    """Like ``grouped_quantiles`` for the values whose ranks in ``ranked`` are ``ranks``."""
    out = np.full((n_groups, len(qs)), np.nan)
    if ranks.size == 0 or n_groups == 0:
        return out
    size = max(ranked.sorted_values.size, 1)
    # one integer sort orders by group, then by value (its rank): no float lexsort needed;
    # only the few positions each percentile reads are decoded back into values
    if n_groups == 1:  # every code is 0
        key = np.sort(ranks)
        counts = np.array([ranks.size])
    else:
        key = np.multiply(codes, size, dtype=np.int64)  # one temporary, filled in place
        key += ranks
        key.sort()
        counts = np.bincount(codes, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    has = np.flatnonzero(counts > 0)
    n = counts[has]
    base = starts[has]
    offset = has.astype(np.int64) * size

    def value_at(pos: np.ndarray) -> np.ndarray:
        return np.asarray(ranked.sorted_values[key[base + pos] - offset])

    for j, q in enumerate(qs):
        pos = (q / 100.0) * (n - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = pos - lo
        a = value_at(lo)
        b = value_at(hi)
        out[has, j] = a + (b - a) * frac
    return out


def grouped_quantiles(
    codes: np.ndarray, values: np.ndarray, n_groups: int, qs: Sequence[float]
) -> np.ndarray:
    """Percentiles ``qs`` (0–100) of ``values`` per group ``codes`` (ints in ``[0, n_groups)``).

    Returns an array of shape ``(n_groups, len(qs))``; NaN for empty groups. Exact, with
    numpy's default (linear) interpolation.
    """
    ranked = Ranked.of(np.asarray(values, dtype=float))
    return ranked_quantiles(codes, ranked.rank, ranked, n_groups, qs)


def window_index(t_s: np.ndarray, width_s: float) -> np.ndarray:
    """Index of the tumbling window (aligned to t0) holding each time, as int64."""
    scaled = np.divide(np.asarray(t_s, dtype=float), width_s)
    np.floor(scaled, out=scaled)  # in place: one float temporary for millions of rows
    codes: np.ndarray = scaled.astype(np.int64)
    return codes


# Requests and arrivals after the profile's last phase: journeys finishing during the drain.
AFTER_PHASES = "drain"


def phase_labels(t_s: np.ndarray, phases: Sequence[Phase]) -> pd.Categorical:
    """The phase holding each time (first match wins); ``AFTER_PHASES`` outside them all."""
    names = [p.name for p in phases]
    cats = [*dict.fromkeys(names), AFTER_PHASES]
    codes = np.full(len(t_s), len(cats) - 1, dtype=np.int32)
    unset = np.ones(len(t_s), dtype=bool)
    for phase in phases:
        name, start_s, end_s = phase.name, phase.start_s, phase.end_s
        hit = unset & (t_s >= start_s) & (t_s < end_s)
        codes[hit] = cats.index(name)
        unset &= ~hit
    return cast(pd.Categorical, pd.Categorical.from_codes(codes, categories=pd.Index(cats)))


def _key_codes(requests: pd.DataFrame, by: str | None) -> tuple[np.ndarray, list[str]]:
    if by is None or by == "all":
        return np.zeros(len(requests), dtype=np.int64), ["all"]
    col = requests[by]
    cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
    return cat.cat.codes.to_numpy().astype(np.int64), [str(c) for c in cat.cat.categories]


def request_windows(
    requests: pd.DataFrame,
    *,
    width_s: float = 1.0,
    by: str | None = "step",
    ranks: Mapping[str, Ranked] | None = None,
) -> pd.DataFrame:
    """Tidy per-window stats of request records (needs ``t_s``, ``outcome``, ``response_ms``,
    ``service_ms`` and the ``by`` column).

    One row per (key, window) with any request: ``requests``, one count column per outcome
    class, ``error_rate``, ``rate_per_s`` (achieved), and response/service percentiles of ok
    requests (``response_p95_ms`` ...; NaN when the window has no ok request). ``ranks`` may
    hold each time column already sorted (``Ranked.of(column)``, same row order) to save a sort.
    """
    keys, labels = _key_codes(requests, by)
    widx = window_index(requests["t_s"].to_numpy(), width_s)
    if widx.size == 0:
        return pd.DataFrame(columns=["key", "window_start_s", "requests"])
    wmin, n_w = int(widx.min()), int(widx.max() - widx.min() + 1)
    widx -= wmin
    keys *= n_w  # ``keys`` is this function's own array: reuse it for the group codes
    keys += widx
    codes = keys
    del widx
    n_groups = len(labels) * n_w
    total = np.bincount(codes, minlength=n_groups)
    present = np.flatnonzero(total)
    outcome_cat = requests["outcome"].astype("category")
    outcome_cats = [str(c) for c in outcome_cat.cat.categories]
    outcome_codes = outcome_cat.cat.codes.to_numpy()
    columns: dict[str, Any] = {
        "key": pd.Categorical.from_codes(present // n_w, categories=pd.Index(labels)),
        "window_start_s": ((present % n_w) + wmin) * width_s,
        "window_s": width_s,
        "requests": total[present],
    }

    # one count per (group, outcome) in a single pass; slot 0 holds a missing outcome (code -1)
    n_out = len(outcome_cats) + 1
    by_outcome = codes * n_out
    by_outcome += outcome_codes
    by_outcome += 1
    counts = np.bincount(by_outcome, minlength=n_groups * n_out).reshape(n_groups, n_out)
    del by_outcome
    for name in (Outcome.OK.value, *ERROR_OUTCOMES):
        found = name in outcome_cats
        columns[name] = counts[present, outcome_cats.index(name) + 1] if found else 0 * present
    columns["error_rate"] = 1.0 - columns["ok"] / columns["requests"]
    columns["rate_per_s"] = columns["requests"] / width_s
    ok_code = outcome_cats.index(Outcome.OK.value) if Outcome.OK.value in outcome_cats else -2
    ok = np.asarray(outcome_codes == ok_code)
    codes_ok = codes[ok]
    for column in ("response_ms", "service_ms"):
        ranked = (ranks or {}).get(column) or Ranked.of(requests[column].to_numpy(dtype=float))
        q = ranked_quantiles(codes_ok, ranked.rank[ok], ranked, n_groups, QUANTILES)
        for j, label in enumerate(QUANTILE_LABELS):
            columns[f"{column.removesuffix('_ms')}_{label}_ms"] = q[present, j]
    out = pd.DataFrame(columns)  # built at once: inserting columns one by one is slow
    if by not in (None, "all"):
        out = out.rename(columns={"key": by})
    return out


def generator_windows(arrivals: pd.DataFrame, t0_ns: int, *, width_s: float = 1.0) -> pd.DataFrame:
    """Per-window generator health from arrival records: offered and started rate, drops,
    lateness percentiles (ms) and visitors in flight at each window's end."""
    sched_s = (arrivals["scheduled_ns"].to_numpy() - t0_ns) / 1e9
    if sched_s.size == 0:
        return pd.DataFrame(columns=["window_start_s", "offered_per_s"])
    widx = window_index(sched_s, width_s)
    wmin, n_w = int(widx.min()), int(widx.max() - widx.min() + 1)
    rel = widx - wmin
    # compare the categorical itself: ``astype(str)`` would build millions of strings
    dropped = (arrivals["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
    late = arrivals["lateness_ms"].to_numpy(dtype=float, na_value=np.nan)
    has_late = ~dropped & ~np.isnan(late)
    q = grouped_quantiles(rel[has_late], late[has_late], n_w, (50.0, 99.0, 100.0))
    starts = np.sort(arrivals["actual_ns"].dropna().to_numpy(dtype=np.int64))
    ends = np.sort(arrivals["end_ns"].dropna().to_numpy(dtype=np.int64))
    edge_ns = t0_ns + ((np.arange(n_w) + wmin + 1) * width_s * 1e9).astype(np.int64)
    in_flight = np.searchsorted(starts, edge_ns, "right") - np.searchsorted(ends, edge_ns, "right")
    offered = np.bincount(rel, minlength=n_w)
    n_dropped = np.bincount(rel[dropped], minlength=n_w)
    return pd.DataFrame(
        {
            "window_start_s": (np.arange(n_w) + wmin) * width_s,
            "window_s": width_s,
            "offered": offered,
            "offered_per_s": offered / width_s,
            "started_per_s": (offered - n_dropped) / width_s,
            "dropped": n_dropped,
            "lateness_p50_ms": q[:, 0],
            "lateness_p99_ms": q[:, 1],
            "lateness_max_ms": q[:, 2],
            "in_flight": in_flight,
        }
    )


def selection_mask(
    frame: pd.DataFrame, selector: Sequence[tuple[str, str]], ignore: Sequence[str] = ()
) -> np.ndarray:
    """Rows of ``frame`` matching every ``key=value`` (``*`` globs allowed) except ``ignore``d
    keys. Categorical columns are matched on their categories, so this is fast on big frames."""
    mask = np.ones(len(frame), dtype=bool)
    for key, pattern in selector:
        if key in ignore or key not in frame.columns:
            continue
        col = frame[key]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = [str(c) for c in col.cat.categories]
            allowed = [i for i, c in enumerate(cats) if fnmatch.fnmatchcase(c, pattern)]
            mask &= np.isin(col.cat.codes.to_numpy(), allowed)
        else:
            # a null (a reason an arrival that completed lacks) matches nothing but "" globs
            text = (col.fillna("") if col.hasnans else col).astype(str).to_numpy()
            mask &= (
                np.array([fnmatch.fnmatchcase(v, pattern) for v in text], dtype=bool)
                if any(ch in pattern for ch in "*?[")
                else text == pattern
            )
    return mask


def nonempty(series: pd.Series) -> np.ndarray:
    """True where a list column holds at least one item (a missing value: None, NaN or NA,
    holds none)."""
    if isinstance(series.dtype, pd.ArrowDtype):
        lengths = series.list.len().fillna(0)
        return np.asarray(lengths.to_numpy(dtype=np.int64) > 0)
    listed = (list, tuple, np.ndarray)
    return series.map(lambda v: isinstance(v, listed) and len(v) > 0).to_numpy(dtype=bool)


def funnel(arrivals: pd.DataFrame) -> pd.DataFrame:
    """arrived → joined → admitted → held → paid: visitors reaching each stage, the conversion
    from the previous stage and from arrival. Dropped arrivals never arrived."""
    started = ~(arrivals["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
    paid = arrivals["order_id"].notna().to_numpy() | nonempty(arrivals["seats_bought"])
    reached = [
        started,
        started & arrivals["joined_ns"].notna().to_numpy(),
        started & arrivals["admitted_ns"].notna().to_numpy(),
        started & nonempty(arrivals["seats_held"]),
        started & paid,
    ]
    counts = np.array([int(r.sum()) for r in reached])
    prev = np.concatenate([[counts[0]], counts[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {
                "stage": FUNNEL_STAGES,
                "visitors": counts,
                "of_previous": np.where(prev > 0, counts / np.maximum(prev, 1), np.nan),
                "of_arrived": np.where(counts[0] > 0, counts / max(counts[0], 1), np.nan),
            }
        )


def queue_wait_s(arrivals: pd.DataFrame) -> np.ndarray:
    """Seconds from queue join to admission, for every visitor who saw both."""
    both = arrivals["joined_ns"].notna() & arrivals["admitted_ns"].notna()
    sub = arrivals.loc[both]
    wait: np.ndarray = (
        sub["admitted_ns"].to_numpy(np.int64) - sub["joined_ns"].to_numpy(np.int64)
    ) / 1e9
    return wait


__all__ = [
    "AFTER_PHASES",
    "ERROR_OUTCOMES",
    "FUNNEL_STAGES",
    "QUANTILES",
    "QUANTILE_LABELS",
    "Ranked",
    "funnel",
    "generator_windows",
    "grouped_quantiles",
    "nonempty",
    "phase_labels",
    "queue_wait_s",
    "ranked_quantiles",
    "request_windows",
    "selection_mask",
    "window_index",
]
