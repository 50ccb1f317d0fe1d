"""What the master writes about a run: lost arrivals and the manifest. No gevent.

Decision (docs/distributed.md): the arrivals of a lost worker are **accounted as lost, not
reassigned**. Reassigning would start them late on survivors that are already loaded, which
measures the wrong crowd; accounting keeps the record honest: every arrival of the lost
worker's shards that the master never got a row for becomes a ``dropped`` row with reason
``worker_lost``, and the analyzer's validity rules (drops, lost workers) judge the run.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from loadkit.results.merge import LOST_REASON
from loadkit.results.schema import ARRIVAL_SCHEMA, SCHEMA_VERSION, ArrivalOutcome, RunStatus
from loadkit.runner.distributed.roster import WorkerSlot
from loadkit.runner.manifest import thresholds_file_entry
from loadkit.runner.spec import RunSpec


def lost_arrivals(
    ids: np.ndarray[Any, Any],
    offsets_ns: np.ndarray[Any, Any],
    reported: np.ndarray[Any, Any],
    *,
    worker_id: int,
    t0_ns: int,
    total_shards: int,
    persona_names: Sequence[str],
    persona_of: np.ndarray[Any, Any] | None,
) -> pa.Table:
    """``dropped``/``worker_lost`` rows for the arrivals in ``ids`` that were never reported.

    ``ids``/``offsets_ns`` are the lost worker's share of the schedule; ``t0_ns`` is t0 on that
    worker's clock (so the rows line up with its other rows); ``persona_of`` maps an arrival id
    to its persona index (None: persona left null).
    """
    mask = ~np.isin(ids, reported)
    lost = ids[mask].astype(np.int64)
    n = int(lost.size)
    personas: pa.Array
    if persona_of is not None and persona_names:
        names = np.asarray(persona_names, dtype=object)[persona_of[lost]]
        personas = pa.array(names.tolist(), pa.string()).dictionary_encode()
    else:
        personas = pa.nulls(n, pa.string()).dictionary_encode()
    nulls_i64 = pa.nulls(n, pa.int64())
    columns: dict[str, Any] = {
        "arrival_id": pa.array(lost, pa.int64()),
        "persona": personas,
        "shard": pa.array((lost % total_shards).astype(np.int32), pa.int32()),
        "worker": pa.array(np.full(n, worker_id, dtype=np.int32), pa.int32()),
        "scheduled_ns": pa.array(t0_ns + offsets_ns[mask].astype(np.int64), pa.int64()),
        "actual_ns": nulls_i64,
        "end_ns": nulls_i64,
        "lateness_ms": pa.nulls(n, pa.float64()),
        "outcome": pa.array([ArrivalOutcome.DROPPED.value] * n, pa.string()).dictionary_encode(),
        "reason": pa.array([LOST_REASON] * n, pa.string()),
        "requests": pa.array(np.zeros(n, dtype=np.int32), pa.int32()),
        "errors": pa.array(np.zeros(n, dtype=np.int32), pa.int32()),
    }
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in ARRIVAL_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=ARRIVAL_SCHEMA)


def _iso(ts_s: float | None) -> str | None:
    if ts_s is None:
        return None
    return datetime.fromtimestamp(ts_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_manifest(
    spec: RunSpec,
    *,
    status: RunStatus,
    started_at_s: float,
    ended_at_s: float | None,
    t0_ns: int | None,
    workers: Sequence[WorkerSlot],
    versions: dict[str, str],
    scenario: dict[str, Any],
    profile: dict[str, Any],
    plan: dict[str, Any],
    master: dict[str, Any],
    stop_reason: str | None,
    aborted_by_threshold: str | None = None,
) -> dict[str, Any]:
    """The run's ``manifest.json`` as the master sees it (keys: ``schema.MANIFEST_KEYS``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "status": status.value,
        "mode": spec.mode.value,
        "started_at": _iso(started_at_s),
        "ended_at": _iso(ended_at_s),
        "t0_ns": t0_ns,
        "onsale_offset_s": plan.get("onsale_offset_s"),
        "duration_s": plan.get("duration_s"),
        "seed": spec.seed,
        "shards": spec.shards,
        "target": spec.host,
        "versions": {**versions, "python": platform.python_version()},
        "scenario": scenario,
        "profile": profile,
        "thresholds": list(spec.thresholds),
        "thresholds_file": thresholds_file_entry(spec),
        "settings": {k: dict(v) for k, v in spec.settings.items()},
        "phases": plan.get("phases", []),
        "planned": {"arrivals": plan.get("arrivals")},
        "workers": [w.manifest_entry() for w in workers],
        "records_complete": bool(workers) and all(w.records_complete for w in workers),
        "stop_reason": stop_reason,
        "aborted_by_threshold": aborted_by_threshold,  # as a local run: the analyzer fails it
        "master": master,
    }


__all__ = ["build_manifest", "lost_arrivals"]
