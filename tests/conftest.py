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

import pytest

from loadkit.demo import ShopProcess


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


_SHARD = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background command (`cmd &` without job control) with SIGINT ignored,
    # and an ignored signal stays ignored in every process started from it: the tests that
    # press Ctrl-C on a run would see it ignored. Handled, it is reset to default at exec.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Read once and taken out of the environment: a pytest that a test starts runs whole.
    shard = os.environ.pop("LOADKIT_TEST_SHARD", "")
    if shard:
        config.stash[_SHARD] = shard


# What a test takes when it has no ``slow(seconds)`` mark: real processes and load, or not.
_REAL_WORK_S = 4.0
_UNIT_S = 0.1
_REAL_WORK_MARKS = ("integration", "functional", "notebooks", "netns", "browser")


def _expected_s(item: pytest.Item) -> float:
    slow = item.get_closest_marker("slow")
    if slow is not None:
        return float(slow.args[0])
    real = any(item.get_closest_marker(name) for name in _REAL_WORK_MARKS)
    return _REAL_WORK_S if real else _UNIT_S


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``LOADKIT_TEST_SHARD=k/n`` keeps shard k of n (tests.suite runs layers as two shards
    at once): whole files, so module fixtures stay in one process and every test runs in
    exactly one shard, balanced by the seconds their tests are expected to take
    (``slow(seconds)`` marks, else a default for unit tests and for tests doing real work)."""
    shard = config.stash.get(_SHARD, None)
    if not shard:
        return
    k, n = (int(part) for part in shard.split("/"))
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(item)
    expected_s = {path: sum(_expected_s(i) for i in tests) for path, tests in by_file.items()}
    loads, owner = [0.0] * n, {}
    for path in sorted(by_file, key=lambda p: (-expected_s[p], p)):
        lightest = loads.index(min(loads))
        owner[path] = lightest
        loads[lightest] += expected_s[path]
    keep, drop = [], []
    for item in items:
        (keep if owner[item.nodeid.split("::")[0]] == k else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
