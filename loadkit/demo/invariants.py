"""Server-side invariant checks (DOMAIN.md §5), answered by ``GET /admin/invariants``.

Each check returns ``{"ok": bool, "detail": {...}}``. Every seeded bug makes at least one fail:

| bug | caught by |
| --- | --- |
| non_atomic_hold | no_oversell (a seat in two live holds or two paid orders) |
| lifo_admission | fifo |
| admission_x1_5 | admission_rate |
| token_reuse_allowed | token_required (a hold or order made with a consumed token) |
| no_idempotency | one_order_per_idempotency_key |
| no_hold_sweeper | holds_released_within_ttl |

``ga_within_quota``: general-admission tickets sold (and sold + held) never exceed the quota.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

from loadkit.demo.db import ZONES
from loadkit.demo.ga import ga_within_quota
from loadkit.demo.waiting_room import bucket_size

RATE_TOLERANCE = 0.05  # admissions per minute may exceed the rate by 5% (DOMAIN.md §2)
FIFO_TOLERANCE = 0.01  # order inversions ≤ 1%
SAMPLE = 10  # offending ids listed per check


def _ids(rows: list[Any]) -> list[Any]:
    return [r[0] for r in rows[:SAMPLE]]


def no_oversell(conn: sqlite3.Connection) -> dict[str, Any]:
    double_held = conn.execute(
        "SELECT seat_id FROM hold_seats JOIN holds USING (hold_id)"
        " WHERE holds.state IN ('active', 'ordering') GROUP BY seat_id HAVING COUNT(*) > 1"
    ).fetchall()
    sold = conn.execute(
        "SELECT j.value, COUNT(*) FROM orders, json_each(orders.seats) AS j"
        " WHERE orders.state = 'paid' GROUP BY j.value"
    ).fetchall()
    double_sold = [r for r in sold if r[1] > 1]
    by_zone = {z.name: 0 for z in ZONES}
    for seat, n in sold:
        zone = str(seat).split("-")[0]
        by_zone[zone] = by_zone.get(zone, 0) + int(n)
    capacity = {z.name: z.capacity for z in ZONES}
    over = {z: n for z, n in by_zone.items() if n > capacity.get(z, 0)}
    ok = not double_held and not double_sold and not over
    return {
        "ok": ok,
        "detail": {
            "seats_in_two_live_holds": len(double_held),
            "examples_held": _ids(double_held),
            "seats_sold_twice": len(double_sold),
            "examples_sold": _ids(double_sold),
            "sold_by_zone": by_zone,
            "capacity_by_zone": capacity,
            "zones_over_capacity": over,
        },
    }


def payments_match_orders(conn: sqlite3.Connection) -> dict[str, Any]:
    paid = conn.execute("SELECT COUNT(*) FROM orders WHERE state = 'paid'").fetchone()[0]
    captured = conn.execute("SELECT COUNT(*) FROM payments WHERE state = 'captured'").fetchone()[0]
    mismatched = conn.execute(
        "SELECT o.order_id FROM orders o LEFT JOIN payments p"
        " ON p.order_id = o.order_id AND p.state = 'captured'"
        " GROUP BY o.order_id, o.state, o.amount_cents"
        " HAVING (o.state = 'paid') != (COUNT(p.payment_id) = 1)"
        " OR (o.state = 'paid' AND MAX(p.amount_cents) != o.amount_cents)"
    ).fetchall()
    ok = paid == captured and not mismatched
    return {
        "ok": ok,
        "detail": {
            "paid_orders": paid,
            "captured_payments": captured,
            "mismatched_orders": len(mismatched),
            "examples": _ids(mismatched),
        },
    }


def one_order_per_idempotency_key(conn: sqlite3.Connection) -> dict[str, Any]:
    dup = conn.execute(
        "SELECT idem_key, COUNT(*) FROM orders GROUP BY idem_key HAVING COUNT(*) > 1"
    ).fetchall()
    charged = conn.execute(
        "SELECT idem_key FROM payments WHERE state = 'captured'"
        " GROUP BY idem_key HAVING COUNT(*) > 1"
    ).fetchall()
    return {
        "ok": not dup and not charged,
        "detail": {
            "keys_with_several_orders": len(dup),
            "keys_charged_twice": len(charged),
            "examples": _ids(dup),
        },
    }


def holds_released_within_ttl(
    conn: sqlite3.Connection, now: float, grace_s: float
) -> dict[str, Any]:
    overdue = conn.execute(
        "SELECT hold_id FROM holds WHERE state = 'active' AND expires_at + ? < ?", (grace_s, now)
    ).fetchall()
    late = conn.execute(
        "SELECT hold_id FROM holds WHERE state = 'expired' AND released_at > expires_at + ?"
        " AND hold_id NOT IN (SELECT hold_id FROM orders)",  # a payment held it past its TTL
        (grace_s,),
    ).fetchall()
    return {
        "ok": not overdue and not late,
        "detail": {
            "grace_s": grace_s,
            "unreleased_past_ttl": len(overdue),
            "released_late": len(late),
            "examples": _ids(overdue + late),
        },
    }


def admission_rate(conn: sqlite3.Connection, sweeper_period_s: float) -> dict[str, Any]:
    """Most admissions in any window of W = min(60 s, span) vs the rate in effect: at most
    ``rate × W × 1.05 + burst + 1``, where the burst is what the admission bucket holds."""
    rows = conn.execute(
        "SELECT admitted_at, admit_rate FROM visitors WHERE admitted_at IS NOT NULL"
        " ORDER BY admitted_at"
    ).fetchall()
    if len(rows) < 2:
        return {"ok": True, "detail": {"admitted": len(rows)}}
    span_s = rows[-1][0] - rows[0][0]
    window_s = min(60.0, max(1.0, span_s))
    worst_ratio, worst = 0.0, {}
    j = 0
    for i, (start, _) in enumerate(rows):
        while j < len(rows) and rows[j][0] < start + window_s:
            j += 1
        count = j - i
        per_min = max(r[1] for r in rows[i:j])
        per_s = per_min / 60.0
        allowed = per_s * window_s * (1 + RATE_TOLERANCE) + bucket_size(per_s, sweeper_period_s) + 1
        if count / allowed > worst_ratio:
            worst_ratio = count / allowed
            worst = {
                "window_start": start,
                "admitted": count,
                "allowed": round(allowed, 1),
                "rate_per_min": per_min,
            }
    return {
        "ok": worst_ratio <= 1.0,
        "detail": {"admitted": len(rows), "window_s": round(window_s, 3), "worst_window": worst},
    }


def fifo(conn: sqlite3.Connection) -> dict[str, Any]:
    """Queue order kept: inversions (a later rank admitted first, or a waiting visitor
    overtaken) ≤ 1% of visitors admitted or waiting."""
    admitted = conn.execute(
        "SELECT rank, admit_seq FROM visitors WHERE admit_seq IS NOT NULL ORDER BY rank"
    ).fetchall()
    inversions = sum(1 for a, b in itertools.pairwise(admitted) if b[1] < a[1])
    max_rank = max((r[0] for r in admitted), default=0)
    waiting = conn.execute("SELECT COUNT(*) FROM visitors WHERE state = 'waiting'").fetchone()[0]
    overtaken = conn.execute(
        "SELECT COUNT(*) FROM visitors WHERE state = 'waiting' AND rank < ?", (max_rank,)
    ).fetchone()[0]
    total = max(1, len(admitted) + waiting)
    ratio = (inversions + overtaken) / total
    return {
        "ok": ratio <= FIFO_TOLERANCE,
        "detail": {
            "admitted": len(admitted),
            "waiting": waiting,
            "inversions": inversions,
            "waiting_overtaken": overtaken,
            "inversion_ratio": round(ratio, 4),
        },
    }


def token_required(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every hold and order was made with an issued token, before it expired, and not after
    a purchase consumed it."""
    bad: list[Any] = []
    for table, key in (("holds", "hold_id"), ("orders", "order_id")):
        rows = conn.execute(
            f"SELECT t.{key} FROM {table} t LEFT JOIN visitors v ON v.token_id = t.token_id"
            f" WHERE v.request_id IS NULL OR t.created_at > v.token_expires_at"
            f" OR t.created_at > v.token_consumed_at"
        ).fetchall()
        bad.extend(rows)
    return {"ok": not bad, "detail": {"made_without_valid_token": len(bad), "examples": _ids(bad)}}


def check_all(
    conn: sqlite3.Connection,
    now: float,
    grace_s: float,
    sweeper_period_s: float,
    ga_capacity: int,
) -> dict[str, Any]:
    """All checks, read in one transaction so they see one consistent state."""
    conn.execute("BEGIN")
    try:
        checks = {
            "no_oversell": no_oversell(conn),
            "payments_match_orders": payments_match_orders(conn),
            "one_order_per_idempotency_key": one_order_per_idempotency_key(conn),
            "holds_released_within_ttl": holds_released_within_ttl(conn, now, grace_s),
            "admission_rate": admission_rate(conn, sweeper_period_s),
            "fifo": fifo(conn),
            "token_required": token_required(conn),
            "ga_within_quota": ga_within_quota(conn, ga_capacity),
        }
    finally:
        conn.execute("COMMIT")
    return {"ok": all(c["ok"] for c in checks.values()), "checked_at": now, "checks": checks}
