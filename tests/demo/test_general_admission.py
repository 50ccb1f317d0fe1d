"""General admission through the JSON API: a quota of tickets without seat ids, bought by
quantity, checked by the ``ga_within_quota`` invariant."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from loadkit.demo import ShopProcess
from tests.demo.client import EVENT, Visitor, configure, failed_checks, invariants, request

pytestmark = [pytest.mark.integration, pytest.mark.functional]


def _ga(v: Visitor, quantity: int) -> dict[str, object]:
    r = v.call("POST", "/holds", {"general_admission": {"quantity": quantity}})
    return {"status": r.status, **(r.body if isinstance(r.body, dict) else {})}


def test_general_admission_is_held_and_bought_by_quantity(shop: ShopProcess) -> None:
    configure(shop, ga_capacity=5)
    v = Visitor(shop.url).admitted()
    held = _ga(v, 3)
    assert held["status"] == 201 and held["seats"] == [] and held["general_admission"] == 3
    assert held["amount_cents"] == 3 * 4000
    seats = v.call("GET", f"/events/{EVENT}/seats").body
    assert seats["general_admission"] == {"capacity": 5, "available": 2}
    assert request(shop.url, "GET", f"/events/{EVENT}").body["general_admission"]["capacity"] == 5
    order = v.order(str(held["hold_id"]))
    assert order.status == 201 and order["seats"] == []
    detail = invariants(shop.url, shop.admin_key)["checks"]["ga_within_quota"]["detail"]
    assert detail == {"quota": 5, "sold": 3, "sold_or_held": 3}


def test_general_admission_beyond_the_quota_is_sold_out(shop: ShopProcess) -> None:
    configure(shop, ga_capacity=3)
    first, second = Visitor(shop.url).admitted(), Visitor(shop.url).admitted()
    assert _ga(first, 2)["status"] == 201
    refused = _ga(second, 2)
    assert refused["status"] == 409 and refused["error"] == "sold_out"
    assert refused["available"] == 1
    assert _ga(second, 1)["status"] == 201
    assert invariants(shop.url, shop.admin_key)["ok"]


@pytest.mark.parametrize(
    "body",
    [
        {"general_admission": {"quantity": 5}},
        {"general_admission": {"quantity": 0}},
        {"general_admission": 2},
        {"general_admission": {"quantity": 1}, "seat_ids": ["A-01-01"]},
    ],
)
def test_a_bad_general_admission_request_is_422(shop: ShopProcess, body: dict[str, object]) -> None:
    v = Visitor(shop.url).admitted()
    assert v.call("POST", "/holds", body).status == 422


def test_a_double_charge_of_general_admission_breaks_the_quota_invariant(
    shop: ShopProcess,
) -> None:
    configure(
        shop,
        ga_capacity=2,
        faults={
            "bugs": {"no_idempotency": True},
            "payment": {"latency_ms": 300, "latency_sigma": 0.01},
        },
    )
    v = Visitor(shop.url).admitted()
    held = _ga(v, 2)
    # A retry with the same key while the first attempt is still at the payment provider.
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, retry = pool.map(lambda _: v.order(str(held["hold_id"]), "same-key"), range(2))
    assert first.status == retry.status == 201  # charged twice: the seeded bug
    assert "ga_within_quota" in failed_checks(shop.url, shop.admin_key)
    detail = invariants(shop.url, shop.admin_key)["checks"]["ga_within_quota"]["detail"]
    assert detail["sold"] == 4 and detail["quota"] == 2
