"""Clock offsets between master and workers, NTP-style, and the shard split. Pure functions.

One ping/pong round gives four epoch timestamps: t1 master send, t2 worker receive, t3 worker
send, t4 master receive. Assuming the two legs take equally long::

    offset = ((t2 - t1) + (t3 - t4)) / 2      worker clock minus master clock
    round trip = (t4 - t1) - (t3 - t2)        time on the wire, worker's processing excluded

The round with the shortest round trip is the least disturbed by queueing, so it wins
(the error of its offset is at most half its round trip).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockSample:
    master_send_ns: int
    worker_recv_ns: int
    worker_send_ns: int
    master_recv_ns: int

    @property
    def offset_ns(self) -> int:
        return (
            (self.worker_recv_ns - self.master_send_ns)
            + (self.worker_send_ns - self.master_recv_ns)
        ) // 2

    @property
    def round_trip_ns(self) -> int:
        return (self.master_recv_ns - self.master_send_ns) - (
            self.worker_send_ns - self.worker_recv_ns
        )


@dataclass(frozen=True)
class ClockOffset:
    """The best estimate: worker clock minus master clock, and its round trip (error ≤ rtt/2)."""

    offset_ns: int
    round_trip_ns: int
    samples: int

    @property
    def offset_ms(self) -> float:
        return self.offset_ns / 1e6

    @property
    def round_trip_ms(self) -> float:
        return self.round_trip_ns / 1e6


def estimate_offset(samples: Iterable[ClockSample]) -> ClockOffset:
    """Pick the sample with the shortest round trip. Raises ValueError when there is none."""
    pool = list(samples)
    if not pool:
        raise ValueError("no clock samples")
    best = min(pool, key=lambda s: s.round_trip_ns)
    return ClockOffset(best.offset_ns, max(best.round_trip_ns, 0), len(pool))


def assign_shards(total_shards: int, worker_count: int) -> list[tuple[int, ...]]:
    """Deal shards 0..S-1 round-robin: worker i gets every shard s with s % N == i.

    Round-robin keeps each worker's share of every phase equal (neighbouring arrivals fall into
    neighbouring shards). Raises ValueError when there are more workers than shards.
    """
    if worker_count < 1:
        raise ValueError("need at least one worker")
    if worker_count > total_shards:
        raise ValueError(
            f"{worker_count} workers but only {total_shards} shards: raise 'shards' to at least "
            f"the worker count"
        )
    return [tuple(range(i, total_shards, worker_count)) for i in range(worker_count)]


def shard_mask_ids(
    arrival_ids: Sequence[int], shards: Iterable[int], total_shards: int
) -> list[int]:
    """The arrival ids (in order) that fall into the given shards."""
    chosen = set(shards)
    return [k for k in arrival_ids if k % total_shards in chosen]


__all__ = ["ClockOffset", "ClockSample", "assign_shards", "estimate_offset", "shard_mask_ids"]
