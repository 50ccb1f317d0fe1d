"""Seats, holds, orders and payments against a real shop process."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from loadkit.demo import ShopProcess
from tests.demo.client import (
    Reply,
    Visitor,
    admin,
    admitted_visitors,
    configure,
    invariants,
    request,
)

pytestmark = [pytest.mark.integration, pytest.mark.functional]


def _contend(visitors: list[Visitor], seat_ids: list[str]) -> list[Reply]:
    """Every visitor asks for ``seat_ids`` at the same moment."""
    barrier = threading.Barrier(len(visitors))

    def go(v: Visitor) -> Reply:
        barrier.wait()
        return v.hold(seat_ids)

    with ThreadPoolExecutor(max_workers=len(visitors)) as pool:
        return list(pool.map(go, visitors))


def _seat_state(v: Visitor, seat: str) -> bool:
    """True if ``seat`` is listed as free."""
    zones = v.call("GET", "/events/onsale-2026/seats")["zones"]
    return any(seat in z["free"] for z in zones)


def test_fifty_concurrent_holds_on_one_seat_make_exactly_one(shop: ShopProcess) -> None:
    visitors = admitted_visitors(shop.url, 50)
    replies = _contend(visitors, ["B-05-10"])
    statuses = sorted(r.status for r in replies)
    assert statuses == [201] + [409] * 49
    assert all(r["error"] == "seats_taken" for r in replies if r.status == 409)
    assert invariants(shop.url, shop.admin_key)["ok"]


def test_best_available_gives_adjacent_seats_in_the_best_zone(shop: ShopProcess) -> None:
    a, b = admitted_visitors(shop.url, 2)
    first = a.hold(quantity=4)
    assert first.status == 201
    assert first["seats"] == ["A-01-01", "A-01-02", "A-01-03", "A-01-04"]
    assert b.hold(["A-01-06"]).status == 201
    second = Visitor(shop.url).admitted().hold(quantity=3)
    assert second["seats"] == ["A-01-07", "A-01-08", "A-01-09"]  # skips the gap at 05-06
    in_zone = b.hold(quantity=2, zone="C")
    assert in_zone["seats"] == ["C-01-01", "C-01-02"]
    assert in_zone["expires_at"] > time.time()


def test_order_is_paid_and_the_seat_is_sold(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    hold = v.hold(["D-20-40", "D-20-39"])
    assert hold.status == 201
    order = v.order(hold["hold_id"])
    assert order.status == 201
    assert order["status"] == "paid"
    assert order["seats"] == ["D-20-40", "D-20-39"]
    assert order["amount"] == 100.0
    seen = v.call("GET", f"/orders/{order['order_id']}")
    assert (seen.status, seen["status"], seen["hold_id"]) == (200, "paid", hold["hold_id"])
    other = Visitor(shop.url).admitted()
    assert other.call("GET", f"/orders/{order['order_id']}").status == 404
    assert not _seat_state(other, "D-20-40")


def test_same_idempotency_key_same_answer_one_charge(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    hold = v.hold(quantity=2)
    key = uuid.uuid4().hex
    first, second = v.order(hold["hold_id"], key), v.order(hold["hold_id"], key)
    assert first.status == second.status == 201
    assert first.body == second.body
    assert second.headers.get("idempotent-replayed") == "true"
    checks = invariants(shop.url, shop.admin_key)["checks"]
    assert checks["payments_match_orders"]["detail"]["captured_payments"] == 1
    assert checks["one_order_per_idempotency_key"]["ok"]
    other_hold_same_key = v.call(
        "POST", "/orders", {"hold_id": "other"}, headers={"idempotency-key": key}
    )
    assert other_hold_same_key.status == 422


def test_concurrent_retry_with_the_same_key_never_charges_twice(
    shop: ShopProcess,
) -> None:
    configure(shop, faults={"payment": {"latency_ms": 300, "latency_sigma": 0.01}})
    v = Visitor(shop.url).admitted()
    hold = v.hold(quantity=1)
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(lambda _: v.order(hold["hold_id"], key), range(2)))
    assert sorted(r.status for r in replies) == [201, 409]
    assert v.order(hold["hold_id"], key)["order_id"] == next(
        r["order_id"] for r in replies if r.status == 201
    )
    checks = invariants(shop.url, shop.admin_key)["checks"]
    assert checks["payments_match_orders"]["detail"]["captured_payments"] == 1


def test_declined_payment_keeps_the_hold_for_another_card(shop: ShopProcess) -> None:
    configure(shop, faults={"payment": {"decline_rate": 1.0}})
    v = Visitor(shop.url).admitted()
    hold = v.hold(quantity=2)
    declined = v.order(hold["hold_id"])
    assert (declined.status, declined["status"]) == (402, "declined")
    admin(shop.url, shop.admin_key, "PUT", "/admin/faults", {"payment": {"decline_rate": 0}})
    paid = v.order(hold["hold_id"])  # a new card: a new key
    assert (paid.status, paid["status"]) == (201, "paid")
    assert invariants(shop.url, shop.admin_key)["ok"]


def test_hold_expiry_frees_seats_and_order_gets_410(shop: ShopProcess) -> None:
    configure(shop, hold_ttl_s=0.4)
    slow, next_fan = admitted_visitors(shop.url, 2)
    hold = slow.hold(["A-02-02"])
    assert next_fan.hold(["A-02-02"]).status == 409
    time.sleep(0.5)  # past the TTL; the sweeper (every 0.1 s) frees it soon after
    deadline = time.monotonic() + 3.0  # bounded: a loaded machine may delay the sweep
    while not _seat_state(next_fan, "A-02-02") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _seat_state(next_fan, "A-02-02")
    late = slow.order(hold["hold_id"])
    assert (late.status, late["error"]) == (410, "hold_expired")
    assert next_fan.hold(["A-02-02"]).status == 201
    assert invariants(shop.url, shop.admin_key)["checks"]["holds_released_within_ttl"]["ok"]


def test_release_frees_the_seats(shop: ShopProcess) -> None:
    a, b = admitted_visitors(shop.url, 2)
    hold = a.hold(["C-03-03"])
    assert b.call("DELETE", f"/holds/{hold['hold_id']}").status == 404  # not b's hold
    released = a.call("DELETE", f"/holds/{hold['hold_id']}")
    assert (released.status, released["state"]) == (200, "released")
    assert b.hold(["C-03-03"]).status == 201


def _audit_size(shop: ShopProcess) -> int:
    r = admin(shop.url, shop.admin_key, "GET", "/admin/audit?limit=1000")
    return len(r["entries"])


@pytest.mark.parametrize(
    ("body", "raw", "status", "error"),
    [
        (None, b"{not json", 400, "malformed_json"),
        (None, b"[1, 2]", 422, "invalid_body"),
        ({"seat_ids": "A-01-01"}, None, 422, "invalid_field"),
        ({"seat_ids": [1, 2]}, None, 422, "invalid_field"),
        ({"seat_ids": ["A-01-01", "A-01-01"]}, None, 422, "invalid_field"),
        ({"seat_ids": ["Z-99-99"]}, None, 422, "unknown_seat_ids"),
        (
            {"seat_ids": ["A-01-01", "A-01-02", "A-01-03", "A-01-04", "A-01-05"]},
            None,
            422,
            "too_many_seats",
        ),
        ({"best_available": {"quantity": 5}}, None, 422, "too_many_seats"),
        ({"best_available": {"quantity": "2"}}, None, 422, "invalid_field"),
        ({"best_available": {"quantity": 2, "zone": "Q"}}, None, 422, "unknown_zone"),
        ({}, None, 422, "invalid_body"),
    ],
)
def test_bad_hold_requests_are_4xx_without_state_change(
    shop: ShopProcess, body: object, raw: bytes | None, status: int, error: str
) -> None:
    v = Visitor(shop.url).admitted()
    before = _audit_size(shop)
    r = v.call("POST", "/holds", body, raw=raw)
    assert (r.status, r["error"]) == (status, error)
    assert isinstance(r["message"], str)
    assert _audit_size(shop) == before
    assert _seat_state(v, "A-01-01")


def test_bad_order_requests(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    no_key = v.call("POST", "/orders", {"hold_id": "x"})
    assert (no_key.status, no_key["error"]) == (400, "idempotency_key_required")
    assert v.order("no-such-hold").status == 404
    wrong_type = v.call("POST", "/orders", {"hold_id": 7}, headers={"idempotency-key": "k"})
    assert (wrong_type.status, wrong_type["error"]) == (422, "invalid_field")
    assert v.call("POST", "/orders", raw=b"{", headers={"idempotency-key": "k2"}).status == 400
    assert request(shop.url, "GET", "/nowhere").status == 404
    assert request(shop.url, "PUT", "/holds").status == 405
    assert request(shop.url, "POST", "/wr/join", raw=b"nope").status == 400
    assert invariants(shop.url, shop.admin_key)["ok"]


def test_landing_page_is_public(shop: ShopProcess) -> None:
    r = request(shop.url, "GET", "/events/onsale-2026")
    assert r.status == 200
    assert sum(z["capacity"] for z in r["zones"]) == 2000
    assert [z["zone"] for z in r["zones"]] == ["A", "B", "C", "D"]
    assert request(shop.url, "GET", "/events/other").status == 404


def test_garbage_never_causes_a_server_error(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    auth = {"authorization": f"Bearer {v.token}"}
    weird: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", "/wr/join", b'{"event_id": ' * 5000, {}),
        ("POST", "/wr/join", b"\xff\xfe", {}),
        ("POST", "/wr/join", b'{"event_id": null}', {}),
        ("GET", "/wr/status", b"", {"cookie": "lk_wr=\u00e9\u00e9.x"}),
        ("GET", "/wr/status", b"", {"cookie": "lk_wr=abc"}),
        ("POST", "/wr/token", b'{"request_id": 5}', {}),
        ("POST", "/holds", b'{"seat_ids": [null]}', auth),
        ("POST", "/holds", b'{"best_available": {"quantity": NaN}}', auth),
        ("POST", "/holds", b'{"best_available": {"quantity": 1e400}}', auth),
        ("POST", "/holds", b"x" * 1_100_000, auth),
        ("POST", "/orders", b'{"hold_id": "x"}', {**auth, "idempotency-key": "k" * 300}),
        ("GET", "/orders/%00", b"", auth),
        ("DELETE", "/holds/..", b"", auth),
        ("GET", "/events/onsale-2026/seats", b"", {"authorization": "Bearer a.b.c"}),
        ("GET", "/events/onsale-2026/seats", b"", {"authorization": "Basic abc"}),
        ("GET", "/admin/audit?after=-1", b"", {"x-admin-key": shop.admin_key}),
        ("PUT", "/admin/config", b"[]", {"x-admin-key": shop.admin_key}),
        ("PUT", "/admin/faults", b'{"bugs": []}', {"x-admin-key": shop.admin_key}),
    ]
    for method, path, raw, headers in weird:
        r = request(shop.url, method, path, headers=headers, raw=raw)
        assert 400 <= r.status < 500, (method, path, r)
        assert isinstance(r.body, dict) and "error" in r.body, (path, r)
    assert invariants(shop.url, shop.admin_key)["ok"]
