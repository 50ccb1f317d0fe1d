"""Fuzz the storefront's forms and pages with hypothesis: never a 5xx; a refused form (4xx)
changes nothing (no new /admin/audit entry); an accepted one answers 302 (Post/Redirect/Get).

Forms are drawn in their own shape (the right field names with any text, often the right CSRF
token so the body really reaches the handler), as arbitrary urlencoded pairs, and as raw
bytes; pages get any query string and order id. The visitor is admitted and holds tickets.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadkit.demo import ShopProcess
from tests.conftest import FAST_CONFIG, FAST_FAULTS
from tests.demo.browser import Browser, enter_shop, hold
from tests.demo.client import admin, invariants

pytestmark = [pytest.mark.integration, pytest.mark.functional]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
QUIET = {**FAST_CONFIG, "hold_ttl_s": 3600.0, "queue_silence_s": 3600.0}

texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.sampled_from(["", "0", "1", "2", "4", "5", "-1", "ga", "seats", "A", "Z", "9" * 400]),
    st.sampled_from(["\x00", "é" * 50, "<script>", "1e400", "  3 ", "³", "٣"]),
)

numbers = st.one_of(
    st.integers(-5, 10).map(str),
    st.sampled_from(["³", "①", "٣", "2.0", "+2", "0x2", "2 "]),  # digits int() may refuse
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=3),
    texts,
)


@dataclass
class World:
    shop: ShopProcess
    cookie: str
    csrf: str
    hold_id: str
    cursor: int = 0

    def audit(self) -> list[dict[str, Any]]:
        r = admin(self.shop.url, self.shop.admin_key, "GET", f"/admin/audit?after={self.cursor}")
        return list(r.body["entries"])

    def send(self, method: str, path: str, raw: bytes = b"") -> tuple[int, str]:
        parts = urlsplit(self.shop.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            headers = {"cookie": self.cookie, "content-type": "application/x-www-form-urlencoded"}
            conn.request(method, path, body=raw or None, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            status, ctype = resp.status, resp.getheader("content-type", "")
        finally:
            conn.close()
        where = (method, path, raw[:200], status, body[:300])
        assert status < 500, where
        new = self.audit()
        if status >= 400:
            assert new == [], (where, new)
            assert "text/html" in ctype or "json" in ctype, where
        elif new:
            self.cursor = new[-1]["id"]
        if method == "POST" and status < 400:
            assert status == 302, where
        return status, ctype


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    shop = ShopProcess.start(faults=FAST_FAULTS, storefront="html", **QUIET)
    try:
        b = Browser(shop.url)
        cart = hold(b, enter_shop(b), {"kind": "ga", "quantity": "1"})
        cookie = "; ".join(f"{c.name}={c.value}" for c in b.jar)
        w = World(shop, cookie, cart.hidden("csrf_token"), cart.hidden("hold_id"))
        w.cursor = w.audit()[-1]["id"]
        yield w
        assert invariants(shop.url, shop.admin_key)["ok"]
    finally:
        shop.stop()


def _form(w: World, fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[bytes]:
    # a valid CSRF token most of the time, so the fields reach the handler
    token = {"csrf_token": st.just(w.csrf)}
    complete = st.fixed_dictionaries({**token, **fields})
    partial = st.fixed_dictionaries(token, optional=fields)
    anything = st.fixed_dictionaries({}, optional={"csrf_token": texts, **fields})
    shapes = [complete, complete, complete, partial, anything]
    shaped = (
        st.integers(0, len(shapes) - 1)
        .flatmap(lambda i: shapes[i])
        .map(
            lambda d: urlencode(
                {k: v.encode("utf-8", "surrogatepass") for k, v in d.items()}
            ).encode()
        )
    )
    pairs = st.lists(st.tuples(texts, texts), max_size=6).map(
        lambda ps: "&".join(
            f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
            for k, v in ps
        ).encode()
    )
    raw = st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"", b"&&&", b"=", b"%", b"%zz=%ff", b"a=" * 200, b"\xff\xfe"]),
    )
    kinds = [shaped, shaped, shaped, pairs, raw]
    return st.integers(0, len(kinds) - 1).flatmap(lambda i: kinds[i])


def _mostly(good: list[str]) -> st.SearchStrategy[str]:
    """A valid value three times in four, else any text (so the other fields get tested)."""
    return st.integers(0, 3).flatmap(lambda i: texts if i == 0 else st.sampled_from(good))


HOLD_FIELDS = {"kind": _mostly(["ga", "seats"]), "zone": _mostly(["A", "D"]), "quantity": numbers}


def _checkout_fields(w: World) -> dict[str, st.SearchStrategy[str]]:
    return {"hold_id": st.just(w.hold_id) | texts, "idempotency_key": texts, "card_number": texts}


@pytest.mark.parametrize("path", ["/shop/join", "/shop/hold", "/shop/checkout"])
@FUZZ
@given(data=st.data())
def test_form_endpoints_never_fail_with_a_5xx(world: World, path: str, data: st.DataObject) -> None:
    fields = {"/shop/join": {}, "/shop/hold": HOLD_FIELDS}.get(path) or _checkout_fields(world)
    world.send("POST", path, data.draw(_form(world, fields)))


@FUZZ
@given(
    path=st.sampled_from(
        ["/", "/shop/queue", "/shop/event", "/shop/cart", "/shop/orders/", "/static/"]
    ),
    tail=texts,
    query=texts,
)
def test_pages_never_fail_with_a_5xx(world: World, path: str, tail: str, query: str) -> None:
    encoded = quote(tail.encode("utf-8", "surrogatepass"), safe="")
    suffix = encoded if path.endswith("/") and path != "/" else ""
    world.send("GET", f"{path}{suffix}?notice={quote(query.encode('utf-8', 'surrogatepass'))}")
