"""Fuzz every shop endpoint with hypothesis: bad input is a 4xx JSON error, never a 5xx, and a
refused request changes nothing (no new /admin/audit entry, config and faults as they were).

Bodies are drawn in the endpoint's own shape with wrong types, huge numbers, NaN, unicode
(lone surrogates included), missing and extra fields, and as arbitrary bytes; headers (cookie,
token, idempotency key) and path parameters are drawn too, and every endpoint is also sent
methods it does not allow. One shop for the module; admission is paused while fuzzing so the
only audit entries are the ones a request makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadkit.demo import ShopProcess
from loadkit.demo.config import ShopConfig
from tests.conftest import FAST_CONFIG, FAST_FAULTS
from tests.demo.client import EVENT, Reply, Visitor, admin, invariants, request

pytestmark = [pytest.mark.integration, pytest.mark.functional]

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
QUIET_CONFIG = {**FAST_CONFIG, "hold_ttl_s": 3600.0, "queue_silence_s": 3600.0}

# -- values -----------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(exclude_categories=()), max_size=8),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.sampled_from(["", "A", "A-01-01", EVENT, "\x00", "é" * 50, "1e400", "🎫" * 10]),
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def _shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """The endpoint's own object with each field kept, dropped or swapped for any JSON value,
    plus maybe an unknown field."""
    parts = {k: st.one_of(st.just(_MISSING), v, json_values) for k, v in fields.items()}
    return st.fixed_dictionaries(parts, optional={"extra": json_values}).map(
        lambda d: {k: v for k, v in d.items() if v is not _MISSING}
    )


_MISSING = object()


def _encoded(body: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """A JSON body (NaN and huge numbers as Python writes them), or raw bytes, or broken JSON."""
    return st.one_of(
        body.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
        json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
        st.binary(max_size=64),
        st.sampled_from([b"", b"{", b'{"a":', b"[" * 3000, b"\xff\xfe{}", b"nul\x00l", b"{}" * 10]),
    )


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
path_param = st.one_of(
    st.text(max_size=30).map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")),
    st.sampled_from(["..", ".", "%00", "%2F", "x" * 300, EVENT, "1e400"]),
)


# -- the shop and what a request may change ---------------------------------------------------


@dataclass
class World:
    shop: ShopProcess
    buyer: Visitor  # holds a live token and a hold
    paid: Visitor  # bought: a consumed token and an order
    hold_id: str
    order_id: str
    cursor: int = 0

    def audit_since(self) -> list[dict[str, Any]]:
        path = f"/admin/audit?after={self.cursor}&limit=1000"
        r = admin(self.shop.url, self.shop.admin_key, "GET", path)
        assert r.status == 200, r
        return list(r["entries"])

    def send(
        self, method: str, path: str, raw: bytes, headers: dict[str, str] | None = None
    ) -> Reply:
        """Send one request; assert no 5xx, a JSON error for a 4xx and no state change then."""
        r = request(self.shop.url, method, path, headers=headers or {}, raw=raw)
        where = (method, path, raw[:200], headers, r.status, r.body)
        assert r.status < 500, where
        new = self.audit_since()
        if new:
            self.cursor = new[-1]["id"]
        # The room opens on the sweeper's clock, not because of a request: a config example
        # that moved the on-sale and was put back reopens it a sweep later, in any request.
        changed = [e for e in new if e["kind"] != "room_opened"]
        if r.status >= 400:
            assert isinstance(r.body, dict) and isinstance(r.body.get("error"), str), where
            assert changed == [], (where, changed)
        return r


@pytest.fixture(scope="module")
def world(module_shop: ShopProcess) -> Iterator[World]:
    url, key = module_shop.url, module_shop.admin_key
    assert admin(url, key, "POST", "/admin/reset", {"faults": True, "config": True}).status == 200
    assert admin(url, key, "PUT", "/admin/config", QUIET_CONFIG).status == 200
    assert admin(url, key, "PUT", "/admin/faults", FAST_FAULTS).status == 200
    paid = Visitor(url).admitted()
    first = paid.hold(quantity=1)
    order = paid.order(first["hold_id"])
    assert order.status == 201, order
    buyer = Visitor(url).admitted()
    hold = buyer.hold(quantity=2)
    assert hold.status == 201, hold
    assert admin(url, key, "PUT", "/admin/config", {"admission_rate_per_min": 0}).status == 200
    w = World(module_shop, buyer, paid, hold["hold_id"], order["order_id"])
    w.cursor = w.audit_since()[-1]["id"]
    yield w
    assert invariants(url, key)["ok"]


def _auth(w: World, who: str) -> dict[str, str]:
    v = {"buyer": w.buyer, "paid": w.paid}.get(who)
    out: dict[str, str] = {}
    if v is not None:
        assert v.cookie is not None and v.token is not None
        out = {"cookie": v.cookie, "authorization": f"Bearer {v.token}"}
    return out


who = st.sampled_from(["buyer", "paid", "nobody"])
garbage_headers = st.dictionaries(
    st.sampled_from(["cookie", "authorization", "idempotency-key", "x-admin-key", "content-type"]),
    header_text,
    max_size=3,
)


# -- the endpoints ----------------------------------------------------------------------------


@FUZZ
@given(body=_encoded(_shaped({"event_id": st.just(EVENT)})), cookie=st.none() | header_text)
def test_fuzz_queue_join(world: World, body: bytes, cookie: str | None) -> None:
    headers = {"cookie": f"lk_wr={cookie}"} if cookie is not None else {}
    world.send("POST", "/wr/join", body, headers)


@FUZZ
@given(
    body=_encoded(_shaped({"request_id": st.just("REQ") | texts})),
    holder=who,
    headers=garbage_headers,
)
def test_fuzz_token_and_status(
    world: World, body: bytes, holder: str, headers: dict[str, str]
) -> None:
    assert world.buyer.request_id is not None  # "REQ" is the buyer's place, whoever asks
    body = body.replace(b'"REQ"', json.dumps(world.buyer.request_id).encode())
    sent = {**_auth(world, holder), **headers}
    r = world.send("POST", "/wr/token", body, sent)
    if r.status == 200:
        assert sent.get("cookie") == world.buyer.cookie, "a token went to a stranger"
    world.send("GET", "/wr/status", b"", sent)


hold_body = st.one_of(
    _shaped({"seat_ids": st.lists(st.sampled_from(["A-01-01", "Z-99-99"]) | texts, max_size=6)}),
    _shaped(
        {
            "best_available": _shaped(
                {"quantity": st.integers(-2, 8), "zone": st.sampled_from(["A", "D", "Q"])}
            )
        }
    ),
    _shaped({"general_admission": _shaped({"quantity": st.integers(-2, 8)})}),
)


@FUZZ
@given(body=_encoded(hold_body), holder=who, headers=garbage_headers)
def test_fuzz_holds(world: World, body: bytes, holder: str, headers: dict[str, str]) -> None:
    world.send("POST", "/holds", body, {**_auth(world, holder), **headers})


@FUZZ
@given(
    body=_encoded(_shaped({"hold_id": texts})),
    key=st.none() | header_text | st.just("k" * 300),
    holder=who,
    headers=garbage_headers,
)
def test_fuzz_orders(
    world: World, body: bytes, key: str | None, holder: str, headers: dict[str, str]
) -> None:
    sent = {**_auth(world, holder), **headers}
    if key is not None:
        sent["idempotency-key"] = key
    world.send("POST", "/orders", body, sent)


@FUZZ
@given(param=path_param, holder=who, headers=garbage_headers)
def test_fuzz_path_parameters(
    world: World, param: str, holder: str, headers: dict[str, str]
) -> None:
    sent = {**_auth(world, holder), **headers}
    for method, path in [
        ("GET", f"/events/{param}"),
        ("GET", f"/events/{param}/seats"),
        ("GET", f"/orders/{param}"),
        ("DELETE", f"/holds/{param}"),
        ("GET", f"/healthz?{param}"),
        ("GET", f"/metrics?{param}"),
    ]:
        world.send(method, path, b"", sent)


SETTABLE = set(ShopConfig().to_json())
config_patch = _shaped(
    {
        "admission_rate_per_min": st.floats(-1, 1e6),
        "active_cap": st.integers(-5, 10**20),
        "refresh_interval_s": st.floats(-1, 1e9),
        "queueing_method": st.sampled_from(["fifo", "lifo"]),
        "onsale_in_s": st.floats(allow_nan=True),
    }
)
faults_patch = _shaped(
    {
        "endpoints": st.dictionaries(
            st.sampled_from(["wr.status", "holds.create", "nope"]),
            _shaped({"latency_ms": st.floats(-1, 10), "error_status": st.integers(100, 700)}),
            max_size=2,
        ),
        "capacity_limit": st.integers(-1, 10**30),
        "payment": _shaped({"decline_rate": st.floats(-1, 2), "latency_ms": st.floats(-1, 5)}),
        "bugs": st.dictionaries(st.sampled_from(["lifo_admission", "nope"]), json_values),
    }
)


@FUZZ
@given(
    target=st.sampled_from(["/admin/config", "/admin/faults"]),
    body=_encoded(st.one_of(config_patch, faults_patch)),
    query=st.dictionaries(
        st.sampled_from(["after", "limit", "kind"]),
        st.text(max_size=12) | st.integers(-(10**30), 10**30).map(str),
        max_size=3,
    ),
    key=st.sampled_from(["right", "wrong", "none"]),
)
def test_fuzz_admin(
    world: World, target: str, body: bytes, query: dict[str, str], key: str
) -> None:
    url, admin_key = world.shop.url, world.shop.admin_key
    headers = {"right": {"x-admin-key": admin_key}, "wrong": {"x-admin-key": "guess"}}.get(key, {})
    before = [admin(url, admin_key, "GET", p).body for p in ("/admin/config", "/admin/faults")]
    r = world.send("PUT", target, body, headers)
    if r.status < 400:  # accepted: put the quiet settings back before the next example
        config = {k: v for k, v in before[0].items() if k in SETTABLE}
        assert admin(url, admin_key, "PUT", "/admin/config", config).status == 200
        restored = {**before[1], "endpoints": {n: None for n in r.body.get("endpoints", {})}}
        restored["endpoints"].update(before[1].get("endpoints", {}))
        assert admin(url, admin_key, "PUT", "/admin/faults", restored).status == 200
        world.cursor = world.audit_since()[-1]["id"]
    else:
        after = [admin(url, admin_key, "GET", p).body for p in ("/admin/config", "/admin/faults")]
        assert after == before
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    world.send("GET", "/admin/audit?" + qs, b"", headers)
    if key != "right":  # a reset with the key would empty the shop the other tests use
        r = world.send("POST", "/admin/reset", body, headers)
        assert r.status in (401, 403), r


ROUTES = {
    "/events/onsale-2026": {"GET"},
    "/wr/join": {"POST"},
    "/wr/status": {"GET"},
    "/wr/token": {"POST"},
    "/events/onsale-2026/seats": {"GET"},
    "/holds": {"POST"},
    "/holds/HOLD": {"DELETE"},
    "/orders": {"POST"},
    "/orders/ORDER": {"GET"},
    "/admin/config": {"GET", "PUT"},
    "/admin/faults": {"GET", "PUT"},
    "/admin/audit": {"GET"},
    "/admin/invariants": {"GET"},
    "/admin/reset": {"POST"},
    "/metrics": {"GET"},
    "/healthz": {"GET"},
}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"]


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_wrong_methods_are_405_and_change_nothing(world: World, path: str) -> None:
    real = path.replace("HOLD", world.hold_id).replace("ORDER", world.order_id)
    headers = {**_auth(world, "buyer"), "x-admin-key": world.shop.admin_key}
    for method in METHODS:
        if method in ROUTES[path]:
            continue
        r = world.send(method, real, b'{"event_id": "onsale-2026"}', headers)
        if method == "FOO":  # not an HTTP method at all: the parser refuses it
            assert (r.status, r["error"]) == (400, "bad_request"), (method, path, r)
        else:
            assert (r.status, r["error"]) == (405, "method_not_allowed"), (method, path, r)
