"""Fixtures for the demo shop's own tests: one shop per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadkit.demo import ShopProcess
from tests.conftest import FAST_CONFIG, FAST_FAULTS
from tests.demo.client import admin


@pytest.fixture(scope="module")
def module_shop() -> Iterator[ShopProcess]:
    shop = ShopProcess.start(faults=FAST_FAULTS, **FAST_CONFIG)
    try:
        yield shop
    finally:
        shop.stop()


@pytest.fixture
def shop(module_shop: ShopProcess) -> ShopProcess:
    """The module's shop with a fresh on-sale (all seats free, empty queue, default faults)."""
    url, key = module_shop.url, module_shop.admin_key
    for method, path, body in [
        ("POST", "/admin/reset", {"faults": True, "config": True}),
        ("PUT", "/admin/config", FAST_CONFIG),
        ("PUT", "/admin/faults", FAST_FAULTS),
    ]:
        r = admin(url, key, method, path, body)
        assert r.status == 200, r
    return module_shop
