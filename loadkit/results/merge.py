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
record was flushed) and ``records/``. Every folder, and every segment it would add, is checked
first (``loadkit.results.worker_folder``): a damaged one is refused before the run is touched.
No gevent here: the CLI calls this in-process.
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
from loadkit.results.schema import ARRIVAL_SCHEMA, RECORDS_DIR, REQUEST_SCHEMA
from loadkit.results.worker_folder import (
    WORKER_MANIFEST,
    WorkerInfo,
    check_segment,
    load_worker_info,
    read_worker_manifest,
)
from loadkit.results.writer import (
    COMPACTED_FROM_KEY,
    PARQUET_WRITE_OPTIONS,
    RecordKind,
    read_manifest,
    segment_name,
    write_manifest,
)

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
            try:
                meta = pq.read_schema(p).metadata or {}
                if COMPACTED_FROM_KEY in meta:
                    names.update(str(n) for n in json.loads(meta[COMPACTED_FROM_KEY]))
            except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
                raise ResultsError(
                    f"{p} is not a readable Parquet file ({exc})",
                    hint="Move it out of the run's records/ folder, then merge again.",
                ) from None
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


@dataclass(frozen=True)
class _Planned:
    """A checked worker folder and the segments it will add to the run."""

    folder: Path
    info: WorkerInfo
    to_copy: tuple[Path, ...]
    duplicates: int


_SCHEMAS = {RecordKind.REQUESTS: REQUEST_SCHEMA, RecordKind.ARRIVALS: ARRIVAL_SCHEMA}


def _plan_one(worker_dir: Path, run_id: str | None, present: set[str]) -> _Planned:
    """Check a worker folder and every segment it would add; only reads. Adds the names it
    will copy to ``present``. Raises ResultsError for anything damaged or foreign."""
    info = load_worker_info(worker_dir)
    if run_id and info.run_id and info.run_id != run_id:
        raise ResultsError(
            f"{worker_dir} belongs to run {info.run_id!r}, not {run_id!r}",
            hint="Pass the worker folders of this run only.",
        )
    to_copy: list[Path] = []
    duplicates = 0
    src_records = worker_dir / RECORDS_DIR
    for src in sorted(src_records.iterdir()) if src_records.is_dir() else ():
        seg = parse_segment_name(src.name)
        if seg is None or seg.worker_id != info.worker_id or seg.seq == LOST_SEQ:
            continue
        if src.name in present:
            duplicates += 1
            continue
        check_segment(src, _SCHEMAS[seg.kind])
        present.add(src.name)
        to_copy.append(src)
    return _Planned(worker_dir, info, tuple(to_copy), duplicates)


def _apply_one(run_dir: Path, plan: _Planned) -> WorkerMerge:
    records = run_dir / RECORDS_DIR
    for src in plan.to_copy:
        records.mkdir(parents=True, exist_ok=True)
        tmp = records / (src.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, records / src.name)
    replaced = _prune_lost_rows(records, plan.info.worker_id)
    return WorkerMerge(
        plan.info.worker_id,
        str(plan.folder),
        len(plan.to_copy),
        plan.duplicates,
        replaced,
        plan.info.ended,
    )


def _check_run_side(records: Path, worker_ids: set[int]) -> None:
    """Check what the merge will read from the run itself: every segment's footer (rows are
    recounted), and for a merged worker with worker_lost rows, those rows and the arrival ids
    they are pruned against. Raises ResultsError before anything is written."""
    files = sorted(records.glob("*.parquet")) if records.is_dir() else []
    for path in files:
        seg = parse_segment_name(path.name)
        try:
            pq.read_metadata(path)
            if seg is not None and seg.worker_id in worker_ids and seg.kind is RecordKind.ARRIVALS:
                if seg.seq == LOST_SEQ:
                    pq.read_table(path, schema=ARRIVAL_SCHEMA)
                elif (records / segment_name(seg.kind, seg.worker_id, LOST_SEQ)).exists():
                    pq.read_table(path, columns=["arrival_id"])
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise ResultsError(
                f"{path} (in the run itself) is not a readable Parquet segment ({exc})",
                hint="Move it out of the run's records/ folder, then merge again. "
                "Nothing was merged; the run folder is unchanged.",
            ) from None


def _distinct(worker_dirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The folders, each once (by resolved path)."""
    seen: dict[Path, Path] = {}
    for d in worker_dirs:
        seen.setdefault(Path(d).resolve(), Path(d))
    return list(seen.values())


def _one_folder_per_worker(plans: list[_Planned]) -> None:
    by_id: dict[int, Path] = {}
    for plan in plans:
        other = by_id.setdefault(plan.info.worker_id, plan.folder)
        if other != plan.folder:
            raise ResultsError(
                f"{other} and {plan.folder} both say they are worker {plan.info.worker_id}",
                hint="Pass one folder per worker. Nothing was merged; the run folder is unchanged.",
            )


def _manifest_workers(run: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The run manifest's worker entries, checked before anything is written."""
    entries = manifest.get("workers") or []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("id"), int)
        and not isinstance(e.get("id"), bool)
        and isinstance(e.get("segments") or {}, dict)
        and all(isinstance(v, int) for v in (e.get("segments") or {}).values())
        for e in entries
    ):
        raise ResultsError(
            f"{run / 'manifest.json'}: workers must be a list of {{id: N, ...}} entries",
            hint="The run's manifest is damaged; nothing was merged.",
        )
    return entries


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
    Every worker folder and every segment it would add is checked before anything is copied or
    written: ResultsError (exit 2, run folder unchanged) for a missing run, a damaged run
    manifest, a folder that is not a worker folder, a damaged ``worker.json`` or segment, or a
    worker folder of another run.
    """
    run = Path(run_dir)
    manifest = read_manifest(run)
    run_id = manifest.get("run_id")
    entries = _manifest_workers(run, manifest)
    records = run / RECORDS_DIR
    present = segments_present(records)
    plans = [_plan_one(d, run_id, present) for d in _distinct(worker_dirs)]  # all checked first
    _one_folder_per_worker(plans)
    _check_run_side(records, {p.info.worker_id for p in plans})
    merged = [_apply_one(run, plan) for plan in plans]
    by_id = {m.worker_id: m for m in merged}
    local_segments = {p.info.worker_id: p.info.segments for p in plans}
    complete = True
    for entry in entries:
        wid = int(entry["id"])
        info = by_id.get(wid)
        last = dict(entry.get("segments") or {})
        if info is not None:
            local = local_segments[wid]
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
