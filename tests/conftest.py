"""Shared pytest fixtures: a running demo ticket shop (loadkit.demo) for integration tests.

Fixtures (stable; other test areas rely on them):

``shop_factory(workers=1, faults=None, **config) -> ShopProcess``
    Start a demo shop on a free 127.0.0.1 port with a fresh temporary database and the fast
    test settings below (any ShopConfig key in ``config`` overrides them; ``faults`` is merged
    over ``FAST_FAULTS`` section by section). Every shop started is stopped (by PID) when the
    test ends, even if it fails. Use it when a test needs its own config or several shops.

``demo_shop -> ShopProcess``
    One shop started by ``shop_factory()`` with the fast settings. Attributes: ``url``
    (``http://127.0.0.1:PORT``), ``admin_key`` (send as ``X-Admin-Key``), ``pid``, ``db_path``.

Fast settings (``FAST_CONFIG``): queue polls every 0.2 s, 6,000 admissions a minute, holds
live 30 s, silent queue places expire after 30 s, sweeper every 0.1 s; payments take no time
and never decline (``FAST_FAULTS``). Tests that start a shop should be marked
``@pytest.mark.integration``.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest

from loadkit.demo import ShopProcess
from tests import sharding

# The property and fuzz tests draw new examples on every run on a laptop, where finding a new
# bug is the point. CI gates a release: there each test draws the same examples every run
# (derived from its source), so a red CI means the change under test broke something.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    hypothesis.settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _no_full_collections_of_earlier_tests(request: pytest.FixtureRequest) -> None:
    """Integration tests time targets and clients that run as threads of this process (the
    ground-truth server, the demo shop's test visitors). After a thousand earlier tests this
    process's heap is large, and one full garbage collection of it can stall those threads for
    a hundred milliseconds or more, which a test would then see as the target being late.
    Freeze what exists now: later collections scan only what this test creates."""
    if request.node.get_closest_marker("integration") is not None:
        gc.collect(1)  # the young generations only: cheap
        gc.freeze()


FAST_CONFIG: dict[str, Any] = {
    "refresh_interval_s": 0.2,
    "admission_rate_per_min": 6000.0,
    "active_cap": 0,
    "hold_ttl_s": 30.0,
    "hold_release_grace_s": 0.5,
    "queue_silence_s": 30.0,
    "token_ttl_s": 300.0,
    "token_redeem_s": 60.0,
    "sweeper_period_s": 0.1,
    "seats_cache_s": 0.0,
}
FAST_FAULTS: dict[str, Any] = {"payment": {"latency_ms": 0, "decline_rate": 0.0}}

ShopFactory = Callable[..., ShopProcess]


@pytest.fixture
def shop_factory() -> Iterator[ShopFactory]:
    started: list[ShopProcess] = []

    def start(workers: int = 1, faults: dict[str, Any] | None = None, **config: Any) -> ShopProcess:
        merged_faults = {**FAST_FAULTS, **(faults or {})}
        merged_faults["payment"] = {**FAST_FAULTS["payment"], **(faults or {}).get("payment", {})}
        shop = ShopProcess.start(workers=workers, faults=merged_faults, **{**FAST_CONFIG, **config})
        started.append(shop)
        return shop

    try:
        yield start
    finally:
        for shop in started:
            shop.stop()


@pytest.fixture
def demo_shop(shop_factory: ShopFactory) -> ShopProcess:
    return shop_factory()


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background command (`cmd &` without job control) with SIGINT ignored,
    # and an ignored signal stays ignored in every process started from it: the tests that
    # press Ctrl-C on a run would see it ignored. Handled, it is reset to default at exec.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    sharding.take_settings(config)


@pytest.hookimpl(trylast=True)  # after -m and -k took out what this run does not select
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sharding.keep_shard(config, items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    sharding.record(report)
