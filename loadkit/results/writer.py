"""Runner-side writer of the results directory (layout and schemas: ``loadkit.results.schema``).

Rows arrive as plain tuples in schema column order (the runner's hot path only appends them to
a list); this module turns a batch of rows into one Arrow table and writes it as a whole
segment file: written to ``*.tmp``, then renamed, so a killed run leaves only whole segments.

Compaction (after a clean end) streams a worker's segments into one file per kind, renames it
into place, and only then removes the segments. The compacted file's Parquet metadata lists the
segments it holds (key ``loadkit.compacted_from``), so a reader that finds both (a crash between
the rename and the removals) can skip the duplicates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loadkit.errors import ResultsError
from loadkit.results.schema import ARRIVAL_SCHEMA, MANIFEST_NAME, RECORDS_DIR, REQUEST_SCHEMA
from loadkit.sources import load_json_capped

COMPACTED_FROM_KEY = b"loadkit.compacted_from"
_SEQ_DIGITS = 6
# every records file loadkit writes: zstd pages, each with a CRC32 the reader verifies, so a
# file damaged on disk or in transit is refused as unreadable instead of analyzed as data
PARQUET_WRITE_OPTIONS: Mapping[str, Any] = {"compression": "zstd", "write_page_checksum": True}


class RecordKind(StrEnum):
    REQUESTS = "requests"
    ARRIVALS = "arrivals"


SCHEMAS: dict[RecordKind, pa.Schema] = {
    RecordKind.REQUESTS: REQUEST_SCHEMA,
    RecordKind.ARRIVALS: ARRIVAL_SCHEMA,
}


def rows_to_table(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """Build a table from row tuples in schema column order (None for nulls).

    Raises ValueError when a row has the wrong number of fields.
    """
    width = len(schema)
    if not rows:
        return schema.empty_table()
    if any(len(r) != width for r in rows):
        raise ValueError(f"every row must have {width} fields, in {schema.names} order")
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def segment_name(kind: RecordKind, worker_id: int, seq: int) -> str:
    return f"{kind.value}-w{worker_id}-{seq:0{_SEQ_DIGITS}d}.parquet"


def compacted_name(kind: RecordKind, worker_id: int) -> str:
    return f"{kind.value}-w{worker_id}.parquet"


def _segment_pattern(kind: RecordKind, worker_id: int) -> re.Pattern[str]:
    return re.compile(rf"{kind.value}-w{worker_id}-(\d{{{_SEQ_DIGITS}}})\.parquet")


def list_segments(records_dir: Path, kind: RecordKind, worker_id: int) -> list[Path]:
    """A worker's whole segments of one kind, in write order (``*.tmp`` leftovers ignored)."""
    pattern = _segment_pattern(kind, worker_id)
    found = []
    for p in records_dir.iterdir() if records_dir.is_dir() else ():
        m = pattern.fullmatch(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


class SegmentWriter:
    """Writes one worker's records into ``RUN_DIR/records/``. Not thread-safe; one per worker.

    ``requests_written`` / ``arrivals_written`` count rows safely on disk (renamed segments).
    """

    def __init__(self, run_dir: str | os.PathLike[str], worker_id: int) -> None:
        self.records_dir = Path(run_dir) / RECORDS_DIR
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self.worker_id = worker_id
        self.written: dict[RecordKind, int] = {k: 0 for k in RecordKind}
        # continue after any segments already there, never overwrite one
        self._seq = {k: self._last_seq(k) for k in RecordKind}

    @property
    def requests_written(self) -> int:
        return self.written[RecordKind.REQUESTS]

    @property
    def arrivals_written(self) -> int:
        return self.written[RecordKind.ARRIVALS]

    def _last_seq(self, kind: RecordKind) -> int:
        pattern = _segment_pattern(kind, self.worker_id)
        seqs = [
            int(m.group(1)) for p in self.records_dir.iterdir() if (m := pattern.fullmatch(p.name))
        ]
        return max(seqs, default=0)

    def write_rows(self, kind: RecordKind, rows: Sequence[Sequence[Any]]) -> Path | None:
        """Write rows as one new segment; returns its path, or None when there were no rows."""
        if not rows:
            return None
        return self.write_table(kind, rows_to_table(rows, SCHEMAS[kind]))

    def write_table(self, kind: RecordKind, table: pa.Table) -> Path | None:
        """Write a table (of the kind's schema) as one new segment, atomically. A write that
        fails uses up no sequence number, so the segments a retry writes leave no gap."""
        if table.num_rows == 0:
            return None
        seq = self._seq[kind] + 1
        path = self.records_dir / segment_name(kind, self.worker_id, seq)
        tmp = path.with_name(path.name + ".tmp")
        try:
            pq.write_table(table, tmp, **PARQUET_WRITE_OPTIONS)
            os.replace(tmp, path)
        except BaseException:  # disk full, permission lost: leave no half file behind
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._seq[kind] = seq
        self.written[kind] += table.num_rows
        return path

    def compact(self) -> dict[RecordKind, Path]:
        """Merge this worker's segments into one file per kind; remove them once it is in place.

        Returns the compacted files. Kinds with no segments are left alone.
        """
        out: dict[RecordKind, Path] = {}
        for kind in RecordKind:
            segments = list_segments(self.records_dir, kind, self.worker_id)
            if not segments:
                continue
            target = self.records_dir / compacted_name(kind, self.worker_id)
            if target.exists():
                segments = [target, *segments]  # a second compaction folds the first one in
            out[kind] = self._compact_kind(kind, segments, target)
        return out

    def _compact_kind(self, kind: RecordKind, segments: list[Path], target: Path) -> Path:
        names = [p.name for p in segments if p != target]
        meta = {COMPACTED_FROM_KEY: json.dumps(names).encode()}
        schema = SCHEMAS[kind].with_metadata(meta)
        tmp = target.with_name(target.name + ".tmp")
        with pq.ParquetWriter(tmp, schema, **PARQUET_WRITE_OPTIONS) as sink:
            for seg in segments:  # one segment at a time: memory stays bounded
                table = pq.read_table(seg, schema=SCHEMAS[kind], page_checksum_verification=True)
                sink.write_table(table.replace_schema_metadata(meta))
        os.replace(tmp, target)
        for seg in segments:
            if seg != target:
                seg.unlink()
        return target


def write_manifest(run_dir: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (tmp, fsync, rename): readers never see half a file."""
    path = Path(run_dir) / MANIFEST_NAME
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``manifest.json``; raises ResultsError when missing or not a JSON object."""
    path = Path(run_dir) / MANIFEST_NAME
    try:
        data = load_json_capped(path)
    except FileNotFoundError:
        raise ResultsError(f"no {MANIFEST_NAME} in {run_dir}") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path} must hold a JSON object")
    return data


__all__ = [
    "COMPACTED_FROM_KEY",
    "PARQUET_WRITE_OPTIONS",
    "SCHEMAS",
    "RecordKind",
    "SegmentWriter",
    "compacted_name",
    "list_segments",
    "read_manifest",
    "rows_to_table",
    "segment_name",
    "write_manifest",
]
