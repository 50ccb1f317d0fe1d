"""The HTML storefront (``--storefront html``), driven like a browser: cookies, forms, 302s.

One shop (two worker processes, so concurrent buyers really race across processes) for the
module, reset before each test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from loadkit.demo import ShopProcess
from tests.conftest import FAST_CONFIG, FAST_FAULTS
from tests.demo.browser import Browser, Page, checkout, enter_shop, hold
from tests.demo.client import admin, configure, invariants

pytestmark = [pytest.mark.integration, pytest.mark.functional]


@pytest.fixture(scope="module")
def html_shop_module() -> Iterator[ShopProcess]:
    shop = ShopProcess.start(workers=2, faults=FAST_FAULTS, storefront="html", **FAST_CONFIG)
    try:
        yield shop
    finally:
        shop.stop()


@pytest.fixture
def html_shop(html_shop_module: ShopProcess) -> ShopProcess:
    url, key = html_shop_module.url, html_shop_module.admin_key
    for method, path, body in [
        ("POST", "/admin/reset", {"faults": True, "config": True}),
        ("PUT", "/admin/config", FAST_CONFIG),
        ("PUT", "/admin/faults", FAST_FAULTS),
    ]:
        assert admin(url, key, method, path, body).status == 200
    return html_shop_module


def _hops(page: Page) -> list[tuple[str, int, str]]:
    return [(h.method, h.status, h.url.split("/", 3)[-1]) for h in page.hops]


def _audit_kinds(shop: ShopProcess) -> list[str]:
    r = admin(shop.url, shop.admin_key, "GET", "/admin/audit?limit=1000")
    return [e["kind"] for e in r.body["entries"]]


def test_general_admission_journey_posts_redirect_and_land_on_the_order(
    html_shop: ShopProcess,
) -> None:
    b = Browser(html_shop.url)
    landing = b.get("/")
    assert b.cookie("lk_sess") and "Join the queue" in landing.text
    queue = b.post("/shop/join", {"csrf_token": landing.hidden("csrf_token")})
    assert _hops(queue)[0] == ("POST", 302, "shop/join")
    assert _hops(queue)[1][:2] == ("GET", 200) and queue.url.endswith("/shop/queue")
    assert b.cookie("lk_wr")
    while 'data-queue-state="admitted"' not in queue.text:
        time.sleep(0.21)
        queue = b.get("/shop/queue")
    assert 'href="/shop/event"' in queue.text
    event = b.get("/shop/event")
    cart = hold(b, event, {"kind": "ga", "quantity": "3"})
    assert _hops(cart) == [("POST", 302, "shop/hold"), ("GET", 200, "shop/cart")]
    assert "3 × general admission" in cart.text and "€120.00" in cart.text
    order = checkout(b, cart)
    assert [h[:2] for h in _hops(order)] == [("POST", 302), ("GET", 200)]
    assert re.search(r'id="order-status">paid<', order.text), order.text
    checks = invariants(html_shop.url, html_shop.admin_key)
    assert checks["ok"], checks
    assert checks["checks"]["ga_within_quota"]["detail"] == {
        "quota": 500,
        "sold": 3,
        "sold_or_held": 3,
    }
    kinds = _audit_kinds(html_shop)
    assert {"join", "admit", "token", "hold", "order", "payment"} <= set(kinds)


def test_seat_journey_holds_best_available_seats_in_the_chosen_zone(
    html_shop: ShopProcess,
) -> None:
    b = Browser(html_shop.url)
    cart = hold(b, enter_shop(b), {"kind": "seats", "zone": "B", "quantity": "2"})
    assert re.findall(r"<li>(B-\d\d-\d\d)</li>", cart.text) == ["B-01-01", "B-01-02"]
    order = checkout(b, cart)
    assert "B-01-01" in order.text and 'id="order-status">paid<' in order.text
    detail = invariants(html_shop.url, html_shop.admin_key)["checks"]["no_oversell"]["detail"]
    assert detail["sold_by_zone"]["B"] == 2


@pytest.mark.parametrize(
    "csrf",
    [None, "", "0" * 32, "from-another-session"],
    ids=["missing", "empty", "wrong", "another-session"],
)
def test_a_form_without_this_sessions_csrf_token_is_refused_403_and_changes_nothing(
    html_shop: ShopProcess, csrf: str | None
) -> None:
    b = Browser(html_shop.url)
    b.get("/")
    if csrf == "from-another-session":
        csrf = Browser(html_shop.url).get("/").hidden("csrf_token")
    form = {} if csrf is None else {"csrf_token": csrf}
    refused = b.post("/shop/join", form)
    assert refused.status == 403 and len(refused.hops) == 1
    assert "text/html" in refused.headers["content-type"]
    assert "Reload the page" in refused.text
    assert b.cookie("lk_wr") is None and "join" not in _audit_kinds(html_shop)


def test_hold_and_checkout_forms_refuse_a_bad_csrf_token(html_shop: ShopProcess) -> None:
    b = Browser(html_shop.url)
    event = enter_shop(b)
    bad_hold = b.post("/shop/hold", {"csrf_token": "nope", "kind": "ga", "quantity": "1"})
    assert bad_hold.status == 403 and "hold" not in _audit_kinds(html_shop)
    cart = hold(b, event, {"kind": "ga", "quantity": "1"})
    form = {f: cart.hidden(f) for f in ("hold_id", "idempotency_key")}
    assert b.post("/shop/checkout", form).status == 403  # no token at all
    assert "order" not in _audit_kinds(html_shop)


def test_a_post_without_a_session_cookie_is_refused(html_shop: ShopProcess) -> None:
    token = Browser(html_shop.url).get("/").hidden("csrf_token")
    stranger = Browser(html_shop.url)  # never saw the landing page: no session cookie
    assert stranger.post("/shop/join", {"csrf_token": token}).status == 403


def test_sold_out_is_a_200_page_with_a_message(html_shop: ShopProcess) -> None:
    configure(html_shop, ga_capacity=2)
    first, second = Browser(html_shop.url), Browser(html_shop.url)
    event_1, event_2 = enter_shop(first), enter_shop(second)
    assert "2 left" in event_2.text
    hold(first, event_1, {"kind": "ga", "quantity": "2"})
    page = hold(second, event_2, {"kind": "ga", "quantity": "1"})
    assert _hops(page) == [("POST", 302, "shop/hold"), ("GET", 200, "shop/event?notice=sold_out")]
    assert page.status == 200 and 'role="alert">Sold out' in page.text
    assert "General admission: sold out" in page.text and 'id="ga"' not in page.text
    cart = second.get("/shop/cart")
    assert "Your cart is empty" in cart.text


def test_queue_page_refreshes_itself_and_an_early_refresh_gains_nothing(
    html_shop: ShopProcess,
) -> None:
    configure(html_shop, admission_rate_per_min=0, refresh_interval_s=5)
    ahead, b = Browser(html_shop.url), Browser(html_shop.url)
    ahead.post("/shop/join", {"csrf_token": ahead.get("/").hidden("csrf_token")})
    queue = b.post("/shop/join", {"csrf_token": b.get("/").hidden("csrf_token")})
    assert '<meta http-equiv="refresh" content="5">' in queue.text
    assert 'id="position">2<' in queue.text and 'href="/shop/queue"' in queue.text
    again = b.get("/shop/queue")  # too early: the same page, no error, no progress
    assert again.status == 200 and 'data-queue-state="queued"' in again.text
    assert b.get("/shop/event").url.endswith("/shop/queue")  # not admitted: sent back


def test_a_double_submitted_checkout_is_charged_once(html_shop: ShopProcess) -> None:
    b = Browser(html_shop.url)
    cart = hold(b, enter_shop(b), {"kind": "ga", "quantity": "2"})
    first, second = checkout(b, cart), checkout(b, cart)
    assert first.url == second.url and "/shop/orders/" in first.url
    detail = invariants(html_shop.url, html_shop.admin_key)["checks"]
    assert detail["payments_match_orders"]["detail"]["captured_payments"] == 1
    assert detail["ga_within_quota"]["detail"]["sold"] == 2


def test_a_declined_card_returns_to_the_cart_with_a_message(html_shop: ShopProcess) -> None:
    configure(html_shop, faults={"payment": {"decline_rate": 1.0}})
    b = Browser(html_shop.url)
    cart = hold(b, enter_shop(b), {"kind": "ga", "quantity": "1"})
    page = checkout(b, cart)
    assert page.url.endswith("/shop/cart?notice=declined") and page.status == 200
    assert "card was declined" in page.text and "1 × general admission" in page.text


def test_general_admission_quota_is_never_oversold_by_concurrent_buyers(
    html_shop: ShopProcess,
) -> None:
    configure(html_shop, ga_capacity=5)
    buyers = [Browser(html_shop.url) for _ in range(10)]
    with ThreadPoolExecutor(len(buyers)) as pool:
        events = list(pool.map(enter_shop, buyers))

        def buy(i: int) -> Page:
            cart = hold(buyers[i], events[i], {"kind": "ga", "quantity": "2"})
            return checkout(buyers[i], cart) if 'data-page="cart"' in cart.text else cart

        pages = list(pool.map(buy, range(len(buyers))))
    bought = [p for p in pages if 'id="order-status">paid<' in p.text]
    refused = [p for p in pages if "Sold out" in p.text]
    assert len(bought) == 2 and len(refused) == len(buyers) - 2
    checks = invariants(html_shop.url, html_shop.admin_key)
    assert checks["ok"], checks
    assert checks["checks"]["ga_within_quota"]["detail"]["sold"] == 4


def test_static_assets_are_served_with_their_types(html_shop: ShopProcess) -> None:
    b = Browser(html_shop.url)
    types = {
        name: b.get(f"/static/{name}").headers["content-type"]
        for name in ("shop.css", "logo.svg", "shop.js")
    }
    assert types["shop.css"].startswith("text/css") and types["logo.svg"] == "image/svg+xml"
    assert b.get("/static/nope.png").status == 404


def test_faults_can_be_injected_on_storefront_pages(html_shop: ShopProcess) -> None:
    b = Browser(html_shop.url)
    event = enter_shop(b)
    configure(html_shop, faults={"endpoints": {"html.hold": {"error_rate": 1.0}}})
    page = hold(b, event, {"kind": "ga", "quantity": "1"})
    assert page.status == 503 and "injected_fault" in page.text
    assert "hold" not in _audit_kinds(html_shop)
