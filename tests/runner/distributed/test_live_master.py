"""A distributed master's live figures, from streamed segments and each worker's schedule."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loadkit.profiles import Phase
from loadkit.results.writer import RecordKind
from loadkit.runner.distributed.live_master import MasterFeed
from loadkit.runner.distributed.messages import Hello
from loadkit.runner.distributed.roster import Fate, WorkerSlot


class Schedule:
    """Arrival k at k * 100 ms; shards split by k % 2."""

    phases = (Phase("main", 0.0, 10.0),)

    def for_shards(self, shards: Any, total: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array([k for k in range(100) if k % total in shards], dtype=np.int64)
        return ids, ids * 100_000_000


def parquet(columns: dict[str, list[Any]]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def slot(worker: int) -> WorkerSlot:
    hello = Hello("0", "0", "3.11", f"gen-{worker}", 100 + worker)
    s = WorkerSlot(worker, f"c{worker}", hello, time.monotonic(), fate=Fate.RUNNING)
    s.shards = (worker,)
    return s


def test_the_master_counts_streamed_rows_by_worker_and_derives_in_flight() -> None:
    slots = [slot(0), slot(1)]
    t0_ns = time.time_ns() - 2_050_000_000  # 2.05 s into the run: arrivals 0..20 are due
    master = SimpleNamespace(
        spec=SimpleNamespace(run_id="r", thresholds=("error_rate < 1%",), shards=2, live=None),
        files=SimpleNamespace(schedule=Schedule(), plan_entry={"onsale_offset_s": None}),
        slots=slots,
        t0_ns=t0_ns,
        interrupted=False,
        stop_reason=None,
    )
    feed = MasterFeed(master)
    inbox = SimpleNamespace(batch_taps=[])
    feed.attach(inbox)
    (tap,) = inbox.batch_taps
    tap(
        0,
        RecordKind.REQUESTS,
        parquet(
            {
                "worker": [0, 0, 0],
                "step": ["landing", "landing", "pay"],
                "outcome": ["ok", "ok", "http_error"],
                "status": [200, 200, 503],
                "response_ms": [10.0, 20.0, 5.0],
                "service_ms": [10.0, 20.0, 5.0],
            }
        ),
    )
    tap(
        1,
        RecordKind.ARRIVALS,
        parquet(
            {
                "worker": [1, 1, 1],
                "outcome": ["completed", "dropped", "abandoned"],
                "reason": [None, "in-flight cap of 5 was full", "left"],
                "lateness_ms": [1.0, None, 2.0],
                "joined_ns": [1, None, 1],
                "admitted_ns": [1, None, None],
                "seats_held": [["A1"], None, None],
                "seats_bought": [["A1"], None, None],
                "order_id": ["o1", None, None],
            }
        ),
    )
    feed.tick()
    board = feed.board
    assert board.requests[(0, "pay", "http_error", 503)] == 1
    # due by each worker's shards at 2.05 s: even arrivals 0..20 (11) and odd 1..19 (10)
    w0, w1 = board.arrivals_by_worker[0], board.arrivals_by_worker[1]
    assert (w0.scheduled, w0.started, w0.dropped, w0.in_flight) == (11, 11, 0, 11)
    # worker 1 recorded 2 ended journeys and 1 drop: 9 started (due - dropped), 7 in flight
    assert (w1.scheduled, w1.started, w1.dropped, w1.in_flight) == (10, 9, 1, 7)
    assert board.arrivals.scheduled == 21 and board.arrivals.in_flight == 18
    assert board.funnel["paid"] == 1 and board.lateness.count == 2
    assert (board.phase, board.status) == ("main", "running")
    assert [w.host for w in board.workers] == ["gen-0", "gen-1"]
    (gate,) = board.gates
    assert gate.state == "no_data"  # 3 requests: under the sample floor of 5
