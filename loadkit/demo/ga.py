"""General admission: a quota of tickets without seat ids, bought by quantity.

A general-admission hold is an ordinary row of ``holds`` (no seats, ``seats = '[]'``) plus
its quantity in ``ga_holds``, so it expires, is replaced, paid and audited exactly like a seat
hold, and ``POST /orders`` / the checkout page buy it the same way. Nothing counts tickets
separately: what is taken is the sum over holds that are live (``active``, ``ordering``) or
bought (``converted``), so releasing a hold gives its tickets back by itself. The check and the
insert share one ``BEGIN IMMEDIATE`` transaction, so concurrent buyers (in any number of
worker processes) can never take more than ``ga_capacity``.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from loadkit.demo import db
from loadkit.demo.state import Principal, ShopState
from loadkit.demo.web import HttpError

GA_PRICE_CENTS = 4_000
TAKEN_STATES = ("active", "ordering", "converted")


def ga_taken(conn: sqlite3.Connection) -> int:
    """Tickets in live or bought general-admission holds."""
    row = conn.execute(
        "SELECT COALESCE(SUM(g.quantity), 0) FROM ga_holds g JOIN holds h USING (hold_id)"
        " WHERE h.state IN (?, ?, ?)",
        TAKEN_STATES,
    ).fetchone()
    return int(row[0])


def ga_available(st: ShopState, conn: sqlite3.Connection) -> int:
    """Tickets still free under the quota (never negative)."""
    return max(0, st.config.ga_capacity - ga_taken(conn))


def hold_ga(
    st: ShopState, conn: sqlite3.Connection, p: Principal, quantity: int, now: float
) -> dict[str, Any]:
    """Hold ``quantity`` general-admission tickets for ``p`` (inside a write tx; the caller
    has released the visitor's previous hold, ``seating.release_previous``). Returns the
    ``POST /holds`` answer; raises HttpError 409 ``sold_out`` when fewer are left."""
    left = ga_available(st, conn)
    if left < quantity:
        raise HttpError(
            409, "sold_out", f"only {left} general-admission tickets left", available=left
        )
    hold_id = uuid.uuid4().hex
    amount = GA_PRICE_CENTS * quantity
    expires_at = now + st.config.hold_ttl_s
    conn.execute(
        "INSERT INTO holds VALUES (?, ?, ?, ?, ?, 'active', NULL, ?, '[]')",
        (hold_id, p.request_id, p.token_id, now, expires_at, amount),
    )
    conn.execute("INSERT INTO ga_holds VALUES (?, ?)", (hold_id, quantity))
    db.audit(
        conn,
        now,
        "hold",
        request_id=p.request_id,
        token_id=p.token_id,
        hold_id=hold_id,
        detail={"general_admission": quantity, "expires_at": expires_at},
    )
    return {
        "hold_id": hold_id,
        "seats": [],
        "general_admission": quantity,
        "expires_at": expires_at,
        "amount": amount / 100,
        "amount_cents": amount,
        "currency": "EUR",
    }


def ga_quantity(conn: sqlite3.Connection, hold_id: str) -> int:
    """The hold's general-admission quantity (0 for a seat hold)."""
    row = conn.execute("SELECT quantity FROM ga_holds WHERE hold_id = ?", (hold_id,)).fetchone()
    return int(row[0]) if row else 0


def ga_within_quota(conn: sqlite3.Connection, capacity: int) -> dict[str, Any]:
    """Invariant: general-admission tickets sold (paid orders) ≤ quota, and sold + held ≤
    quota (a live hold is a promise too)."""
    sold = conn.execute(
        "SELECT COALESCE(SUM(g.quantity), 0) FROM orders o JOIN ga_holds g USING (hold_id)"
        " WHERE o.state = 'paid'"
    ).fetchone()[0]
    taken = ga_taken(conn)
    return {
        "ok": sold <= capacity and taken <= capacity,
        "detail": {"quota": capacity, "sold": int(sold), "sold_or_held": taken},
    }
