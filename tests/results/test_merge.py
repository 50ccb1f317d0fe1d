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
        None,  # tickets_bought
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


# ----------------------------------------------------------------------------- bad neighbours


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name → bytes): the run as a user would find it."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _merge_cli(capsys: pytest.CaptureFixture[str], run: Path, *folders: Path) -> tuple[int, str]:
    from loadkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["results", "merge", str(run), *map(str, folders)])
    _, err = capsys.readouterr()
    assert isinstance(done.value.code, int)
    return done.value.code, err


def _good_and_bad(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A run that lacks worker 0's segments, worker 0's good folder, worker 1's folder."""
    good = _worker_dir(tmp_path / "w", 0, [[0], [4]], ended=True)
    bad = _worker_dir(tmp_path / "w", 1, [[1], [5]], ended=True)
    run = _run_dir(tmp_path, [{"id": 0, "fate": "lost"}, {"id": 1, "fate": "lost"}])
    write_lost_arrivals(
        run / RECORDS_DIR, 0, rows_to_table([_arrival(0, 0, lost=True)], ARRIVAL_SCHEMA)
    )
    return run, good, bad


BAD_WORKER_JSON = {
    "worker_id text": ('{"run_id": "r1", "worker_id": "abc"}', 'worker_id is "abc"'),
    "worker_id null": ('{"run_id": "r1", "worker_id": null}', "worker_id is null"),
    "worker_id 1e400": ('{"run_id": "r1", "worker_id": 1e400}', "worker_id is Infinity"),
    "worker_id NaN": ('{"run_id": "r1", "worker_id": NaN}', "worker_id is NaN"),
    "worker_id negative": ('{"run_id": "r1", "worker_id": -1}', "worker_id is -1"),
    "worker_id true": ('{"run_id": "r1", "worker_id": true}', "worker_id is true"),
    "worker_id huge": ('{"run_id": "r1", "worker_id": 1' + "0" * 30 + "}", "worker_id is 1000"),
    "worker_id missing": ('{"run_id": "r1"}', "does not name a worker_id"),
    "not an object": ("[1, 2]", "must hold a JSON object"),
    "not JSON": ("{worker_id: 1", "is not valid JSON"),
    "not UTF-8": (b'{"worker_id": "\xff\xfe"}', "is not valid JSON"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
    "huge": ('{"worker_id": 1, "pad": "' + "x" * 2_000_000 + '"}', "at most 1 MiB"),
    "run_id a number": ('{"run_id": 7, "worker_id": 1}', "run_id is 7"),
    "ended text": ('{"worker_id": 1, "ended": "yes"}', 'ended is "yes"'),
    "segments junk": ('{"worker_id": 1, "segments": {"arrivals": "many"}}', "segments is"),
}


@pytest.mark.parametrize("case", sorted(BAD_WORKER_JSON))
def test_a_bad_worker_json_is_refused_and_the_run_is_unchanged(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, bad = _good_and_bad(tmp_path)
    text, message = BAD_WORKER_JSON[case]
    path = bad / WORKER_MANIFEST
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = _snapshot(run)

    code, err = _merge_cli(capsys, run, good, bad)  # the good folder first: it must wait

    assert code == 2
    assert f"{path}:" in err and message in err and "Traceback" not in err
    assert "run folder is unchanged" in err
    assert _snapshot(run) == before


def _junk_segment(records: Path, case: str) -> Path:
    path = records / "arrivals-w1-000003.parquet"
    real = (records / "arrivals-w1-000001.parquet").read_bytes()
    if case == "not Parquet":
        path.write_bytes(b"this is not a parquet file at all\n" * 10)
    elif case == "truncated":
        path.write_bytes(real[: len(real) // 2])
    elif case == "damaged pages":
        path.write_bytes(real[:8] + bytes(b ^ 0xFF for b in real[8:-200]) + real[-200:])
    elif case == "wrong schema":
        pq.write_table(pa.table({"x": [1, 2, 3]}), path)
    elif case == "wrong column type":
        table = pq.read_table(records / "arrivals-w1-000001.parquet")
        i = table.schema.get_field_index("arrival_id")
        pq.write_table(table.set_column(i, "arrival_id", pa.array(["1"])), path)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "a link":
        path.symlink_to(records / "arrivals-w1-000001.parquet")
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not Parquet", "is not a readable Parquet segment"),
        ("truncated", "is not a readable Parquet segment"),
        ("damaged pages", "is not a readable Parquet segment"),
        ("wrong schema", "it lacks the column(s) arrival_id"),
        ("wrong column type", "column arrival_id holds string, expected int64"),
        ("empty", "is not a readable Parquet segment"),
        ("a link", "is not a regular file"),
    ],
)
def test_a_junk_segment_is_refused_before_anything_is_copied(
    case: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, bad = _good_and_bad(tmp_path)
    path = _junk_segment(bad / RECORDS_DIR, case)
    before = _snapshot(run)

    code, err = _merge_cli(capsys, run, good, bad)

    assert code == 2, err
    assert f"{path}:" in err and message in err and "Traceback" not in err
    assert _snapshot(run) == before


def test_a_missing_folder_is_refused_and_the_run_is_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, _ = _good_and_bad(tmp_path)
    before = _snapshot(run)
    code, err = _merge_cli(capsys, run, good, tmp_path / "no-such-worker")
    assert code == 2
    assert "no-such-worker is not a loadkit worker folder (not found)" in err
    assert _snapshot(run) == before


def test_a_damaged_run_manifest_is_refused_before_copying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, _ = _good_and_bad(tmp_path)
    write_manifest(run, {"run_id": "r1", "workers": [{"id": "zero"}]})
    before = _snapshot(run)
    code, err = _merge_cli(capsys, run, good)
    assert code == 2 and "workers must be a list" in err
    assert _snapshot(run) == before


def test_good_folders_still_merge_after_the_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, other = _good_and_bad(tmp_path)
    code, err = _merge_cli(capsys, run, good, other)
    assert code == 0, err
    assert sorted(_arrival_rows(run).column("arrival_id").to_pylist()) == [0, 1, 4, 5]


def test_a_damaged_segment_in_the_run_itself_is_refused_before_copying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, _ = _good_and_bad(tmp_path)
    lost = run / RECORDS_DIR / f"arrivals-w0-{LOST_SEQ}.parquet"
    lost.write_bytes(lost.read_bytes()[:-40])  # the master's worker_lost rows, truncated
    before = _snapshot(run)
    code, err = _merge_cli(capsys, run, good)
    assert code == 2 and f"{lost} (in the run itself)" in err and "Traceback" not in err
    assert _snapshot(run) == before


def test_two_folders_claiming_one_worker_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, good, _ = _good_and_bad(tmp_path)
    twin = _worker_dir(tmp_path / "twin", 0, [[0]], ended=True)
    before = _snapshot(run)
    code, err = _merge_cli(capsys, run, good, twin)
    assert code == 2 and "both say they are worker 0" in err
    assert _snapshot(run) == before


def test_the_same_folder_twice_is_merged_once(tmp_path: Path) -> None:
    run, good, _ = _good_and_bad(tmp_path)
    report = merge(run, [good, good])
    assert (len(report.workers), report.copied) == (1, 2)
    assert sorted(_arrival_rows(run).column("arrival_id").to_pylist()) == [0, 4]
