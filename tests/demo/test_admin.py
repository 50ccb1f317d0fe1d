"""Operations endpoints: admin key, live config and faults, audit, metrics, reset."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from loadkit.demo import ShopProcess
from tests.demo.client import Visitor, admin, request

pytestmark = [pytest.mark.integration, pytest.mark.functional]


def test_admin_endpoints_need_the_admin_key(shop: ShopProcess) -> None:
    for path in ("/admin/config", "/admin/faults", "/admin/audit", "/admin/invariants"):
        assert request(shop.url, "GET", path).status == 401
        assert request(shop.url, "GET", path, headers={"x-admin-key": "wrong"}).status == 403
    assert request(shop.url, "POST", "/admin/reset").status == 401


def test_config_changes_live_and_rejects_bad_values(shop: ShopProcess) -> None:
    r = admin(
        shop.url,
        shop.admin_key,
        "PUT",
        "/admin/config",
        {"refresh_interval_s": 2.5, "queueing_method": "prequeue_shuffle"},
    )
    assert r.status == 200
    assert (r["refresh_interval_s"], r["queueing_method"]) == (2.5, "prequeue_shuffle")
    assert Visitor(shop.url).join()["refresh_interval_s"] == 2.5
    bad = admin(
        shop.url,
        shop.admin_key,
        "PUT",
        "/admin/config",
        {"refresh_intervall_s": 1, "hold_ttl_s": -1, "queueing_method": "lifo"},
    )
    assert bad.status == 422
    messages = {p["field"]: p["message"] for p in bad["problems"]}
    assert "did you mean 'refresh_interval_s'" in messages["refresh_intervall_s"]
    assert set(messages) == {"refresh_intervall_s", "hold_ttl_s", "queueing_method"}
    unchanged = admin(shop.url, shop.admin_key, "GET", "/admin/config")
    assert unchanged["hold_ttl_s"] == 30.0


def test_injected_errors_and_latency(shop: ShopProcess) -> None:
    r = admin(
        shop.url,
        shop.admin_key,
        "PUT",
        "/admin/faults",
        {"endpoints": {"wr.join": {"error_rate": 1.0, "error_status": 502}}},
    )
    assert r["endpoints"]["wr.join"]["error_rate"] == 1.0
    failed = request(shop.url, "POST", "/wr/join", {"event_id": "onsale-2026"})
    assert (failed.status, failed["error"]) == (502, "injected_fault")
    audit = admin(shop.url, shop.admin_key, "GET", "/admin/audit?kind=join")
    assert audit["entries"] == []  # an injected error changes nothing
    admin(shop.url, shop.admin_key, "PUT", "/admin/faults", {"endpoints": {"wr.join": None}})
    assert request(shop.url, "POST", "/wr/join", {"event_id": "onsale-2026"}).status == 201
    bad = admin(
        shop.url,
        shop.admin_key,
        "PUT",
        "/admin/faults",
        {"endpoints": {"wr.joinn": {"latency_ms": 5}}, "bugs": {"oversell": True}},
    )
    assert bad.status == 422
    assert len(bad["problems"]) == 2


def test_capacity_limit_answers_503_beyond_n_concurrent(shop: ShopProcess) -> None:
    admin(
        shop.url,
        shop.admin_key,
        "PUT",
        "/admin/faults",
        {"capacity_limit": 2, "endpoints": {"events.get": {"latency_ms": 300}}},
    )
    barrier = threading.Barrier(6)

    def land(_: int) -> int:
        barrier.wait()
        return request(shop.url, "GET", "/events/onsale-2026").status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(land, range(6)))
    assert statuses.count(200) >= 1
    assert statuses.count(503) >= 1
    assert set(statuses) == {200, 503}
    assert request(shop.url, "GET", "/healthz").status == 200  # ops endpoints are exempt


def test_audit_log_pages_in_order(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    v.order(v.hold(quantity=1)["hold_id"])
    kinds, after = [], 0
    while True:
        page = admin(shop.url, shop.admin_key, "GET", f"/admin/audit?after={after}&limit=2")
        kinds += [e["kind"] for e in page["entries"]]
        after = page["next_after"]
        if not page["has_more"]:
            break
    for kind in ("join", "admit", "token", "hold", "order", "payment"):
        assert kind in kinds
    assert kinds.index("join") < kinds.index("admit") < kinds.index("token") < kinds.index("hold")
    assert admin(shop.url, shop.admin_key, "GET", "/admin/audit?limit=x").status == 422


def test_metrics_in_prometheus_format(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    v.order(v.hold(quantity=2)["hold_id"])
    text = request(shop.url, "GET", "/metrics").body
    assert isinstance(text, str)
    assert 'demo_requests_total{route="wr.join",status="201"} 1' in text
    assert 'demo_request_duration_seconds_count{route="holds.create"} 1' in text
    assert "demo_admitted_total 1" in text
    assert 'demo_orders_total{state="paid"} 1' in text
    assert 'demo_seats{state="sold"} 2' in text
    assert "# TYPE demo_queue_length gauge" in text


def test_reset_starts_a_fresh_onsale(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    v.hold(["A-01-01"])
    r = admin(shop.url, shop.admin_key, "POST", "/admin/reset")
    assert r.status == 200
    assert v.hold(["A-01-02"]).status == 401  # tokens from before the reset are unknown
    fresh = Visitor(shop.url).admitted()
    assert fresh.hold(["A-01-01"]).status == 201
