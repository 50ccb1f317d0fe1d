"""Seats and holds: the seat map, best-available, explicit seats, release and expiry sweep.

A hold is one ``BEGIN IMMEDIATE`` transaction: ``UPDATE seats SET state='held' … WHERE
state='free'`` must touch every requested seat or the whole hold rolls back (409), so no seat
is ever in two live holds — unless the seeded bug ``non_atomic_hold`` splits the check and
the write into two transactions with an ``await`` between them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from loadkit.demo import db
from loadkit.demo.config import EVENT_ID, MAX_SEATS_PER_ORDER, Bug
from loadkit.demo.ga import GA_PRICE_CENTS, ga_available, hold_ga
from loadkit.demo.state import Principal, ShopState
from loadkit.demo.web import HttpError, Request, Response, json_response

ZONE_BY_NAME = {z.name: z for z in db.ZONES}
NON_ATOMIC_GAP_S = 0.005  # the seeded bug's window between check and write


@dataclass(frozen=True)
class HoldRequest:
    seat_ids: tuple[str, ...] = ()
    quantity: int = 0
    zone: str | None = None
    general_admission: int = 0  # tickets without seats (loadkit.demo.ga)


HOLD_KINDS = ("seat_ids", "best_available", "general_admission")


def parse_hold_request(data: dict[str, Any]) -> HoldRequest:
    """``{seat_ids: [...]}``, ``{best_available: {quantity, zone?}}`` or
    ``{general_admission: {quantity}}``; HttpError 422 if bad."""
    given = [k for k in HOLD_KINDS if k in data]
    if len(given) != 1:
        raise HttpError(
            422,
            "invalid_body",
            "give exactly one of 'seat_ids', 'best_available' or 'general_admission'",
        )
    if given == ["general_admission"]:
        return HoldRequest(general_admission=_quantity(data, "general_admission"))
    has_ids = given == ["seat_ids"]
    if has_ids:
        ids = data["seat_ids"]
        if not isinstance(ids, list) or not ids or not all(isinstance(s, str) for s in ids):
            raise HttpError(
                422,
                "invalid_field",
                "'seat_ids' must be a non-empty list of seat ids",
                field="seat_ids",
            )
        if len(set(ids)) != len(ids):
            raise HttpError(422, "invalid_field", "'seat_ids' lists a seat twice", field="seat_ids")
        _check_quantity(len(ids))
        return HoldRequest(seat_ids=tuple(ids))
    qty = _quantity(data, "best_available")
    zone = data["best_available"].get("zone")
    if zone is not None and (not isinstance(zone, str) or zone not in ZONE_BY_NAME):
        raise HttpError(
            422,
            "unknown_zone",
            f"no zone {json.dumps(zone)[:40]}; zones: {', '.join(ZONE_BY_NAME)}",
            field="best_available.zone",
        )
    return HoldRequest(quantity=qty, zone=zone)


def _quantity(data: dict[str, Any], kind: str) -> int:
    """``data[kind]["quantity"]``: a positive integer, at most MAX_SEATS_PER_ORDER."""
    spec = data[kind]
    if not isinstance(spec, dict):
        raise HttpError(422, "invalid_field", f"'{kind}' must be an object", field=kind)
    qty = spec.get("quantity")
    if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
        raise HttpError(
            422, "invalid_field", "'quantity' must be a positive integer", field=f"{kind}.quantity"
        )
    _check_quantity(qty)
    return qty


def _check_quantity(n: int) -> None:
    if n > MAX_SEATS_PER_ORDER:
        raise HttpError(
            422,
            "too_many_seats",
            f"at most {MAX_SEATS_PER_ORDER} seats an order, asked for {n}",
            max_seats=MAX_SEATS_PER_ORDER,
        )


def _explicit(conn: sqlite3.Connection, seat_ids: tuple[str, ...]) -> list[tuple[str, int]]:
    marks = ",".join("?" * len(seat_ids))
    rows = conn.execute(
        f"SELECT seat_id, state, price_cents FROM seats WHERE seat_id IN ({marks})", seat_ids
    ).fetchall()
    found = {r[0]: r for r in rows}
    unknown = [s for s in seat_ids if s not in found]
    if unknown:
        raise HttpError(422, "unknown_seat_ids", "no such seat(s)", seat_ids=unknown)
    taken = [s for s in seat_ids if found[s][1] != "free"]
    if taken:
        raise HttpError(409, "seats_taken", "seat(s) no longer available", seat_ids=taken)
    return [(s, found[s][2]) for s in seat_ids]


def best_available(conn: sqlite3.Connection, qty: int, zone: str | None) -> list[tuple[str, int]]:
    """``qty`` adjacent free seats ``(seat_id, price_cents)``, best zone and row first (only
    ``zone`` if given); HttpError 409 ``sold_out`` if there are none."""
    zones = [ZONE_BY_NAME[zone]] if zone else list(db.ZONES)
    for z in zones:
        rows = conn.execute(
            "SELECT seat_id, row, num, price_cents FROM seats"
            " WHERE zone_rank = ? AND state = 'free' ORDER BY row, num",
            (z.rank,),
        ).fetchall()
        run: list[tuple[str, int, int, int]] = []
        for r in rows:
            if run and (r[1] != run[-1][1] or r[2] != run[-1][2] + 1):
                run = []
            run.append(r)
            if len(run) == qty:
                return [(s[0], s[3]) for s in run]
    where = f"zone {zone}" if zone else "any zone"
    raise HttpError(409, "sold_out", f"no {qty} adjacent seats left in {where}")


def _pick(conn: sqlite3.Connection, hr: HoldRequest) -> list[tuple[str, int]]:
    if hr.seat_ids:
        return _explicit(conn, hr.seat_ids)
    return best_available(conn, hr.quantity, hr.zone)


def release_hold(conn: sqlite3.Connection, hold_id: str, new_state: str, now: float) -> None:
    """Mark a live hold released/expired and free its seats (inside a write tx)."""
    conn.execute(
        "UPDATE holds SET state = ?, released_at = ? WHERE hold_id = ?", (new_state, now, hold_id)
    )
    conn.execute(
        "UPDATE seats SET state = 'free', hold_id = NULL WHERE hold_id = ? AND state = 'held'",
        (hold_id,),
    )
    db.audit(conn, now, f"hold_{new_state}", hold_id=hold_id)


def release_previous(conn: sqlite3.Connection, request_id: str, now: float) -> None:
    """A new selection replaces the visitor's cart: release their live hold (inside a tx)."""
    previous = conn.execute(
        "SELECT hold_id FROM holds WHERE request_id = ? AND state = 'active'", (request_id,)
    ).fetchall()
    for (old,) in previous:
        release_hold(conn, old, "replaced", now)


def sweep_holds(conn: sqlite3.Connection, now: float) -> int:
    """Release every active hold past its expiry (inside a write tx); returns how many."""
    rows = conn.execute(
        "SELECT hold_id FROM holds WHERE state = 'active' AND expires_at <= ?", (now,)
    ).fetchall()
    for (hold_id,) in rows:
        release_hold(conn, hold_id, "expired", now)
    return len(rows)


def write_hold(
    st: ShopState, conn: sqlite3.Connection, p: Principal, seats: list[tuple[str, int]], now: float
) -> dict[str, Any]:
    """Hold ``seats`` for ``p`` (inside a write tx), replacing their cart; the ``POST /holds``
    answer. HttpError 409 ``seats_taken`` if one is no longer free (the tx rolls back)."""
    release_previous(conn, p.request_id, now)
    hold_id = uuid.uuid4().hex
    ids = [s for s, _ in seats]
    amount = sum(price for _, price in seats)
    expires_at = now + st.config.hold_ttl_s
    marks = ",".join("?" * len(ids))
    guard = "" if st.bug(Bug.NON_ATOMIC_HOLD) else " AND state = 'free'"
    cur = conn.execute(
        f"UPDATE seats SET state = 'held', hold_id = ? WHERE seat_id IN ({marks}){guard}",
        (hold_id, *ids),
    )
    if cur.rowcount != len(ids):
        raise HttpError(409, "seats_taken", "seat(s) no longer available", seat_ids=ids)
    conn.execute(
        "INSERT INTO holds VALUES (?, ?, ?, ?, ?, 'active', NULL, ?, ?)",
        (hold_id, p.request_id, p.token_id, now, expires_at, amount, json.dumps(ids)),
    )
    conn.executemany("INSERT INTO hold_seats VALUES (?, ?)", [(hold_id, s) for s in ids])
    db.audit(
        conn,
        now,
        "hold",
        request_id=p.request_id,
        token_id=p.token_id,
        hold_id=hold_id,
        detail={"seats": ids, "expires_at": expires_at},
    )
    return {
        "hold_id": hold_id,
        "seats": ids,
        "expires_at": expires_at,
        "amount": amount / 100,
        "amount_cents": amount,
        "currency": "EUR",
    }


async def create_hold(st: ShopState, req: Request) -> Response:
    """``POST /holds``: 201 hold; 409 taken/sold out; 401/403 token; 422 bad or over 4 seats."""
    now = st.now()
    with db.write_tx(st.conn) as conn:
        p = st.authenticate(req, now)
        hr = parse_hold_request(req.json_object())
        if not st.bug(Bug.NO_HOLD_SWEEPER):
            sweep_holds(conn, now)
        if hr.general_admission:
            release_previous(conn, p.request_id, now)
            return json_response(201, hold_ga(st, conn, p, hr.general_admission, now))
        seats = _pick(conn, hr)
        if not st.bug(Bug.NON_ATOMIC_HOLD):
            body = write_hold(st, conn, p, seats, now)
            return json_response(201, body)
    # Seeded bug: the availability check above and the write below are separate transactions.
    await asyncio.sleep(NON_ATOMIC_GAP_S)
    with db.write_tx(st.conn) as conn:
        body = write_hold(st, conn, p, seats, st.now())
    return json_response(201, body)


async def delete_hold(st: ShopState, req: Request) -> Response:
    """``DELETE /holds/{id}``: release (idempotent); 404 not yours; 409 paid or paying."""
    now = st.now()
    hold_id = req.params["hold_id"]
    with db.write_tx(st.conn) as conn:
        p = st.authenticate(req, now, allow_consumed=True)
        row = conn.execute(
            "SELECT request_id, state FROM holds WHERE hold_id = ?", (hold_id,)
        ).fetchone()
        if row is None or row[0] != p.request_id:
            raise HttpError(404, "unknown_hold", "no such hold")
        state = row[1]
        if state == "converted":
            raise HttpError(409, "hold_converted", "this hold was bought; it cannot be released")
        if state == "ordering":
            raise HttpError(409, "payment_in_progress", "a payment for this hold is in progress")
        if state == "active":
            release_hold(conn, hold_id, "released", now)
            state = "released"
    return json_response(200, {"hold_id": hold_id, "state": state})


def _zones_body(st: ShopState, conn: sqlite3.Connection, now: float) -> dict[str, Any]:
    free: dict[str, list[str]] = {z.name: [] for z in db.ZONES}
    for seat, zone in conn.execute(
        "SELECT seat_id, zone FROM seats WHERE state = 'free' ORDER BY zone_rank, row, num"
    ):
        free[zone].append(seat)
    zones = [
        {
            "zone": z.name,
            "rank": z.rank,
            "price": z.price_cents / 100,
            "capacity": z.capacity,
            "available": len(free[z.name]),
            "free": free[z.name],
        }
        for z in db.ZONES
    ]
    ga = {"capacity": st.config.ga_capacity, "available": ga_available(st, conn)}
    return {"event_id": EVENT_ID, "as_of": round(now, 3), "zones": zones, "general_admission": ga}


async def seats(st: ShopState, req: Request) -> Response:
    """``GET /events/{id}/seats``: availability by zone, cached per process ≤ seats_cache_s."""
    if req.params["event_id"] != EVENT_ID:
        raise HttpError(404, "unknown_event", f"no such event; this shop sells '{EVENT_ID}'")
    now = st.now()
    st.authenticate(req, now)
    cached = st.seats_cache
    if cached is None or now - cached[0] > st.config.seats_cache_s:
        body = json.dumps(_zones_body(st, st.conn, now), separators=(",", ":")).encode()
        cached = st.seats_cache = (now, body)
    return Response(200, cached[1], [(b"content-type", b"application/json")])


async def event(st: ShopState, req: Request) -> Response:
    """``GET /events/{id}``: public landing data (no token)."""
    if req.params["event_id"] != EVENT_ID:
        raise HttpError(404, "unknown_event", f"no such event; this shop sells '{EVENT_ID}'")
    cfg = st.config
    body = {
        "event_id": EVENT_ID,
        "name": "loadkit demo on-sale 2026",
        "venue": "Demo Arena",
        "onsale_at": st.onsale_at,
        "currency": "EUR",
        "max_seats_per_order": MAX_SEATS_PER_ORDER,
        "zones": [
            {
                "zone": z.name,
                "rank": z.rank,
                "price": z.price_cents / 100,
                "capacity": z.capacity,
                "rows": z.rows,
                "seats_per_row": z.seats_per_row,
            }
            for z in db.ZONES
        ],
        "general_admission": {
            "capacity": cfg.ga_capacity,
            "price": GA_PRICE_CENTS / 100,
            "max_per_order": MAX_SEATS_PER_ORDER,
        },
        "waiting_room": {
            "queueing_method": cfg.queueing_method.value,
            "refresh_interval_s": cfg.refresh_interval_s,
            "admission_rate_per_min": cfg.admission_rate_per_min,
        },
    }
    return json_response(200, body)
