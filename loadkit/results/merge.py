"""Assemble a distributed run's records from what the master received and what workers kept.

In a distributed run every worker writes its segments into its own folder (``WORKER_DIR``) and
streams each one to the master, which writes it under the same name into ``RUN_DIR/records/``.
A segment is identified by ``(kind, worker, seq)``, i.e. by its file name, so:

* the master writing a segment it already has is a no-op (``write_segment``);
* ``merge(run_dir, worker_dirs)`` copies the segments the master never received (the stream
  was cut: the master died, the network split) and skips the ones it has: de-duplication by
  (worker, sequence).

Arrivals the master had to account as lost (a worker died before reporting them) sit in the
reserved segment ``arrivals-w<W>-999999.parquet`` as ``dropped`` rows with reason
``worker_lost``. When a merge brings that worker's real rows, the lost rows for the same
arrival ids are removed, so an arrival is never counted twice.

A worker folder holds ``worker.json`` (run id, worker id, status, ``ended``: whether every
record was flushed) and ``records/``. No gevent here: the CLI calls this in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loadkit.errors import ResultsError
from loadkit.results.schema import ARRIVAL_SCHEMA, RECORDS_DIR
from loadkit.results.writer import (
    COMPACTED_FROM_KEY,
    PARQUET_WRITE_OPTIONS,
    RecordKind,
    read_manifest,
    segment_name,
    write_manifest,
)

WORKER_MANIFEST = "worker.json"
LOST_SEQ = 999_999  # reserved segment number: arrivals the master accounted as lost
LOST_REASON = "worker_lost"
_SEGMENT = re.compile(r"(requests|arrivals)-w(\d+)-(\d{6})\.parquet")


@dataclass(frozen=True)
class SegmentId:
    kind: RecordKind
    worker_id: int
    seq: int

    @property
    def name(self) -> str:
        return segment_name(self.kind, self.worker_id, self.seq)


@dataclass(frozen=True)
class WorkerMerge:
    worker_id: int
    source: str  # the worker folder
    copied: int  # segments the run lacked and got from the folder
    duplicates: int  # segments the run had already (skipped)
    lost_rows_replaced: int  # worker_lost rows superseded by the worker's real rows
    ended: bool  # the worker flushed everything before it stopped


@dataclass(frozen=True)
class MergeReport:
    run_dir: str
    workers: tuple[WorkerMerge, ...]
    records_complete: bool

    @property
    def copied(self) -> int:
        return sum(w.copied for w in self.workers)

    @property
    def duplicates(self) -> int:
        return sum(w.duplicates for w in self.workers)

    def summary(self) -> str:
        state = "complete" if self.records_complete else "still incomplete"
        return (
            f"merged {len(self.workers)} worker folder(s) into {self.run_dir}: "
            f"{self.copied} segment(s) copied, {self.duplicates} already there; records {state}"
        )


def parse_segment_name(name: str) -> SegmentId | None:
    """``requests-w3-000002.parquet`` → SegmentId; None for any other file name."""
    m = _SEGMENT.fullmatch(name)
    if not m:
        return None
    return SegmentId(RecordKind(m.group(1)), int(m.group(2)), int(m.group(3)))


def segments_present(records_dir: Path) -> set[str]:
    """Names of the segments a records folder holds, including those folded into compacted files."""
    names: set[str] = set()
    if not records_dir.is_dir():
        return names
    for p in records_dir.iterdir():
        if parse_segment_name(p.name):
            names.add(p.name)
        elif p.suffix == ".parquet" and not p.name.endswith(".tmp"):
            meta = pq.read_schema(p).metadata or {}
            if COMPACTED_FROM_KEY in meta:
                names.update(json.loads(meta[COMPACTED_FROM_KEY]))
    return names


def write_segment(records_dir: Path, segment: SegmentId, table: pa.Table) -> bool:
    """Write a received segment atomically under its own name; False if it was already there."""
    records_dir.mkdir(parents=True, exist_ok=True)
    path = records_dir / segment.name
    if path.exists():
        return False
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, **PARQUET_WRITE_OPTIONS)
    os.replace(tmp, path)
    return True


def write_lost_arrivals(records_dir: Path, worker_id: int, table: pa.Table) -> Path | None:
    """Write (replace) a worker's reserved worker_lost segment; remove it when ``table`` is empty."""
    path = records_dir / segment_name(RecordKind.ARRIVALS, worker_id, LOST_SEQ)
    if table.num_rows == 0:
        path.unlink(missing_ok=True)
        return None
    records_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table.cast(ARRIVAL_SCHEMA), tmp, **PARQUET_WRITE_OPTIONS)
    os.replace(tmp, path)
    return path


def read_worker_manifest(worker_dir: Path) -> dict[str, Any]:
    path = worker_dir / WORKER_MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(
            f"{worker_dir} is not a loadkit worker folder (no {WORKER_MANIFEST})"
        ) from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "worker_id" not in data:
        raise ResultsError(f"{path} does not name a worker_id")
    return data


def _real_arrival_ids(records_dir: Path, worker_id: int) -> pa.Array:
    ids: list[pa.Array] = []
    for p in sorted(records_dir.glob(f"arrivals-w{worker_id}-*.parquet")):
        seg = parse_segment_name(p.name)
        if seg and seg.seq != LOST_SEQ:
            ids.append(pq.read_table(p, columns=["arrival_id"]).column(0).combine_chunks())
    return pa.concat_arrays(ids) if ids else pa.array([], pa.int64())


def _prune_lost_rows(records_dir: Path, worker_id: int) -> int:
    """Remove worker_lost rows whose arrival now has a real row; returns how many went."""
    path = records_dir / segment_name(RecordKind.ARRIVALS, worker_id, LOST_SEQ)
    if not path.exists():
        return 0
    lost = pq.read_table(path, schema=ARRIVAL_SCHEMA)
    keep = pc.invert(
        pc.is_in(lost.column("arrival_id"), value_set=_real_arrival_ids(records_dir, worker_id))
    )
    kept = lost.filter(keep)
    if kept.num_rows != lost.num_rows:
        write_lost_arrivals(records_dir, worker_id, kept)
    return int(lost.num_rows - kept.num_rows)


def _merge_one(run_dir: Path, worker_dir: Path, run_id: str | None) -> WorkerMerge:
    info = read_worker_manifest(worker_dir)
    if run_id and info.get("run_id") and info["run_id"] != run_id:
        raise ResultsError(
            f"{worker_dir} belongs to run {info['run_id']!r}, not {run_id!r}",
            hint="Pass the worker folders of this run only.",
        )
    worker_id = int(info["worker_id"])
    records = run_dir / RECORDS_DIR
    present = segments_present(records)
    copied = duplicates = 0
    src_records = worker_dir / RECORDS_DIR
    for src in sorted(src_records.iterdir()) if src_records.is_dir() else ():
        seg = parse_segment_name(src.name)
        if seg is None or seg.worker_id != worker_id or seg.seq == LOST_SEQ:
            continue
        if src.name in present:
            duplicates += 1
            continue
        records.mkdir(parents=True, exist_ok=True)
        tmp = records / (src.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, records / src.name)
        copied += 1
    replaced = _prune_lost_rows(records, worker_id)
    return WorkerMerge(
        worker_id, str(worker_dir), copied, duplicates, replaced, bool(info.get("ended"))
    )


def _contiguous(records_dir: Path, worker_id: int, last: dict[str, int]) -> bool:
    present = segments_present(records_dir)
    for kind in RecordKind:
        upto = int(last.get(kind.value, 0))
        if any(segment_name(kind, worker_id, s) not in present for s in range(1, upto + 1)):
            return False
    return True


def _rows_of(records_dir: Path, kind: RecordKind, worker_id: int) -> int:
    total = 0
    for p in records_dir.glob(f"{kind.value}-w{worker_id}-*.parquet"):
        seg = parse_segment_name(p.name)
        if seg and seg.seq != LOST_SEQ:
            total += int(pq.read_metadata(p).num_rows)
    return total


def merge(
    run_dir: str | os.PathLike[str], worker_dirs: Iterable[str | os.PathLike[str]]
) -> MergeReport:
    """Copy into ``run_dir`` the worker segments it lacks and update its manifest.

    ``records_complete`` becomes true when every worker listed in the manifest has all its
    segments 1..last in ``run_dir/records`` and either finished normally (fate ``done``) or was
    merged from a folder whose ``worker.json`` says it flushed everything (``ended``).
    Raises ResultsError for a missing run, a folder that is not a worker folder, or a worker
    folder of another run.
    """
    run = Path(run_dir)
    manifest = read_manifest(run)
    run_id = manifest.get("run_id")
    merged = [_merge_one(run, Path(d), run_id) for d in worker_dirs]
    by_id = {m.worker_id: m for m in merged}
    records = run / RECORDS_DIR
    complete = True
    for entry in manifest.get("workers") or []:
        wid = int(entry["id"])
        info = by_id.get(wid)
        last = dict(entry.get("segments") or {})
        if info is not None:
            local = read_worker_manifest(Path(info.source)).get("segments") or {}
            last = {k: max(int(last.get(k, 0)), int(v)) for k, v in {**last, **local}.items()}
        finished = entry.get("fate") == "done" or (info is not None and info.ended)
        complete = complete and finished and _contiguous(records, wid, last)
        entry["requests_written"] = _rows_of(records, RecordKind.REQUESTS, wid)
        entry["arrivals_written"] = _rows_of(records, RecordKind.ARRIVALS, wid)
    manifest["records_complete"] = complete
    if manifest.get("status") == "running":  # the master died: the run ended without it
        manifest["status"] = "failed"
        manifest["stop_reason"] = manifest.get("stop_reason") or "master lost; records merged"
    manifest["merged_from"] = sorted(
        {*manifest.get("merged_from", []), *(m.source for m in merged)}
    )
    write_manifest(run, manifest)
    return MergeReport(str(run), tuple(merged), complete)


__all__ = [
    "LOST_REASON",
    "LOST_SEQ",
    "WORKER_MANIFEST",
    "MergeReport",
    "SegmentId",
    "WorkerMerge",
    "merge",
    "parse_segment_name",
    "read_worker_manifest",
    "segments_present",
    "write_lost_arrivals",
    "write_segment",
]
