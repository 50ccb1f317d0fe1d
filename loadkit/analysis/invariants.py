"""Client-side invariants (DOMAIN.md §5), computed from loadkit's own records only.

Each check works against any target: it needs no database access, only what the journeys
observed (arrival columns ``seats_bought``, ``shop_ok_without_token``, ``joined_ns``,
``admitted_ns``, ``queue_position``; the request column ``attempt``).

* ``no_oversell``: no seat appears in two visitors' ``seats_bought``. Observed: seats sold twice.
* ``no_shop_without_token``: no shop 2xx answer without a token. Observed: such answers.
* ``admission_rate, max=RATE[, tolerance=5%]``: admissions seen in any minute (tumbling
  minutes from the on-sale) ≤ max × (1 + tolerance). Observed: the busiest minute, per minute.
* ``fifo[, max=1%][, slack=DUR]``: among visitors who joined at or after the on-sale and were
  admitted, taken in join order, the share of neighbours admitted in reverse order (by more
  than ``slack``; polling blurs when admission is *seen*) must be ≤ max.
* ``retry_amplification[, max=2]``: requests per intent (all requests / first attempts) ≤ max;
  redirect hops are part of their request, not extra requests.
* ``quota, max=N``: tickets sold (each buyer's ``tickets_bought``, else the number of seats
  in ``seats_bought``) ≤ N, the number on sale. Observed: tickets sold.

An invariant whose facts no journey recorded (``no_oversell`` with no seat ids, ``quota``
with neither quantities nor seats, ``admission_rate``/``fifo`` with no admissions,
``no_shop_without_token`` with no journey that tried without a token) is **not
applicable**: a no-data gate saying so, never a pass that checked nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loadkit.analysis.model import GateKind, GateResult, GateStatus
from loadkit.gates import Threshold
from loadkit.units import format_percent

_NS = 1_000_000_000


def _result(
    th: Threshold,
    failed: bool | None,
    observed: float | None,
    observed_text: str,
    limit: str,
    detail: str,
    samples: int,
) -> GateResult:
    if failed is None:
        status = GateStatus.NO_DATA
    elif failed:
        status = GateStatus.WARN if th.warn else GateStatus.FAILED
    else:
        status = GateStatus.PASSED
    return GateResult(
        th.text,
        GateKind.INVARIANT,
        status,
        observed,
        observed_text,
        limit,
        detail=detail,
        location=str(th.location) if th.location else None,
        samples=samples,
        warn=th.warn,
        reason=observed_text if failed is None else "",
    )


def not_applicable(th: Threshold, why: str, limit: str) -> GateResult:
    """A no-data gate for an invariant the target's records cannot show (``why``)."""
    return _result(th, None, None, f"not applicable: {why}", limit, "", 0)


def _no_oversell(th: Threshold, arrivals: pd.DataFrame) -> GateResult:
    bought = arrivals[["arrival_id", "seats_bought"]].dropna()
    seats = bought.explode("seats_bought").dropna()
    if seats.empty:
        return not_applicable(
            th, "no visitor recorded seat ids (record: {seats_bought: ...}); for a shop "
            "without numbered seats use invariant(quota, max=N)", "0 seats sold twice",
        )  # fmt: skip
    per_seat = seats.groupby("seats_bought", observed=True)["arrival_id"].nunique()
    twice = per_seat[per_seat > 1]
    examples = ", ".join(f"{s} ({n} buyers)" for s, n in twice.head(5).items())
    return _result(
        th,
        len(twice) > 0,
        float(len(twice)),
        f"{len(twice)} seats sold twice",
        "0 seats sold twice",
        f"e.g. {examples}" if examples else f"{len(per_seat)} seats bought, each by one visitor",
        len(per_seat),
    )


def _no_shop_without_token(th: Threshold, arrivals: pd.DataFrame) -> GateResult:
    col = arrivals["shop_ok_without_token"].dropna().to_numpy(dtype=np.int64)
    if col.size == 0:
        return not_applicable(
            th, "no journey tried the shop without a token (record "
            "{shop_ok_without_token: \"{{ status < 300 }}\"} on the steps that do)", "0",
        )  # fmt: skip
    n, visitors = int(col.sum()), int((col > 0).sum())
    return _result(
        th,
        n > 0,
        float(n),
        f"{n} shop answers without a token",
        "0",
        f"{visitors} visitors got a shop success without a token",
        len(col),
    )


def _admission_rate(
    th: Threshold, arrivals: pd.DataFrame, onsale_s: float, t0_ns: int
) -> GateResult:
    max_per_min = th.param("max", float("nan")) * 60.0
    tolerance = th.param("tolerance", 0.05)
    adm = arrivals["admitted_ns"].dropna().to_numpy(dtype=np.int64)
    limit = f"≤ {max_per_min:,.0f}/min (+{format_percent(tolerance)})"
    if adm.size == 0:
        return not_applicable(th, "no visitor recorded an admission (record: {admitted: ...})",
                              limit)  # fmt: skip
    minute = np.floor(((adm - t0_ns) / _NS - onsale_s) / 60.0).astype(np.int64)
    counts = np.bincount(minute - minute.min())
    busiest = int(counts.max())
    when = (int(np.argmax(counts)) + minute.min()) * 60
    failed = busiest > max_per_min * (1 + tolerance)
    return _result(
        th,
        failed,
        float(busiest),
        f"busiest minute {busiest:,}/min",
        limit,
        f"busiest minute starts at on-sale {when:+d}s; {adm.size:,} admissions",
        int(adm.size),
    )


def fifo_inversion_rate(
    arrivals: pd.DataFrame, onsale_ns: int, slack_s: float = 0.0
) -> tuple[float, int]:
    """Share of adjacent (in join order) post-on-sale visitors admitted in reverse order."""
    joined_col, position_col = arrivals["joined_ns"], arrivals["queue_position"]
    joined = joined_col.to_numpy(dtype=np.int64, na_value=0)
    admitted = arrivals["admitted_ns"].notna().to_numpy(dtype=bool)
    both = joined_col.notna().to_numpy(dtype=bool) & admitted & (joined >= onsale_ns)
    if int(both.sum()) < 2:
        return float("nan"), 0
    joined = joined[both]
    adm = arrivals["admitted_ns"].to_numpy(dtype=np.int64, na_value=0)[both]
    no_position = position_col.isna().to_numpy(dtype=bool)[both]
    position = position_col.to_numpy(dtype=np.int64, na_value=0)[both]
    # a stable sort on numpy arrays (pandas' sort_values is slow on nullable columns): by join
    # time, then queue position with missing positions last, ties in record order
    adm = adm[np.lexsort((position, no_position, joined))]
    inversions = int((adm[1:] + int(slack_s * _NS) < adm[:-1]).sum())
    return inversions / (len(adm) - 1), inversions


def _fifo(th: Threshold, arrivals: pd.DataFrame, onsale_ns: int) -> GateResult:
    limit_rate = th.param("max", 0.01)
    rate, n = fifo_inversion_rate(arrivals, onsale_ns, th.param("slack", 0.0))
    limit = f"≤ {format_percent(limit_rate)} inversions"
    if n == 0 and rate != rate:
        if not arrivals["admitted_ns"].notna().any():
            return not_applicable(
                th, "no visitor recorded an admission (record: {admitted: ...})", limit
            )
        return _result(th, None, None, "fewer than 2 admitted post-on-sale visitors", limit, "", 0)
    return _result(
        th,
        rate > limit_rate,
        rate,
        f"{format_percent(rate)} inversions",
        limit,
        f"{n} neighbours admitted out of join order",
        n,
    )


def _seat_counts(series: pd.Series) -> np.ndarray:
    """Seats in each arrival's list (0 when none)."""
    if isinstance(series.dtype, pd.ArrowDtype):
        return np.asarray(series.list.len().fillna(0).to_numpy(dtype=np.int64))
    sized = series.map(lambda v: len(v) if hasattr(v, "__len__") else 0)
    return np.asarray(sized.to_numpy(dtype=np.int64))


def _quota(th: Threshold, arrivals: pd.DataFrame) -> GateResult:
    quota = th.param("max", float("nan"))
    limit = f"≤ {quota:,.0f} tickets"
    tickets = arrivals["tickets_bought"]
    counted = tickets.notna().to_numpy(dtype=bool)
    quantities = tickets.fillna(0).to_numpy(dtype=np.int64)
    per_buyer = np.where(counted, quantities, _seat_counts(arrivals["seats_bought"]))
    buyers = int((per_buyer > 0).sum())
    if buyers == 0 and not counted.any():
        return not_applicable(
            th, "no visitor recorded a purchase (record: {tickets_bought: N} or "
            "{seats_bought: ...})", limit,
        )  # fmt: skip
    sold = int(per_buyer.sum())
    return _result(th, sold > quota, float(sold), f"{sold:,} tickets sold", limit,
                   f"{buyers:,} buyers; quota {quota:,.0f}", buyers)  # fmt: skip


def _retry_amplification(th: Threshold, requests: pd.DataFrame) -> GateResult:
    limit_x = th.param("max", 2.0)
    if "hop" in requests.columns:  # a redirect hop is part of its request, not a retry
        requests = requests[requests["hop"].fillna(0).to_numpy() == 0]
    attempts = requests["attempt"].to_numpy()
    intents = int((attempts <= 1).sum())
    if intents == 0:
        return _result(th, None, None, "no requests", f"≤ {limit_x:g}×", "", 0)
    amp = len(attempts) / intents
    return _result(
        th,
        amp > limit_x,
        amp,
        f"{amp:.3f} requests per intent",
        f"≤ {limit_x:g}×",
        f"{len(attempts):,} requests for {intents:,} intents",
        intents,
    )


def evaluate_invariant(
    th: Threshold,
    requests: pd.DataFrame,
    arrivals: pd.DataFrame,
    onsale_offset_s: float,
    t0_ns: int,
) -> GateResult:
    """Evaluate ``invariant(...)`` on the records (``requests`` needs the ``attempt`` column)."""
    onsale_ns = t0_ns + int(onsale_offset_s * _NS)
    name = th.invariant
    if name == "no_oversell":
        return _no_oversell(th, arrivals)
    if name == "no_shop_without_token":
        return _no_shop_without_token(th, arrivals)
    if name == "admission_rate":
        return _admission_rate(th, arrivals, onsale_offset_s, t0_ns)
    if name == "fifo":
        return _fifo(th, arrivals, onsale_ns)
    if name == "quota":
        return _quota(th, arrivals)
    return _retry_amplification(th, requests)


__all__ = ["evaluate_invariant", "fifo_inversion_rate", "not_applicable"]
