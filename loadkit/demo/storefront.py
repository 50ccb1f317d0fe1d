"""The server-rendered storefront (``--storefront html``): the same on-sale as HTML pages.

It is a second front door on the same waiting room, seats, holds, orders, audit log and
invariants as the JSON API, built the way classic shops are: a session cookie (``lk_sess``),
a per-session CSRF token in a hidden input of every form (a POST without the cookie or with a
wrong token is refused, 403), Post/Redirect/Get (every accepted POST answers 302), and
business refusals shown as a notice on the next page (sold out is a 200 page, not an error).
Admission is the waiting room's own cookie (``lk_wr``); once admitted, the shop issues the
visitor's admission token server-side and keeps using it, so ``token_required`` still holds.

Journey: ``GET /`` → ``POST /shop/join`` → 302 ``/shop/queue`` (refreshes itself until
admitted) → ``GET /shop/event`` → ``POST /shop/hold`` → 302 ``/shop/cart`` →
``POST /shop/checkout`` → 302 ``/shop/orders/{id}``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

from loadkit.demo import db, ga, orders, pages, seating, waiting_room
from loadkit.demo.config import MAX_SEATS_PER_ORDER, Bug
from loadkit.demo.forms import (
    MAX_KEY_LEN,
    Handler,
    check_csrf,
    csrf_token,
    html_errors,
    html_page,
    notice,
    redirect,
    session,
)
from loadkit.demo.state import Principal, ShopState
from loadkit.demo.web import HttpError, Request, Response

# -- waiting room -----------------------------------------------------------------------------


@html_errors
async def landing(st: ShopState, req: Request) -> Response:
    sid, cookie = session(st, req)
    text = pages.landing(csrf_token(st, sid), st.config.refresh_interval_s)
    return html_page(200, text, cookie)


@html_errors
async def join(st: ShopState, req: Request) -> Response:
    check_csrf(st, req)
    request_id, _, _ = waiting_room.join_visitor(st, waiting_room.visitor_id(st, req), st.now())
    cookie = waiting_room.queue_cookie(st, request_id)
    return redirect("/shop/queue", [(b"set-cookie", cookie.encode())])


@html_errors
async def queue(st: ShopState, req: Request) -> Response:
    """Poll the place; a refresh earlier than the interval shows the page without progress."""
    request_id = waiting_room.visitor_id(st, req)
    if request_id is None:
        return redirect("/")
    now = st.now()
    try:
        body = waiting_room.poll(st, request_id, now)
    except HttpError as exc:
        if exc.status != 429:
            return redirect("/")
        body = waiting_room.describe(st, request_id, now) or {}
    state = body.get("state", "expired")
    if state == "expired":
        sid, cookie = session(st, req)
        again = pages.join_form(csrf_token(st, sid), "Join again")
        text = pages.message(
            "You lost your place", "queue", "Your place in the queue expired.", again
        )
        return html_page(200, text, cookie)
    text = pages.queue(
        state, body.get("position"), body.get("wait_time_s"), body["refresh_interval_s"]
    )
    # the Refresh header says what the meta tag says, for clients that do not parse HTML
    refresh = pages.refresh_seconds(body["refresh_interval_s"])
    headers = [] if state == "admitted" else [(b"refresh", str(refresh).encode())]
    return html_page(200, text, headers)


# -- shopping ---------------------------------------------------------------------------------


def _principal(
    st: ShopState, conn: sqlite3.Connection, req: Request, now: float
) -> Principal | str:
    """The admitted visitor's principal (issuing the token on first use, inside a write tx), or
    why not: ``"queue"`` (not admitted yet), ``"join"`` (no place, or the pass is used up)."""
    request_id = waiting_room.visitor_id(st, req)
    if request_id is None:
        return "join"
    row = conn.execute(
        "SELECT state, admitted_at, token_id, token_expires_at, token_consumed_at"
        " FROM visitors WHERE request_id = ?",
        (request_id,),
    ).fetchone()
    if row is None:
        return "join"
    state, admitted_at, token_id, expires_at, consumed_at = row
    if state != "admitted":
        return "queue"
    if token_id is None:
        if admitted_at + st.config.token_redeem_s < now:
            return "join"
        waiting_room.issue_token(st, conn, request_id, now)
        token_id, expires_at = conn.execute(
            "SELECT token_id, token_expires_at FROM visitors WHERE request_id = ?", (request_id,)
        ).fetchone()
    if expires_at <= now or (consumed_at is not None and not st.bug(Bug.TOKEN_REUSE_ALLOWED)):
        return "join"
    return Principal(request_id, token_id, consumed_at is not None)


def _rejoin(st: ShopState, req: Request) -> Response:
    sid, cookie = session(st, req)
    text = pages.message(
        "Join the queue",
        "rejoin",
        "Your shopping session has ended (or you have already bought with this pass).",
        pages.join_form(csrf_token(st, sid)),
    )
    return html_page(200, text, cookie)


def _zones(conn: sqlite3.Connection) -> list[pages.ZoneView]:
    free = dict(conn.execute("SELECT zone, COUNT(*) FROM seats WHERE state = 'free' GROUP BY zone"))
    return [pages.ZoneView(z.name, z.price_cents, int(free.get(z.name, 0))) for z in db.ZONES]


@html_errors
async def event(st: ShopState, req: Request) -> Response:
    now = st.now()
    with db.write_tx(st.conn) as conn:
        who = _principal(st, conn, req, now)
        zones, ga_left = _zones(conn), ga.ga_available(st, conn)
    if who == "queue":
        return redirect("/shop/queue")
    if isinstance(who, str):
        return _rejoin(st, req)
    sid, cookie = session(st, req)
    text = pages.event(csrf_token(st, sid), zones, ga_left, ga.GA_PRICE_CENTS, notice(req))
    return html_page(200, text, cookie)


def _hold_choice(form: dict[str, str]) -> tuple[str, str | None, int]:
    """``(kind, zone, quantity)`` from the hold form; HttpError 422 if it is not a choice."""
    kind, zone = form.get("kind", ""), form.get("zone") or None
    quantity = form.get("quantity", "").strip()
    if kind not in ("seats", "ga"):
        raise HttpError(422, "invalid_form", "Choose seats or general admission.")
    if kind == "seats" and zone is not None and zone not in seating.ZONE_BY_NAME:
        raise HttpError(422, "invalid_form", "There is no such zone.")
    if not (
        quantity.isascii() and quantity.isdigit() and 1 <= int(quantity[:3]) <= MAX_SEATS_PER_ORDER
    ):
        raise HttpError(422, "invalid_form", f"Choose a quantity from 1 to {MAX_SEATS_PER_ORDER}.")
    return kind, zone, int(quantity)


@html_errors
async def hold(st: ShopState, req: Request) -> Response:
    """Hold seats (best available in a zone) or general-admission tickets; 302 to the cart,
    or back to the event page with the reason (sold out, taken)."""
    kind, zone, quantity = _hold_choice(check_csrf(st, req))
    now = st.now()
    try:
        with db.write_tx(st.conn) as conn:
            who = _principal(st, conn, req, now)
            if isinstance(who, str):
                return redirect("/shop/event")
            if not st.bug(Bug.NO_HOLD_SWEEPER):
                seating.sweep_holds(conn, now)
            if kind == "ga":
                seating.release_previous(conn, who.request_id, now)
                ga.hold_ga(st, conn, who, quantity, now)
            else:
                # the JSON API's own best-available pick and atomic hold write
                picked = seating.best_available(conn, quantity, zone)
                seating.write_hold(st, conn, who, picked, now)
    except HttpError as exc:
        if exc.status == 409:
            return redirect(f"/shop/event?notice={exc.code}")
        raise
    return redirect("/shop/cart")


# -- cart, checkout, order ----------------------------------------------------------------------


def _cart_view(st: ShopState, request_id: str, now: float) -> pages.CartView | None:
    row = st.conn.execute(
        "SELECT hold_id, expires_at, amount_cents, seats FROM holds WHERE request_id = ?"
        " AND state = 'active' AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
        (request_id, now),
    ).fetchone()
    if row is None:
        return None
    hold_id, expires_at, amount, seats_json = row
    seats = tuple(json.loads(seats_json))
    quantity = ga.ga_quantity(st.conn, hold_id)
    return pages.CartView(hold_id, seats, quantity, amount, expires_at - now)


@html_errors
async def cart(st: ShopState, req: Request) -> Response:
    request_id = waiting_room.visitor_id(st, req)
    if request_id is None:
        return redirect("/")
    sid, cookie = session(st, req)
    view = _cart_view(st, request_id, st.now())
    text = pages.cart(csrf_token(st, sid), view, uuid.uuid4().hex, notice(req))
    return html_page(200, text, cookie)


def _checkout_fields(form: dict[str, str]) -> tuple[str, str]:
    hold_id, key = form.get("hold_id", ""), form.get("idempotency_key", "").strip()
    if not hold_id or not key or len(key) > MAX_KEY_LEN:
        raise HttpError(422, "invalid_form", "This checkout form is incomplete. Reload the cart.")
    return hold_id, key


def _replayed(conn: sqlite3.Connection, request_id: str, hold_id: str, key: str) -> Response | None:
    """A form submitted twice (same idempotency key) gets the first answer again, never a
    second charge; HttpError 422 if the key belongs to another visitor or hold."""
    row = conn.execute(
        "SELECT request_id, hold_id, state, status FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    if row[0] != request_id or row[1] != hold_id:
        raise HttpError(422, "idempotency_key_reused", "This checkout form was already used.")
    if row[2] != "done":
        return redirect("/shop/cart?notice=paying")
    if row[3] != 201:
        return redirect("/shop/cart?notice=declined")
    paid = conn.execute(
        "SELECT order_id FROM orders WHERE idem_key = ? AND state = 'paid'", (key,)
    ).fetchone()
    return redirect(f"/shop/orders/{paid[0]}") if paid else redirect("/shop/cart")


CLAIM_REFUSALS = {410: "/shop/event?notice=hold_expired", 404: "/shop/cart?notice=hold_released"}


@html_errors
async def checkout(st: ShopState, req: Request) -> Response:
    """Pay for the cart's hold: 302 to the order page, or back with the reason (declined,
    expired). The form's idempotency key makes a double submit safe."""
    hold_id, key = _checkout_fields(check_csrf(st, req))
    request_id = waiting_room.visitor_id(st, req)
    if request_id is None:
        return redirect("/")
    now = st.now()
    try:
        with db.write_tx(st.conn) as conn:
            replay = (
                None if st.bug(Bug.NO_IDEMPOTENCY) else _replayed(conn, request_id, hold_id, key)
            )
            if replay is not None:
                return replay
            who = _principal(st, conn, req, now)
            if isinstance(who, str):
                return redirect("/shop/event")
            claim = orders.claim_hold(st, conn, who, hold_id, key, now)
    except HttpError as exc:
        if exc.code == "payment_in_progress":
            return redirect("/shop/cart?notice=paying")
        if exc.status in (404, 409, 410):
            return redirect(CLAIM_REFUSALS.get(exc.status, "/shop/cart?notice=hold_released"))
        raise
    status, body = await orders.pay(st, claim, key)
    if status != 201:
        return redirect("/shop/cart?notice=declined")
    return redirect(f"/shop/orders/{body['order_id']}")


@html_errors
async def order(st: ShopState, req: Request) -> Response:
    request_id = waiting_room.visitor_id(st, req)
    row = st.conn.execute(
        "SELECT request_id, hold_id, state, amount_cents, seats FROM orders WHERE order_id = ?",
        (req.params["order_id"],),
    ).fetchone()
    if row is None or request_id is None or row[0] != request_id:
        raise HttpError(404, "unknown_order", "There is no such order in your session.")
    seats = tuple(json.loads(row[4]))
    quantity = ga.ga_quantity(st.conn, row[1])
    text = pages.order(req.params["order_id"], row[2], seats, quantity, row[3])
    return html_page(200, text)


@html_errors
async def static(st: ShopState, req: Request) -> Response:
    found = pages.STATIC.get(req.params["name"])
    if found is None:
        raise HttpError(404, "not_found", "No such file.")
    ctype, data = found
    return Response(
        200, data, [(b"content-type", ctype.encode()), (b"cache-control", b"max-age=3600")]
    )


ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    ("html.landing", "GET", "/", landing),
    ("html.join", "POST", "/shop/join", join),
    ("html.queue", "GET", "/shop/queue", queue),
    ("html.event", "GET", "/shop/event", event),
    ("html.hold", "POST", "/shop/hold", hold),
    ("html.cart", "GET", "/shop/cart", cart),
    ("html.checkout", "POST", "/shop/checkout", checkout),
    ("html.order", "GET", "/shop/orders/{order_id}", order),
    ("html.static", "GET", "/static/{name}", static),
)
