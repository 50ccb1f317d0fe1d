"""Every seeded bug, switched on, is caught by a named check of /admin/invariants."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from loadkit.demo import ShopProcess
from tests.demo.client import Reply, Visitor, admin, admitted_visitors, configure, failed_checks

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]


def _bug(shop: ShopProcess, name: str) -> None:
    r = admin(shop.url, shop.admin_key, "PUT", "/admin/faults", {"bugs": {name: True}})
    assert r.status == 200 and r["bugs"][name] is True, r


def _queue_then_open(shop: ShopProcess, n: int) -> list[Visitor]:
    """``n`` visitors join before t0 (in order), then poll until all are admitted."""
    r = admin(shop.url, shop.admin_key, "PUT", "/admin/config", {"onsale_in_s": 1.0})
    assert r.status == 200, r
    visitors = [Visitor(shop.url) for _ in range(n)]
    for v in visitors:
        assert v.join()["state"] == "prequeue"
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(lambda v: v.wait_admitted(timeout_s=15), visitors))
    return visitors


def test_non_atomic_hold_oversells_and_is_caught(shop: ShopProcess) -> None:
    visitors = admitted_visitors(shop.url, 12)
    assert failed_checks(shop.url, shop.admin_key) == set()
    _bug(shop, "non_atomic_hold")
    barrier = threading.Barrier(len(visitors))

    def grab(v: Visitor) -> Reply:
        barrier.wait()
        return v.hold(["A-01-01"])

    with ThreadPoolExecutor(max_workers=len(visitors)) as pool:
        replies = list(pool.map(grab, visitors))
    winners = [(v, r) for v, r in zip(visitors, replies, strict=True) if r.status == 201]
    assert len(winners) > 1  # the same seat in several live holds
    assert "no_oversell" in failed_checks(shop.url, shop.admin_key)
    for v, r in winners[:2]:
        assert v.order(r["hold_id"]).status == 201  # ... and sold twice
    detail = admin(shop.url, shop.admin_key, "GET", "/admin/invariants")["checks"]
    assert detail["no_oversell"]["detail"]["seats_sold_twice"] == 1


def test_lifo_admission_is_caught(shop: ShopProcess) -> None:
    configure(shop, admission_rate_per_min=600)
    _bug(shop, "lifo_admission")
    _queue_then_open(shop, 10)
    assert "fifo" in failed_checks(shop.url, shop.admin_key)


def test_admission_times_one_and_a_half_is_caught(shop: ShopProcess) -> None:
    configure(shop, admission_rate_per_min=600)
    _bug(shop, "admission_x1_5")
    _queue_then_open(shop, 30)
    assert failed_checks(shop.url, shop.admin_key) == {"admission_rate"}


def test_token_reuse_allowed_is_caught(shop: ShopProcess) -> None:
    _bug(shop, "token_reuse_allowed")
    v = Visitor(shop.url).admitted()
    assert v.order(v.hold(quantity=2)["hold_id"]).status == 201
    again = v.hold(quantity=2)  # the consumed token is accepted
    assert again.status == 201
    assert v.order(again["hold_id"]).status == 201
    assert failed_checks(shop.url, shop.admin_key) == {"token_required"}


def test_no_idempotency_charges_twice_and_is_caught(shop: ShopProcess) -> None:
    admin(
        shop.url,
        shop.admin_key,
        "PUT",
        "/admin/faults",
        {"payment": {"latency_ms": 300, "latency_sigma": 0.01}},
    )
    _bug(shop, "no_idempotency")
    v = Visitor(shop.url).admitted()
    hold = v.hold(quantity=1)
    key = uuid.uuid4().hex
    # A retry with the same key while the first attempt is still at the payment provider.
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, retry = pool.map(lambda _: v.order(hold["hold_id"], key), range(2))
    assert first.status == retry.status == 201
    assert first["order_id"] != retry["order_id"]
    assert "one_order_per_idempotency_key" in failed_checks(shop.url, shop.admin_key)


def test_no_hold_sweeper_is_caught(shop: ShopProcess) -> None:
    configure(shop, hold_ttl_s=0.3, hold_release_grace_s=0.3)
    _bug(shop, "no_hold_sweeper")
    a, b = admitted_visitors(shop.url, 2)
    assert a.hold(["B-01-01"]).status == 201
    time.sleep(0.8)
    assert b.hold(["B-01-01"]).status == 409  # stock looks sold out long after the TTL
    assert failed_checks(shop.url, shop.admin_key) == {"holds_released_within_ttl"}


def test_switching_a_bug_off_restores_correct_behaviour(shop: ShopProcess) -> None:
    _bug(shop, "no_idempotency")
    r = admin(shop.url, shop.admin_key, "PUT", "/admin/faults", {"bugs": {"no_idempotency": False}})
    assert r["bugs"]["no_idempotency"] is False
    v = Visitor(shop.url).admitted()
    hold = v.hold(quantity=1)
    key = uuid.uuid4().hex
    assert v.order(hold["hold_id"], key)["order_id"] == v.order(hold["hold_id"], key)["order_id"]
    assert failed_checks(shop.url, shop.admin_key) == set()
