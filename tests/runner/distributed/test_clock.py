"""Clock offsets (NTP-style) and the shard split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadkit.runner.distributed.clock import (
    ClockSample,
    assign_shards,
    estimate_offset,
    shard_mask_ids,
)

MS = 1_000_000


def _sample(t1: int, offset: int, up: int, down: int, work: int = 0) -> ClockSample:
    """A round with a worker clock ``offset`` ahead, ``up``/``down`` ns on the wire."""
    t2 = t1 + up + offset
    t3 = t2 + work
    t4 = t3 - offset + down
    return ClockSample(t1, t2, t3, t4)


def test_symmetric_legs_give_the_exact_offset_and_round_trip() -> None:
    s = _sample(1_000 * MS, offset=37 * MS, up=2 * MS, down=2 * MS, work=5 * MS)
    assert s.offset_ns == 37 * MS
    assert s.round_trip_ns == 4 * MS  # the worker's 5 ms of work is not wire time


def test_the_fastest_round_wins() -> None:
    slow = _sample(0, offset=10 * MS, up=30 * MS, down=2 * MS)  # queued on the way up
    fast = _sample(100 * MS, offset=10 * MS, up=1 * MS, down=1 * MS)
    best = estimate_offset([slow, fast])
    assert best.offset_ms == pytest.approx(10.0)
    assert best.round_trip_ms == pytest.approx(2.0)
    assert best.samples == 2


@given(
    offset=st.integers(-(10**10), 10**10),
    up=st.integers(0, 10**8),
    down=st.integers(0, 10**8),
)
def test_the_error_is_at_most_half_the_round_trip(offset: int, up: int, down: int) -> None:
    est = estimate_offset([_sample(5 * 10**18, offset, up, down)])
    assert abs(est.offset_ns - offset) <= est.round_trip_ns // 2 + 1


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no clock samples"):
        estimate_offset([])


def test_shards_are_dealt_round_robin_and_cover_everything_once() -> None:
    split = assign_shards(8, 3)
    assert split == [(0, 3, 6), (1, 4, 7), (2, 5)]
    assert sorted(s for part in split for s in part) == list(range(8))


def test_more_workers_than_shards_is_refused_with_a_fix() -> None:
    with pytest.raises(ValueError, match="raise 'shards'"):
        assign_shards(4, 5)


def test_shard_membership_is_k_mod_s() -> None:
    assert shard_mask_ids(range(10), (0, 2), 4) == [0, 2, 4, 6, 8]
