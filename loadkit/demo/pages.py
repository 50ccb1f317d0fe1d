"""HTML for the server-rendered storefront: plain string templates, every value escaped.

Each function returns a whole page as text; ``storefront`` turns it into a response. Values
from the database or the request go through ``esc`` (``html.escape`` with quotes), and the
notices a page may show come from a fixed table (``NOTICES``), never from the query string.
Pages carry small, stable hooks for tests and scenarios: ``<main data-page=...>``,
``data-queue-state``, ids on the figures a visitor reads (``position``, ``order-status``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loadkit.demo.config import MAX_SEATS_PER_ORDER

SHOP_NAME = "loadkit demo on-sale 2026"

NOTICES: Mapping[str, str] = {
    "sold_out": "Sold out: there are not enough tickets left for your selection.",
    "seats_taken": "Those seats were just taken by someone else. Please pick again.",
    "hold_expired": "Your hold expired. Please pick your tickets again.",
    "hold_released": "That selection is no longer in your cart. Please pick again.",
    "declined": "Your card was declined. Please try again.",
    "paying": "Your payment is still being processed. Please wait a moment.",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def euros(cents: int) -> str:
    return f"€{cents / 100:,.2f}"


def page(title: str, name: str, body: str, *, notice: str = "", head: str = "") -> str:
    """The shared layout: a header, an optional notice and the page's body."""
    shown = f'<p class="notice" role="alert">{esc(notice)}</p>' if notice else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} · Demo Arena</title>{head}"
        '<link rel="stylesheet" href="/static/shop.css"></head>\n<body><header>'
        '<img src="/static/logo.svg" alt="" width="32" height="32">'
        f' <a href="/">{esc(SHOP_NAME)}</a></header>\n'
        f'<main data-page="{esc(name)}">{shown}\n{body}\n</main>\n'
        '<script src="/static/shop.js" defer></script></body></html>\n'
    )


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{esc(token)}">'


def join_form(csrf: str, label: str = "Join the queue") -> str:
    return (
        f'<form method="post" action="/shop/join">{_csrf(csrf)}'
        f'<button type="submit">{esc(label)}</button></form>'
    )


def landing(csrf: str, refresh_interval_s: float) -> str:
    body = (
        f"<h1>{esc(SHOP_NAME)}</h1><p>Demo Arena · numbered seats in four zones and"
        " general admission.</p><p>Tickets are sold through a waiting room: join the queue,"
        f" this page checks your place every {refresh_interval_s:g} s.</p>" + join_form(csrf)
    )
    return page(SHOP_NAME, "landing", body)


def refresh_seconds(refresh_interval_s: float) -> int:
    """Whole seconds for ``<meta http-equiv="refresh">`` and the ``Refresh`` header (≥ 1)."""
    return max(1, round(refresh_interval_s))


def queue(state: str, position: int | None, wait_s: float | None, refresh_s: float) -> str:
    """The queue page; it refreshes itself while the visitor waits."""
    if state == "admitted":
        body = (
            "<h1>It's your turn</h1><p>You have been admitted to the shop.</p>"
            '<p><a id="continue" href="/shop/event">Continue to the event</a></p>'
        )
        return page("Your turn", "queue", f'<div data-queue-state="admitted">{body}</div>')
    shown = "unknown yet" if position is None else str(position)
    wait = "" if wait_s is None else f"<p>Estimated wait: {wait_s:g} s.</p>"
    refresh = refresh_seconds(refresh_s)
    body = (
        f'<div data-queue-state="{esc(state)}"><h1>You are in the queue</h1>'
        f'<p>Your place: <strong id="position">{esc(shown)}</strong></p>{wait}'
        f"<p>This page refreshes every {refresh} s. Keep it open.</p>"
        '<p><a id="check-again" href="/shop/queue">Check again</a></p></div>'
    )
    head = f'<meta http-equiv="refresh" content="{refresh}">'
    return page("Queue", "queue", body, head=head)


def message(title: str, name: str, text: str, extra: str = "", *, notice: str = "") -> str:
    """A page that says one thing (lost place, session over, not found, refused)."""
    return page(title, name, f"<h1>{esc(title)}</h1><p>{esc(text)}</p>{extra}", notice=notice)


@dataclass(frozen=True)
class ZoneView:
    zone: str
    price_cents: int
    available: int


def _quantity_select() -> str:
    options = "".join(
        f'<option value="{n}"{" selected" if n == 2 else ""}>{n}</option>'
        for n in range(1, MAX_SEATS_PER_ORDER + 1)
    )
    return f'<select name="quantity">{options}</select>'


def _zone_row(csrf: str, z: ZoneView) -> str:
    if z.available == 0:
        action = '<span class="sold-out">Sold out</span>'
    else:
        action = (
            f'<form method="post" action="/shop/hold">{_csrf(csrf)}'
            '<input type="hidden" name="kind" value="seats">'
            f'<input type="hidden" name="zone" value="{esc(z.zone)}">'
            f'{_quantity_select()}<button type="submit">Find seats</button></form>'
        )
    return (
        f'<tr data-zone="{esc(z.zone)}"><td>Zone {esc(z.zone)}</td>'
        f"<td>{euros(z.price_cents)}</td><td>{z.available}</td><td>{action}</td></tr>"
    )


def event(
    csrf: str, zones: Iterable[ZoneView], ga_available: int, ga_price_cents: int, notice: str
) -> str:
    zone_list = list(zones)
    rows = "".join(_zone_row(csrf, z) for z in zone_list)
    if ga_available == 0:
        ga = '<p class="sold-out">General admission: sold out</p>'
    else:
        ga = (
            f'<form method="post" action="/shop/hold" id="ga">{_csrf(csrf)}'
            '<input type="hidden" name="kind" value="ga">'
            f"<label>General admission, {euros(ga_price_cents)} each ({ga_available} left):"
            f' <input type="number" name="quantity" min="1" max="{MAX_SEATS_PER_ORDER}"'
            ' value="2"></label><button type="submit">Add to cart</button></form>'
        )
    if ga_available == 0 and all(z.available == 0 for z in zone_list):
        notice = notice or "This event is sold out."
    body = (
        f"<h1>{esc(SHOP_NAME)}</h1><h2>Seats</h2><table><thead><tr><th>Zone</th><th>Price</th>"
        f"<th>Available</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h2>General admission</h2>{ga}"
    )
    return page("Choose tickets", "event", body, notice=notice)


@dataclass(frozen=True)
class CartView:
    hold_id: str
    seats: tuple[str, ...]
    ga_quantity: int
    amount_cents: int
    expires_in_s: float


def _items(seats: tuple[str, ...], ga_quantity: int) -> str:
    if ga_quantity:
        return f'<p class="items">{ga_quantity} × general admission</p>'
    listed = "".join(f"<li>{esc(s)}</li>" for s in seats)
    return f'<ul class="items">{listed}</ul>'


def cart(csrf: str, c: CartView | None, idempotency_key: str, notice: str) -> str:
    if c is None:
        body = '<h1>Your cart is empty</h1><p><a href="/shop/event">Choose tickets</a></p>'
        return page("Cart", "cart", body, notice=notice)
    body = (
        f"<h1>Your cart</h1>{_items(c.seats, c.ga_quantity)}"
        f'<p>Total: <strong id="amount">{euros(c.amount_cents)}</strong>.'
        f" Held for you for {c.expires_in_s:.0f} s.</p>"
        f'<form method="post" action="/shop/checkout">{_csrf(csrf)}'
        f'<input type="hidden" name="hold_id" value="{esc(c.hold_id)}">'
        f'<input type="hidden" name="idempotency_key" value="{esc(idempotency_key)}">'
        '<label>Card number <input name="card_number" autocomplete="cc-number"></label>'
        f'<button type="submit">Pay {euros(c.amount_cents)}</button></form>'
    )
    return page("Cart", "cart", body, notice=notice)


def order(order_id: str, status: str, seats: tuple[str, ...], ga: int, amount_cents: int) -> str:
    body = (
        f'<h1>Order confirmed</h1><p>Order <code id="order-id">{esc(order_id)}</code>:'
        f' <strong id="order-status">{esc(status)}</strong></p>{_items(seats, ga)}'
        f"<p>Paid: {euros(amount_cents)}</p>"
    )
    return page("Your order", "order", body)


STATIC: Mapping[str, tuple[str, bytes]] = {
    "shop.css": (
        "text/css; charset=utf-8",
        b"body{font-family:sans-serif;margin:2rem}.notice{background:#fee;padding:.5rem}"
        b".sold-out{color:#a00}table{border-collapse:collapse}td,th{padding:.25rem .75rem}\n",
    ),
    "shop.js": (
        "text/javascript; charset=utf-8",
        b"document.documentElement.classList.add('js');\n",
    ),
    "logo.svg": (
        "image/svg+xml",
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        b'<rect width="32" height="32" rx="6" fill="#c33"/></svg>\n',
    ),
}
