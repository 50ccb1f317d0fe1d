"""Building ``manifest.json`` (keys: ``loadkit.results.schema.MANIFEST_KEYS``) for a run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import math
import os
import platform
import socket
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from loadkit import __version__ as loadkit_version
from loadkit.results.schema import SCHEMA_VERSION, RunStatus
from loadkit.runner.spec import RunSpec


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def thresholds_file_entry(spec: RunSpec) -> dict[str, str | None] | None:
    """The manifest's ``thresholds_file``: the ``--thresholds`` file and its hash, or None."""
    if not spec.thresholds_file:
        return None
    return {"path": spec.thresholds_file, "sha256": file_sha256(spec.thresholds_file)}


def to_jsonable(obj: Any, _depth: int = 0) -> Any:
    """A JSON-safe copy of a loaded model (dataclasses, enums, tuples, paths, numpy scalars)."""
    if _depth > 40:
        return repr(obj)
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, _depth + 1)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name), _depth + 1)
            for f in dataclasses.fields(obj)
            if f.repr
        }
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v, _depth + 1) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return to_jsonable(obj.tolist(), _depth + 1)
    return str(obj)


def versions() -> dict[str, str]:
    """Versions of what shaped the run, from package metadata (no imports: locust is slow)."""
    out = {"loadkit": loadkit_version, "python": platform.python_version()}
    for name in ("locust", "gevent", "geventhttpclient", "pyarrow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def worker_entry(
    spec: RunSpec,
    shards: Sequence[int],
    *,
    fate: str,
    requests: int = 0,
    arrivals: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``workers[]`` entry; ``extra`` adds measured keys (``cpu_percent_max``, ...)."""
    entry = {
        "id": spec.worker_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "shards": list(shards),
        "clock_offset_ms": 0.0,  # local mode: the worker is the clock of record
        "requests_written": requests,
        "arrivals_written": arrivals,
        "fate": fate,
    }
    entry.update(extra or {})
    return entry


def start_manifest(
    spec: RunSpec,
    *,
    target: str,
    t0_ns: int,
    run_info: Mapping[str, Any],
) -> dict[str, Any]:
    """The manifest written before load starts (status running).

    ``run_info`` carries what the plan knows: scenario, profile, phases, planned,
    onsale_offset_s, duration_s (any of them may be absent).
    """
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "status": RunStatus.RUNNING.value,
        "started_at": utc_now_iso(),
        "ended_at": None,
        "t0_ns": t0_ns,
        "onsale_offset_s": None,
        "duration_s": None,
        "seed": spec.seed,
        "shards": spec.shards,
        "target": target,
        "versions": versions(),
        "scenario": {"path": spec.scenario_path, "sha256": file_sha256(spec.scenario_path)},
        "profile": {"path": spec.profile_path, "sha256": file_sha256(spec.profile_path)},
        "thresholds": list(spec.thresholds),
        "thresholds_file": thresholds_file_entry(spec),
        "settings": to_jsonable(spec.settings),
        "phases": [],
        "planned": {},
        "workers": [worker_entry(spec, range(spec.shards), fate="running")],
        "records_complete": False,
        "stop_reason": None,
        "aborted_by_threshold": None,
        "mode": spec.mode.value,
        "max_in_flight": spec.max_in_flight,
    }
    for key, value in run_info.items():
        if key in ("scenario", "profile") and isinstance(value, Mapping):
            manifest[key].update(to_jsonable(value))
        else:
            manifest[key] = to_jsonable(value)
    return manifest


def finish_manifest(
    manifest: Mapping[str, Any],
    spec: RunSpec,
    *,
    status: RunStatus,
    stop_reason: str | None,
    requests_written: int,
    arrivals_written: int,
    records_complete: bool,
    summary: Mapping[str, Any] | None = None,
    aborted_by_threshold: str | None = None,
    worker_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest rewritten at the end of the run.

    ``aborted_by_threshold``: the text of the ``abort after`` threshold that stopped the run
    (the analyzer's verdict is then failed). ``worker_extra`` goes into the worker's entry
    (``cpu_percent_max``, ``cpu_percent_p95``).
    """
    out = dict(manifest)
    out["status"] = status.value
    out["ended_at"] = utc_now_iso()
    out["stop_reason"] = stop_reason
    out["aborted_by_threshold"] = aborted_by_threshold
    out["records_complete"] = records_complete
    out["workers"] = [
        worker_entry(
            spec,
            range(spec.shards),
            fate=status.value,
            requests=requests_written,
            arrivals=arrivals_written,
            extra=worker_extra,
        )
    ]
    if summary is not None:
        out["runner_summary"] = to_jsonable(summary)
    return out


__all__ = [
    "file_sha256",
    "finish_manifest",
    "start_manifest",
    "to_jsonable",
    "utc_now_iso",
    "versions",
    "worker_entry",
]
