"""The runner-side results writer: whole segments, compaction, atomic manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from loadkit.errors import ResultsError
from loadkit.results.schema import ARRIVAL_SCHEMA, REQUEST_SCHEMA
from loadkit.results.writer import (
    COMPACTED_FROM_KEY,
    RecordKind,
    SegmentWriter,
    list_segments,
    read_manifest,
    rows_to_table,
    write_manifest,
)


def _request(i: int, outcome: str = "ok") -> tuple[object, ...]:
    return (i, 0, "fan", "queue.poll", "GET /wr/status", "GET", 10 * i, 10 * i + 1, 1.5, 2.5,
            200, outcome, None if outcome == "ok" else "boom", 42, 1, 10 * i, 0, None)  # fmt: skip


def _arrival(i: int) -> tuple[object, ...]:
    return (i, "fan", i % 64, 0, 100, 101, 200, 0.001, "completed", None, "pay", 3, 0,
            None, None, None, None, ["A1", "A2"], [], None, 0, None)  # fmt: skip


def test_rows_become_a_table_of_the_schema() -> None:
    table = rows_to_table([_request(1), _request(2, "timeout")], REQUEST_SCHEMA)
    assert table.schema == REQUEST_SCHEMA
    assert table.column("outcome").to_pylist() == ["ok", "timeout"]
    assert rows_to_table([], ARRIVAL_SCHEMA).num_rows == 0
    with pytest.raises(ValueError, match="fields"):
        rows_to_table([(1, 2)], REQUEST_SCHEMA)


def test_each_write_is_a_new_whole_segment(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, worker_id=3)
    first = w.write_rows(RecordKind.REQUESTS, [_request(i) for i in range(5)])
    second = w.write_rows(RecordKind.REQUESTS, [_request(5)])
    assert w.write_rows(RecordKind.REQUESTS, []) is None
    w.write_rows(RecordKind.ARRIVALS, [_arrival(1)])
    assert first is not None and second is not None
    assert (first.name, second.name) == ("requests-w3-000001.parquet", "requests-w3-000002.parquet")
    assert not list((tmp_path / "records").glob("*.tmp"))
    assert pq.read_table(first).num_rows == 5
    assert (w.requests_written, w.arrivals_written) == (6, 1)
    # a second writer for the same worker continues the numbering, never overwrites
    again = SegmentWriter(tmp_path, worker_id=3).write_rows(RecordKind.REQUESTS, [_request(9)])
    assert again is not None and again.name == "requests-w3-000003.parquet"


def test_listing_ignores_tmp_leftovers_and_other_workers(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, worker_id=0)
    w.write_rows(RecordKind.REQUESTS, [_request(1)])
    (tmp_path / "records" / "requests-w0-000002.parquet.tmp").write_bytes(b"half a file")
    SegmentWriter(tmp_path, worker_id=1).write_rows(RecordKind.REQUESTS, [_request(2)])
    names = [p.name for p in list_segments(tmp_path / "records", RecordKind.REQUESTS, 0)]
    assert names == ["requests-w0-000001.parquet"]


def test_compaction_merges_in_order_then_removes_segments(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, worker_id=0)
    for start in (0, 3, 6):
        w.write_rows(RecordKind.REQUESTS, [_request(i) for i in range(start, start + 3)])
    w.write_rows(RecordKind.ARRIVALS, [_arrival(i) for i in range(4)])
    out = w.compact()
    records = tmp_path / "records"
    assert sorted(p.name for p in records.iterdir()) == [
        "arrivals-w0.parquet",
        "requests-w0.parquet",
    ]
    table = pq.read_table(out[RecordKind.REQUESTS])
    assert table.column("arrival_id").to_pylist() == list(range(9))
    assert table.schema.remove_metadata() == REQUEST_SCHEMA
    meta = json.loads(pq.read_schema(out[RecordKind.REQUESTS]).metadata[COMPACTED_FROM_KEY])
    assert meta == [f"requests-w0-00000{i}.parquet" for i in (1, 2, 3)]
    assert pq.read_table(out[RecordKind.ARRIVALS]).column("seats_held").to_pylist()[0] == [
        "A1",
        "A2",
    ]


def test_manifest_is_replaced_atomically(tmp_path: Path) -> None:
    write_manifest(tmp_path, {"status": "running", "run_id": "r"})
    write_manifest(tmp_path, {"status": "completed", "run_id": "r"})
    assert read_manifest(tmp_path)["status"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_missing_or_broken_manifest_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_manifest(tmp_path)
