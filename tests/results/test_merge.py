"""``merge``: a run assembled from what the master got and what the workers kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loadkit.errors import ResultsError
from loadkit.results.merge import (
    LOST_REASON,
    LOST_SEQ,
    WORKER_MANIFEST,
    merge,
    write_lost_arrivals,
)
from loadkit.results.schema import ARRIVAL_SCHEMA, RECORDS_DIR
from loadkit.results.writer import RecordKind, SegmentWriter, rows_to_table, write_manifest

T0 = 1_700_000_000_000_000_000


def _arrival(k: int, worker: int, *, lost: bool = False) -> tuple[Any, ...]:
    scheduled = T0 + k * 1_000_000
    return (
        k,
        "fan",
        k % 4,
        worker,
        scheduled,
        None if lost else scheduled + 1000,
        None if lost else scheduled + 9000,
        None if lost else 0.001,
        "dropped" if lost else "completed",
        LOST_REASON if lost else None,
        None,
        0,
        0,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )


def _worker_dir(root: Path, worker: int, batches: list[list[int]], *, ended: bool) -> Path:
    folder = root / f"r1-w{worker}"
    writer = SegmentWriter(folder, worker)
    for ids in batches:
        writer.write_rows(RecordKind.ARRIVALS, [_arrival(k, worker) for k in ids])
    (folder / WORKER_MANIFEST).write_text(
        json.dumps(
            {
                "run_id": "r1",
                "worker_id": worker,
                "status": "completed",
                "ended": ended,
                "segments": {"arrivals": len(batches), "requests": 0},
            }
        )
    )
    return folder


def _run_dir(tmp_path: Path, workers: list[dict[str, Any]]) -> Path:
    run = tmp_path / "run"
    (run / RECORDS_DIR).mkdir(parents=True)
    write_manifest(run, {"run_id": "r1", "workers": workers, "records_complete": False})
    return run


def _copy_segment(src: Path, run: Path, name: str) -> None:
    (run / RECORDS_DIR / name).write_bytes((src / RECORDS_DIR / name).read_bytes())


def _arrival_rows(run: Path) -> pa.Table:
    files = sorted((run / RECORDS_DIR).glob("arrivals-*.parquet"))
    return pa.concat_tables(pq.read_table(f, schema=ARRIVAL_SCHEMA) for f in files)


def test_merge_copies_what_the_stream_missed_and_skips_what_it_has(tmp_path: Path) -> None:
    w0 = _worker_dir(tmp_path / "w", 0, [[0, 4], [8, 12], [16]], ended=True)
    run = _run_dir(tmp_path, [{"id": 0, "fate": "lost", "segments": {"arrivals": 1}}])
    _copy_segment(w0, run, "arrivals-w0-000001.parquet")  # the stream got the first one only

    report = merge(run, [w0])

    assert (report.copied, report.duplicates) == (2, 1)
    assert sorted(_arrival_rows(run).column("arrival_id").to_pylist()) == [0, 4, 8, 12, 16]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["records_complete"] is True
    assert manifest["workers"][0]["arrivals_written"] == 5
    assert manifest["merged_from"] == [str(w0)]


def test_merging_twice_changes_nothing(tmp_path: Path) -> None:
    w0 = _worker_dir(tmp_path / "w", 0, [[0], [4]], ended=True)
    run = _run_dir(tmp_path, [{"id": 0, "fate": "lost"}])
    merge(run, [w0])
    again = merge(run, [w0])
    assert (again.copied, again.duplicates) == (0, 2)
    assert _arrival_rows(run).num_rows == 2


def test_real_rows_replace_the_masters_worker_lost_rows(tmp_path: Path) -> None:
    w1 = _worker_dir(tmp_path / "w", 1, [[1, 5]], ended=False)  # killed: 9 never recorded
    run = _run_dir(tmp_path, [{"id": 1, "fate": "lost"}])
    lost = rows_to_table([_arrival(k, 1, lost=True) for k in (1, 5, 9)], ARRIVAL_SCHEMA)
    write_lost_arrivals(run / RECORDS_DIR, 1, lost)

    report = merge(run, [w1])

    rows = _arrival_rows(run).to_pylist()
    by_id = {r["arrival_id"]: r for r in rows}
    assert len(rows) == 3  # each arrival once
    assert by_id[1]["outcome"] == by_id[5]["outcome"] == "completed"
    assert by_id[9]["reason"] == LOST_REASON
    assert report.workers[0].lost_rows_replaced == 2
    assert report.records_complete is False  # the worker died before flushing everything


def test_every_lost_row_replaced_removes_the_reserved_segment(tmp_path: Path) -> None:
    w1 = _worker_dir(tmp_path / "w", 1, [[1, 5]], ended=True)
    run = _run_dir(tmp_path, [{"id": 1, "fate": "lost"}])
    lost = rows_to_table([_arrival(k, 1, lost=True) for k in (1, 5)], ARRIVAL_SCHEMA)
    write_lost_arrivals(run / RECORDS_DIR, 1, lost)
    merge(run, [w1])
    assert not (run / RECORDS_DIR / f"arrivals-w1-{LOST_SEQ}.parquet").exists()


def test_a_worker_that_is_neither_done_nor_merged_keeps_the_run_incomplete(tmp_path: Path) -> None:
    w0 = _worker_dir(tmp_path / "w", 0, [[0]], ended=True)
    run = _run_dir(tmp_path, [{"id": 0, "fate": "done"}, {"id": 1, "fate": "lost"}])
    assert merge(run, [w0]).records_complete is False


def test_a_folder_of_another_run_is_refused(tmp_path: Path) -> None:
    w0 = _worker_dir(tmp_path / "w", 0, [[0]], ended=True)
    run = tmp_path / "run"
    run.mkdir()
    write_manifest(run, {"run_id": "other", "workers": []})
    with pytest.raises(ResultsError, match="belongs to run 'r1', not 'other'"):
        merge(run, [w0])


def test_a_folder_that_is_not_a_worker_folder_is_refused(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, [])
    with pytest.raises(ResultsError, match="not a loadkit worker folder"):
        merge(run, [tmp_path / "nothing"])


def test_compacted_segments_count_as_present(tmp_path: Path) -> None:
    w0 = _worker_dir(tmp_path / "w", 0, [[0], [4]], ended=True)
    run = _run_dir(tmp_path, [{"id": 0, "fate": "done"}])
    for name in ("arrivals-w0-000001.parquet", "arrivals-w0-000002.parquet"):
        _copy_segment(w0, run, name)
    SegmentWriter(run, 0).compact()
    report = merge(run, [w0])
    assert (report.copied, report.duplicates) == (0, 2)
    assert _arrival_rows(run).num_rows == 2
