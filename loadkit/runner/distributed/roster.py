"""The master's book of workers: who joined, their shards, clocks, segments and fate. No gevent.

Each worker's segments are tracked by sequence number per kind, so the master knows exactly
which of them it holds; a worker's records are complete when it said ``lk_done`` and every
sequence 1..last of both kinds arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from loadkit.results.schema import RunStatus
from loadkit.results.writer import RecordKind
from loadkit.runner.distributed.clock import ClockOffset, ClockSample, estimate_offset
from loadkit.runner.distributed.messages import Done, Hello


class Fate(StrEnum):
    """Where a worker is in its life; the last one is written to the manifest."""

    JOINED = "joined"  # welcomed, not yet planned
    READY = "ready"  # has its plan, loaded everything
    RUNNING = "running"  # t0 sent
    DONE = "done"  # said lk_done: flushed everything it will ever write
    LOST = "lost"  # fell silent; its unreported arrivals are accounted as dropped
    REFUSED = "refused"  # refused by the master (version) or refused its plan


@dataclass
class WorkerSlot:
    """Live state of one worker on the master (mutable: the master updates it as messages come)."""

    worker_id: int
    client_id: str  # Locust's node id (hostname_uuid)
    hello: Hello
    last_heard_s: float  # monotonic seconds
    fate: Fate = Fate.JOINED
    shards: tuple[int, ...] = ()
    scheduled: int = 0
    clock_samples: list[ClockSample] = field(default_factory=list)
    clock: ClockOffset | None = None
    seqs: dict[RecordKind, set[int]] = field(default_factory=lambda: {k: set() for k in RecordKind})
    rows: dict[RecordKind, int] = field(default_factory=lambda: {k: 0 for k in RecordKind})
    arrival_ids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    done: Done | None = None
    lost_arrivals: int = 0
    note: str | None = None  # why it was lost or refused

    def settle_clock(self) -> ClockOffset | None:
        if self.clock_samples:
            self.clock = estimate_offset(self.clock_samples)
        return self.clock

    @property
    def clock_offset_ns(self) -> int:
        return self.clock.offset_ns if self.clock else 0

    def received(self, kind: RecordKind, seq: int, rows: int) -> bool:
        """Note a segment; False when it was a duplicate (already counted)."""
        if seq in self.seqs[kind]:
            return False
        self.seqs[kind].add(seq)
        self.rows[kind] += rows
        return True

    def last_seq(self, kind: RecordKind) -> int:
        return max(self.seqs[kind], default=0)

    def missing_seqs(self) -> dict[str, list[int]]:
        """Sequence numbers below the worker's last one (or its lk_done count) never received."""
        out: dict[str, list[int]] = {}
        for kind in RecordKind:
            upto = self.last_seq(kind)
            if self.done is not None:
                upto = max(upto, int(self.done.segments.get(kind.value, 0)))
            gaps = sorted(set(range(1, upto + 1)) - self.seqs[kind])
            if gaps:
                out[kind.value] = gaps
        return out

    @property
    def records_complete(self) -> bool:
        """Every record the worker made reached the master (a worker whose own writes failed
        reports status failed: its records are incomplete whatever it sent)."""
        failed = self.done is not None and self.done.status == RunStatus.FAILED.value
        return self.fate is Fate.DONE and not failed and not self.missing_seqs()

    def reported_arrival_ids(self) -> npt.NDArray[np.int64]:
        if not self.arrival_ids:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(self.arrival_ids))

    def _self_report(self) -> dict[str, float | str | int]:
        """The worker's generator CPU (the analyzer's validity check) and start timer, when it
        reported them."""
        if self.done is None:
            return {}
        cpu = {
            "cpu_percent_max": self.done.cpu_percent_max,
            "cpu_percent_p95": self.done.cpu_percent_p95,
        }
        out: dict[str, float | str | int] = {k: float(v) for k, v in cpu.items() if v is not None}
        if self.done.start_timer is not None:
            out["start_timer"] = self.done.start_timer
        if self.done.open_files_limit is not None:
            out["open_files_limit"] = self.done.open_files_limit
        return out

    def manifest_entry(self) -> dict[str, Any]:
        """This worker's entry of ``manifest.json`` ``workers`` (schema.MANIFEST_KEYS)."""
        return {
            "id": self.worker_id,
            "host": self.hello.host,
            "pid": self.hello.pid,
            "node": self.client_id,
            "shards": list(self.shards),
            "scheduled": self.scheduled,
            "clock_offset_ms": self.clock.offset_ms if self.clock else None,
            "clock_round_trip_ms": self.clock.round_trip_ms if self.clock else None,
            "requests_written": self.rows[RecordKind.REQUESTS],
            "arrivals_written": self.rows[RecordKind.ARRIVALS],
            "segments": {k.value: self.last_seq(k) for k in RecordKind},
            "missing_segments": self.missing_seqs(),
            "lost_arrivals": self.lost_arrivals,
            "status": self.done.status if self.done else None,
            "fate": self.fate.value,
            "note": self.note,
            **self._self_report(),
            "versions": {
                "loadkit": self.hello.loadkit_version,
                "locust": self.hello.locust_version,
                "python": self.hello.python_version,
            },
        }


__all__ = ["Fate", "WorkerSlot"]
