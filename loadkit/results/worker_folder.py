"""A worker folder, checked before a merge touches the run: ``worker.json`` and segment files.

A worker folder comes from another machine or an old disk; ``loadkit results merge`` must not
let a damaged one damage the run. Everything here only reads: a problem is a ResultsError
(exit 2) naming the file and what is wrong, raised before anything is copied.

``worker.json`` is a JSON object of at most ``MAX_WORKER_MANIFEST_BYTES``: ``worker_id`` a whole
number 0..``MAX_WORKER_ID``; optional ``run_id`` (text), ``ended`` (true/false) and ``segments``
(``{"requests": N, "arrivals": N}``, whole numbers). A segment is a regular file holding a
Parquet table with exactly the record schema, every page readable.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loadkit.errors import ResultsError

WORKER_MANIFEST = "worker.json"
MAX_WORKER_MANIFEST_BYTES = 1024 * 1024  # a real one is a few hundred bytes
MAX_WORKER_ID = 99_999
MAX_SEGMENT_SEQ = 999_999  # six digits in a segment's file name
_NOTHING_DONE = "Nothing was merged; the run folder is unchanged."


@dataclass(frozen=True)
class WorkerInfo:
    """What a checked ``worker.json`` says; ``data`` is the whole object as read."""

    worker_id: int
    run_id: str | None
    ended: bool
    segments: Mapping[str, int]
    data: Mapping[str, Any]


def _refuse(path: Path, problem: str) -> ResultsError:
    return ResultsError(
        f"{path}: {problem}",
        hint="Pass only folders `loadkit worker` wrote for this run, or leave this one out. "
        + _NOTHING_DONE,
    )


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):  # pragma: no cover - JSON values always dump
        text = "an unreadable value"
    return text if len(text) <= 60 else text[:57] + "..."


def _whole(value: Any, upto: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= upto


def _read_json(path: Path, worker_dir: Path) -> Any:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise _refuse(path, "is not a regular file")
        if size > MAX_WORKER_MANIFEST_BYTES:
            raise _refuse(path, f"is {size} bytes; a worker.json is at most 1 MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        what = "not found" if not worker_dir.exists() else f"no {WORKER_MANIFEST}"
        raise ResultsError(
            f"{worker_dir} is not a loadkit worker folder ({what})",
            hint="Pass the folders `loadkit worker --out` wrote. " + _NOTHING_DONE,
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _refuse(path, f"is not valid JSON ({type(exc).__name__}: {exc})") from None


def load_worker_info(worker_dir: Path) -> WorkerInfo:
    """Read and check ``WORKER_DIR/worker.json``. Raises ResultsError naming the problem."""
    path = worker_dir / WORKER_MANIFEST
    data = _read_json(path, worker_dir)
    if not isinstance(data, dict):
        raise _refuse(path, "must hold a JSON object")
    if "worker_id" not in data:
        raise _refuse(path, "does not name a worker_id")
    worker_id = data["worker_id"]
    if not _whole(worker_id, MAX_WORKER_ID):
        raise _refuse(
            path, f"worker_id is {_shown(worker_id)}; expected a whole number 0..{MAX_WORKER_ID}"
        )
    run_id = data.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise _refuse(path, f"run_id is {_shown(run_id)}; expected text")
    ended = data.get("ended", False)
    if not isinstance(ended, bool):
        raise _refuse(path, f"ended is {_shown(ended)}; expected true or false")
    segments = data.get("segments") or {}
    if not isinstance(segments, dict) or not all(
        k in ("requests", "arrivals") and _whole(v, MAX_SEGMENT_SEQ) for k, v in segments.items()
    ):
        raise _refuse(
            path,
            f"segments is {_shown(segments)}; expected "
            '{"requests": N, "arrivals": N} with whole numbers',
        )
    return WorkerInfo(worker_id, run_id, ended, dict(segments), data)


def read_worker_manifest(worker_dir: Path) -> dict[str, Any]:
    """``WORKER_DIR/worker.json`` as a dict, checked by ``load_worker_info``."""
    return dict(load_worker_info(worker_dir).data)


def _schema_problem(found: pa.Schema, wanted: pa.Schema) -> str | None:
    if found.remove_metadata().equals(wanted.remove_metadata()):
        return None
    missing = [n for n in wanted.names if n not in found.names]
    if missing:
        return f"lacks the column(s) {', '.join(missing[:5])}"
    extra = [n for n in found.names if n not in wanted.names]
    if extra:
        return f"has unknown column(s) {', '.join(extra[:5])}"
    for field in wanted:
        other = found.field(field.name)
        if other.type != field.type:
            return f"column {field.name} holds {other.type}, expected {field.type}"
    return "has its columns in another order"


def check_segment(path: Path, schema: pa.Schema) -> int:
    """Check a segment file can join the run: a regular Parquet file with exactly ``schema``
    whose every page decodes (and passes its checksum, when it has one). Returns its row count.
    Raises ResultsError otherwise."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise _refuse(path, "is not a regular file (a link or a special file)")
        problem = _schema_problem(pq.read_schema(path), schema)
        if problem is not None:
            raise _refuse(path, f"is not a loadkit record segment: it {problem}")
        table = pq.read_table(path, page_checksum_verification=True)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise _refuse(path, f"is not a readable Parquet segment ({exc})") from None
    return int(table.num_rows)


__all__ = [
    "MAX_WORKER_ID",
    "MAX_WORKER_MANIFEST_BYTES",
    "WORKER_MANIFEST",
    "WorkerInfo",
    "check_segment",
    "load_worker_info",
    "read_worker_manifest",
]
