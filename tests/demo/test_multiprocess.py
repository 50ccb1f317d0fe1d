"""Several shop processes on one SQLite file stay correct."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import ShopFactory
from tests.demo.client import Reply, Visitor, admitted_visitors, invariants

pytestmark = pytest.mark.integration

HOT = [f"A-01-{n:02d}" for n in range(1, 11)]


def _rush(visitors: list[Visitor], urls: list[str]) -> list[tuple[Reply, Reply | None]]:
    """Each visitor grabs 2 adjacent hot seats through one process and pays through another."""
    barrier = threading.Barrier(len(visitors))

    def buy(i: int) -> tuple[Reply, Reply | None]:
        v = visitors[i]
        start = random.Random(i).randrange(len(HOT) - 1)
        barrier.wait()
        v.url = urls[i % len(urls)]
        hold = v.hold(HOT[start : start + 2])
        if hold.status != 201:
            return hold, None
        v.url = urls[(i + 1) % len(urls)]
        return hold, v.order(hold["hold_id"])

    with ThreadPoolExecutor(max_workers=len(visitors)) as pool:
        return list(pool.map(buy, range(len(visitors))))


def _sold_seats(results: list[tuple[Reply, Reply | None]]) -> list[str]:
    return [s for _, order in results if order and order.status == 201 for s in order["seats"]]


def test_two_shop_processes_on_one_database_never_oversell(shop_factory: ShopFactory) -> None:
    first = shop_factory()
    second = shop_factory(db=str(first.db_path))
    visitors = admitted_visitors(first.url, 30)
    results = _rush(visitors, [first.url, second.url])
    assert {h.status for h, _ in results} <= {201, 409}
    sold = _sold_seats(results)
    assert sold  # somebody got seats
    assert len(sold) == len(set(sold))  # nobody got a seat twice
    for shop in (first, second):
        report = invariants(shop.url, shop.admin_key)
        assert report["ok"], report
        assert report["checks"]["no_oversell"]["detail"]["sold_by_zone"]["A"] == len(sold)


def test_workers_share_one_shop(shop_factory: ShopFactory) -> None:
    shop = shop_factory(workers=2)
    visitors = admitted_visitors(shop.url, 24)
    results = _rush(visitors, [shop.url])
    sold = _sold_seats(results)
    assert sold
    assert len(sold) == len(set(sold))
    workers = {r.headers["x-shop-worker"] for r, _ in results}
    assert workers and str(shop.pid) not in workers  # served by forked workers, not the parent
    assert invariants(shop.url, shop.admin_key)["ok"]
