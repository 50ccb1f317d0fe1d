"""Orders and the simulated payment provider, with Idempotency-Key semantics.

``POST /orders`` runs in two short transactions around the provider call: the first claims the
hold (state ``ordering``) and the key (``in_progress``); the provider sleeps for a lognormal
latency and declines at the configured rate; the second records the payment and the answer.
A repeated key returns the stored answer (or 409 while the first request is still paying), so a
retry never charges twice — unless the seeded bug ``no_idempotency`` is on.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from loadkit.demo import db
from loadkit.demo.config import Bug
from loadkit.demo.seating import release_hold
from loadkit.demo.state import Principal, ShopState
from loadkit.demo.web import HttpError, Request, Response, json_response, require_str

MAX_KEY_LEN = 255


@dataclass(frozen=True)
class Claim:
    order_id: str
    hold_id: str
    seats: list[str]
    amount_cents: int
    principal: Principal


def _idempotency_key(req: Request) -> str:
    key = req.headers.get("idempotency-key", "").strip()
    if not key or len(key) > MAX_KEY_LEN:
        raise HttpError(
            400,
            "idempotency_key_required",
            f"send an Idempotency-Key header (1-{MAX_KEY_LEN} characters)",
        )
    return key


def _replay(
    st: ShopState, conn: sqlite3.Connection, req: Request, key: str, now: float
) -> Response | None:
    row = conn.execute(
        "SELECT request_id, hold_id, state, status, body FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    p = st.authenticate(req, now, allow_consumed=True)
    hold_id = require_str(req.json_object(), "hold_id")
    if row[0] != p.request_id or row[1] != hold_id:
        raise HttpError(
            422, "idempotency_key_reused", "this Idempotency-Key was used for a different request"
        )
    if row[2] != "done":
        raise HttpError(
            409,
            "request_in_progress",
            "the first request with this key is paying",
            headers=[(b"retry-after", b"1")],
        )
    return Response(
        int(row[3]),
        row[4].encode(),
        [(b"content-type", b"application/json"), (b"idempotent-replayed", b"true")],
    )


def _claim(st: ShopState, conn: sqlite3.Connection, req: Request, key: str, now: float) -> Claim:
    p = st.authenticate(req, now)
    hold_id = require_str(req.json_object(), "hold_id")
    return claim_hold(st, conn, p, hold_id, key, now)


def claim_hold(
    st: ShopState, conn: sqlite3.Connection, p: Principal, hold_id: str, key: str, now: float
) -> Claim:
    """Claim ``p``'s hold for payment under ``key`` (inside a write tx); HttpError 404/409/410.

    Shared by ``POST /orders`` and the HTML storefront's checkout."""
    row = conn.execute(
        "SELECT request_id, state, expires_at, amount_cents, seats FROM holds WHERE hold_id = ?",
        (hold_id,),
    ).fetchone()
    if row is None or row[0] != p.request_id:
        raise HttpError(404, "unknown_hold", "no such hold")
    _, state, expires_at, amount, seats_json = row
    no_idem = st.bug(Bug.NO_IDEMPOTENCY)
    if state == "expired" or (state == "active" and expires_at <= now):
        raise HttpError(410, "hold_expired", "the hold expired; pick seats again")
    if state in ("released", "replaced"):
        raise HttpError(409, "hold_released", "the hold was released; pick seats again")
    if state == "converted" and not no_idem:
        raise HttpError(409, "hold_already_ordered", "this hold was already bought")
    if state == "ordering" and not no_idem:
        raise HttpError(409, "payment_in_progress", "a payment for this hold is in progress")
    order_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, NULL, ?)",
        (order_id, hold_id, p.request_id, p.token_id, key, amount, now, seats_json),
    )
    conn.execute(
        "UPDATE holds SET state = 'ordering' WHERE hold_id = ? AND state = 'active'", (hold_id,)
    )
    if not no_idem:
        conn.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, 'in_progress', NULL, NULL, ?)",
            (key, p.request_id, hold_id, now),
        )
    db.audit(
        conn,
        now,
        "order",
        request_id=p.request_id,
        token_id=p.token_id,
        hold_id=hold_id,
        order_id=order_id,
        detail={"idempotency_key": key},
    )
    return Claim(order_id, hold_id, json.loads(seats_json), amount, p)


def _order_body(
    order_id: str, hold_id: str, seats: list[str], state: str, amount_cents: int
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "hold_id": hold_id,
        "seats": seats,
        "status": state,
        "amount": amount_cents / 100,
        "amount_cents": amount_cents,
        "currency": "EUR",
    }


def _capture(conn: sqlite3.Connection, c: Claim, now: float) -> None:
    """The seats are sold and the visitor's token is consumed."""
    conn.execute("UPDATE holds SET state = 'converted' WHERE hold_id = ?", (c.hold_id,))
    marks = ",".join("?" * len(c.seats))
    conn.execute(
        f"UPDATE seats SET state = 'sold', hold_id = ? WHERE seat_id IN ({marks})",
        (c.hold_id, *c.seats),
    )
    conn.execute(
        "UPDATE visitors SET token_consumed_at = COALESCE(token_consumed_at, ?)"
        " WHERE request_id = ?",
        (now, c.principal.request_id),
    )


def _decline(st: ShopState, conn: sqlite3.Connection, c: Claim, now: float) -> None:
    """The hold stays the visitor's, to retry with another card, unless it ran out meanwhile."""
    conn.execute(
        "UPDATE holds SET state = 'active' WHERE hold_id = ? AND state = 'ordering'",
        (c.hold_id,),
    )
    if st.bug(Bug.NO_HOLD_SWEEPER):
        return
    expired = conn.execute(
        "SELECT 1 FROM holds WHERE hold_id = ? AND state = 'active' AND expires_at <= ?",
        (c.hold_id, now),
    ).fetchone()
    if expired:
        release_hold(conn, c.hold_id, "expired", now)


def _settle(
    st: ShopState, conn: sqlite3.Connection, c: Claim, key: str, captured: bool, now: float
) -> tuple[int, dict[str, Any]]:
    """Record the provider's answer, the order's outcome and the idempotent reply."""
    state = "paid" if captured else "declined"
    payment = (uuid.uuid4().hex, c.order_id, key, "captured" if captured else "declined")
    conn.execute("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?)", (*payment, c.amount_cents, now))
    conn.execute(
        "UPDATE orders SET state = ?, completed_at = ? WHERE order_id = ?", (state, now, c.order_id)
    )
    if captured:
        _capture(conn, c, now)
    else:
        _decline(st, conn, c, now)
    status = 201 if captured else 402
    body = _order_body(c.order_id, c.hold_id, c.seats, state, c.amount_cents)
    if not captured:
        body.update(error="payment_declined", message="the card was declined")
    if not st.bug(Bug.NO_IDEMPOTENCY):
        conn.execute(
            "UPDATE idempotency SET state = 'done', status = ?, body = ? WHERE key = ?",
            (status, json.dumps(body, separators=(",", ":")), key),
        )
    db.audit(
        conn,
        now,
        "payment",
        request_id=c.principal.request_id,
        hold_id=c.hold_id,
        order_id=c.order_id,
        detail={"state": state, "amount_cents": c.amount_cents},
    )
    return status, body


def _provider_latency_s(st: ShopState) -> float:
    f = st.faults
    if f.payment_latency_ms <= 0:
        return 0.0
    mu = math.log(f.payment_latency_ms / 1000)
    return min(30.0, st.rng.lognormvariate(mu, f.payment_latency_sigma))


async def create_order(st: ShopState, req: Request) -> Response:
    """``POST /orders {hold_id}`` + Idempotency-Key: 201 paid, 402 declined, 410 hold expired."""
    key = _idempotency_key(req)
    now = st.now()
    with db.write_tx(st.conn) as conn:
        if not st.bug(Bug.NO_IDEMPOTENCY):
            replay = _replay(st, conn, req, key, now)
            if replay is not None:
                return replay
        claim = _claim(st, conn, req, key, now)
    status, body = await pay(st, claim, key)
    return json_response(status, body)


async def pay(st: ShopState, claim: Claim, key: str) -> tuple[int, dict[str, Any]]:
    """Call the simulated provider for a claimed hold and record its answer.

    Returns ``(201, order body)`` when captured, ``(402, body with error)`` when declined."""
    latency_s = _provider_latency_s(st)
    if latency_s > 0:
        await asyncio.sleep(latency_s)
    captured = st.rng.random() >= st.faults.payment_decline_rate
    with db.write_tx(st.conn) as conn:
        return _settle(st, conn, claim, key, captured, st.now())


async def get_order(st: ShopState, req: Request) -> Response:
    """``GET /orders/{id}``: the caller's order (a consumed token may view its orders)."""
    now = st.now()
    p = st.authenticate(req, now, allow_consumed=True)
    row = st.conn.execute(
        "SELECT request_id, hold_id, state, amount_cents, seats, created_at, completed_at"
        " FROM orders WHERE order_id = ?",
        (req.params["order_id"],),
    ).fetchone()
    if row is None or row[0] != p.request_id:
        raise HttpError(404, "unknown_order", "no such order")
    body = _order_body(req.params["order_id"], row[1], json.loads(row[4]), row[2], row[3])
    body.update(created_at=row[5], completed_at=row[6])
    return json_response(200, body)
