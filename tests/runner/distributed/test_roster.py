"""The master's bookkeeping: segment sequences, completeness, lost-arrival accounting."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from loadkit.results.merge import LOST_REASON
from loadkit.results.schema import ARRIVAL_SCHEMA
from loadkit.results.writer import RecordKind
from loadkit.runner.distributed.accounting import lost_arrivals
from loadkit.runner.distributed.messages import Done, Hello, MessageType, from_wire, to_wire
from loadkit.runner.distributed.roster import Fate, WorkerSlot


def _slot() -> WorkerSlot:
    hello = Hello("0.1.0", "2.47.0", "3.11.9", "box", 1)
    return WorkerSlot(worker_id=3, client_id="box_1", hello=hello, last_heard_s=0.0)


def test_duplicates_are_counted_once() -> None:
    slot = _slot()
    assert slot.received(RecordKind.ARRIVALS, 1, 10)
    assert not slot.received(RecordKind.ARRIVALS, 1, 10)
    assert slot.rows[RecordKind.ARRIVALS] == 10


def test_records_are_complete_only_when_done_and_without_gaps() -> None:
    slot = _slot()
    slot.received(RecordKind.REQUESTS, 1, 5)
    slot.received(RecordKind.REQUESTS, 3, 5)
    slot.fate = Fate.DONE
    slot.done = Done(3, "completed", {"requests": 4, "arrivals": 0}, {"requests": 20})
    assert slot.missing_seqs() == {"requests": [2, 4]}
    assert not slot.records_complete
    slot.received(RecordKind.REQUESTS, 2, 5)
    slot.received(RecordKind.REQUESTS, 4, 5)
    assert slot.records_complete
    entry = slot.manifest_entry()
    assert entry["fate"] == "done" and entry["segments"] == {"requests": 4, "arrivals": 0}


def test_a_running_worker_is_never_complete() -> None:
    slot = _slot()
    slot.fate = Fate.RUNNING
    assert not slot.records_complete


def test_unreported_arrivals_become_dropped_worker_lost_rows() -> None:
    ids = np.array([3, 7, 11, 15], dtype=np.int64)
    offsets = np.array([100, 200, 300, 400], dtype=np.int64)
    reported = np.array([7], dtype=np.int64)
    persona_of = np.array([0, 1] * 8)
    table = lost_arrivals(
        ids,
        offsets,
        reported,
        worker_id=3,
        t0_ns=1_000,
        total_shards=4,
        persona_names=("fan", "bot"),
        persona_of=persona_of,
    )
    assert table.schema.equals(ARRIVAL_SCHEMA)
    rows = table.to_pylist()
    assert [r["arrival_id"] for r in rows] == [3, 11, 15]
    assert [r["scheduled_ns"] for r in rows] == [1_100, 1_300, 1_400]
    assert {r["outcome"] for r in rows} == {"dropped"}
    assert {r["reason"] for r in rows} == {LOST_REASON}
    assert [r["persona"] for r in rows] == ["bot", "bot", "bot"]
    assert [r["shard"] for r in rows] == [3, 3, 3]
    assert all(r["actual_ns"] is None for r in rows)


def test_no_lost_arrivals_is_an_empty_table_of_the_schema() -> None:
    ids = np.array([1], dtype=np.int64)
    table = lost_arrivals(
        ids, ids, ids, worker_id=0, t0_ns=0, total_shards=1, persona_names=(), persona_of=None
    )
    assert table.num_rows == 0 and isinstance(table, pa.Table)


def test_a_workers_cpu_from_its_done_goes_into_its_manifest_entry() -> None:
    slot = _slot()
    assert "cpu_percent_max" not in slot.manifest_entry()  # nothing reported yet
    done = Done(
        3,
        "completed",
        {},
        {},
        cpu_percent_max=41.5,
        cpu_percent_p95=30.0,
        start_timer="timerfd",
        open_files_limit=20_000,
    )
    wire = to_wire(done)
    slot.done = from_wire(MessageType.DONE.value, wire)
    entry = slot.manifest_entry()
    assert (entry["cpu_percent_max"], entry["cpu_percent_p95"]) == (41.5, 30.0)
    assert entry["start_timer"] == "timerfd"
    assert entry["open_files_limit"] == 20_000  # the limit the worker's run had
    # an older worker's lk_done has no CPU keys: the entry simply has none
    old = {
        k: v for k, v in wire.items() if not k.startswith(("cpu_", "aborted_", "start_", "open_"))
    }
    slot.done = from_wire(MessageType.DONE.value, old)
    assert slot.done.aborted_by_threshold is None
    assert "cpu_percent_p95" not in slot.manifest_entry()
