"""Shards of a pytest run that take about the same time (``tests.suite`` runs two at once).

``LOADKIT_TEST_SHARD=k/n`` keeps shard k of n. A shard is a set of whole test files, so module
fixtures stay in one process and every test runs in exactly one shard. Files are balanced by
the seconds their selected tests took when last measured (``tests/durations.json``: every test
over ``RECORDED_MIN_S``); a test not listed counts a typical time for its kind.

``python -m tests.suite --record-durations`` measures the whole suite again and rewrites the
file (``LOADKIT_TEST_DURATIONS_OUT``: where each pytest process appends its tests' seconds).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")
RECORDED_MIN_S = 0.5
# A test not in DURATIONS (averages measured on 2 cores):
_FUNCTIONAL_S = 0.4  # starts a server or a kernel, checks behaviour
_REAL_LOAD_S = 1.5
_UNIT_S = 0.1

_SHARD = pytest.StashKey[str]()
_record_to: list[str] = []  # where record() appends, when measuring


def take_settings(config: pytest.Config) -> None:
    """Read ``LOADKIT_TEST_SHARD`` and ``LOADKIT_TEST_DURATIONS_OUT`` once and take them out
    of the environment, so a pytest that a test starts runs whole and records nothing."""
    shard = os.environ.pop("LOADKIT_TEST_SHARD", "")
    if shard:
        config.stash[_SHARD] = shard
    out = os.environ.pop("LOADKIT_TEST_DURATIONS_OUT", "")
    if out:
        _record_to[:] = [out]


def _typical_s(item: pytest.Item) -> float:
    if item.get_closest_marker("functional"):
        return _FUNCTIONAL_S
    if any(item.get_closest_marker(m) for m in ("integration", "notebooks", "netns", "browser")):
        return _REAL_LOAD_S
    return _UNIT_S


def keep_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect every test outside this process's shard (no-op without a shard setting)."""
    shard = config.stash.get(_SHARD, None)
    if not shard:
        return
    k, n = (int(part) for part in shard.split("/"))
    measured: dict[str, float] = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    seconds: dict[str, float] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        seconds[path] = seconds.get(path, 0.0) + measured.get(item.nodeid, _typical_s(item))
    loads, owner = [0.0] * n, {}
    for path in sorted(seconds, key=lambda p: (-seconds[p], p)):
        lightest = loads.index(min(loads))
        owner[path] = lightest
        loads[lightest] += seconds[path]
    keep, drop = [], []
    for item in items:
        (keep if owner[item.nodeid.split("::")[0]] == k else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def record(report: pytest.TestReport) -> None:
    """Append a test's seconds (setup, call and teardown add up) to
    ``LOADKIT_TEST_DURATIONS_OUT`` when it was set."""
    for out in _record_to:
        with open(out, "a") as f:
            f.write(json.dumps([report.nodeid, report.duration]) + "\n")


def write_durations(lines: list[str]) -> int:
    """Sum the appended records per test and rewrite DURATIONS with those over
    RECORDED_MIN_S; returns how many it kept."""
    total: dict[str, float] = {}
    for line in lines:
        nodeid, duration_s = json.loads(line)
        total[nodeid] = total.get(nodeid, 0.0) + duration_s
    kept = {k: round(v, 1) for k, v in sorted(total.items()) if v >= RECORDED_MIN_S}
    DURATIONS.write_text(json.dumps(kept, indent=0) + "\n")
    return len(kept)
