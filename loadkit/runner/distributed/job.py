"""A worker's part of the run: its plan turned into the local runner's engine, streaming segments.

The worker runs exactly the engine of a local run (``loadkit.runner.core.Engine``: scheduler
greenlet, visitors, in-flight cap, flusher) on its shards of the seeded schedule. Its writer is
a ``SegmentWriter`` that also puts every segment it wrote on an outbox (the very Parquet bytes),
which the worker's sender greenlet streams to the master. The outbox is a ``deque`` because the
flusher writes from gevent's thread pool: ``deque.append`` is thread-safe, gevent objects are not.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

# Imported up front, not at the plan: a worker busy importing for seconds sends no
# heartbeats, and the master would take it for dead.
from loadkit.results.merge import WORKER_MANIFEST, parse_segment_name
from loadkit.results.writer import RecordKind, SegmentWriter
from loadkit.runner.clock import Clock
from loadkit.runner.core import Engine, GuardLike
from loadkit.runner.distributed.messages import Batch, FilePayload, Plan, ProtocolError
from loadkit.runner.flusher import Flusher
from loadkit.runner.plan import DRY_RUN_REASON, DryPersona, build_plan
from loadkit.runner.recorder import Recorder
from loadkit.runner.session import Plan as LocalPlan
from loadkit.runner.session import build_engine as build_run_engine
from loadkit.runner.session import live_guard
from loadkit.runner.spec import RunMode, RunSpec


class StreamingWriter(SegmentWriter):
    """A SegmentWriter that also queues each whole segment it wrote for the master."""

    def __init__(self, run_dir: str | os.PathLike[str], worker_id: int) -> None:
        super().__init__(run_dir, worker_id)
        self.outbox: deque[Batch] = deque()
        self.last_seq: dict[RecordKind, int] = {k: 0 for k in RecordKind}

    def write_table(self, kind: RecordKind, table: pa.Table) -> Path | None:
        path = super().write_table(kind, table)
        if path is not None:
            seg = parse_segment_name(path.name)
            seq = seg.seq if seg else self.last_seq[kind] + 1
            self.last_seq[kind] = seq
            self.outbox.append(
                Batch(self.worker_id, kind.value, seq, table.num_rows, path.read_bytes())
            )
        return path

    def segments(self) -> dict[str, int]:
        return {k.value: v for k, v in self.last_seq.items()}

    def rows(self) -> dict[str, int]:
        return {k.value: v for k, v in self.written.items()}


def persona_index(weights: Sequence[float], seed: int, total: int) -> np.ndarray[Any, Any]:
    """Persona of every arrival of the schedule (docs/architecture.md): the same on every worker.

    The master uses this to name the persona of lost arrivals without compiling the scenario
    (which may need environment variables only the workers have); it is the formula of
    ``CompiledScenario.persona_for``.
    """
    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()
    return np.random.default_rng([seed, 1]).choice(len(p), size=total, p=p)


@dataclass(frozen=True)
class Prepared:
    """Everything loaded and compiled before t0, so starting costs nothing."""

    spec: RunSpec
    plan: LocalPlan  # this worker's shards, built as a local run builds its own
    job_dir: Path


def _save(payload: FilePayload, folder: Path, *, keep_dirs: bool = False) -> Path:
    """Write a verified payload under ``folder`` (never outside it)."""
    payload.verify()
    rel = Path(payload.name) if keep_dirs else Path(Path(payload.name).name or "file.yaml")
    if rel.is_absolute() or ".." in rel.parts:
        raise ProtocolError(
            f"refusing a file named {payload.name!r}: it would land outside {folder}"
        )
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload.content)
    return path


def prepare(plan: Plan, job_dir: Path, *, dry_run: bool) -> Prepared:
    """Verify and save the plan's files, load them, compile this worker's share of the schedule.

    Raises ProtocolError for a payload whose sha256 does not match, InputError for files that
    do not load (the worker then refuses the plan with that message).
    """

    job_dir.mkdir(parents=True, exist_ok=True)
    # scenario/ and profile/ keep their referenced files at the same relative paths
    for extra in plan.files:
        _save(extra, job_dir, keep_dirs=True)
    scenario_path = _save(plan.scenario, job_dir / "scenario")
    profile_path = _save(plan.profile, job_dir / "profile")
    try:
        spec = RunSpec.from_dict(plan.spec)
    except Exception as exc:
        raise ProtocolError(f"the master's run spec is not readable here: {exc}") from None
    spec = replace(
        spec,
        mode=RunMode.WORKER,
        scenario_path=str(scenario_path),
        profile_path=str(profile_path),
        worker_id=plan.worker_id,
        host=plan.host,
        seed=plan.seed,
        shards=plan.total_shards,
    )
    return Prepared(spec, build_plan(spec, plan.shards, dry_run=dry_run), job_dir)


def warm_flusher(prepared: Prepared, writer: StreamingWriter) -> Flusher:
    """The flusher of this worker's records, its first-use costs paid now (before t0)."""

    flusher = Flusher(Recorder(), writer, prepared.spec.flush_interval_s)
    flusher.warm_up()
    return flusher


def build_guard(prepared: Prepared, flusher: Flusher) -> GuardLike | None:
    """This worker's live ``abort after`` guard on its own records (None: no such threshold).

    Built before lk_ready: it may import pandas, which must not stall the run after t0. Each
    worker judges its own share of the load; the master stops every worker when one trips.
    """
    onsale = prepared.plan.run_info.get("onsale_offset_s")
    guard, _skipped = live_guard(
        prepared.spec.thresholds,
        flusher.recorder,
        phases=prepared.plan.phases,
        onsale_offset_s=float(onsale) if isinstance(onsale, int | float) else 0.0,
    )
    return guard


def build_engine(
    prepared: Prepared,
    flusher: Flusher,
    t0_ns: int,
    on_progress: Callable[[Any], None] | None = None,
    guard: GuardLike | None = None,
) -> Engine:
    """The local runner's engine for this worker's arrivals, starting at ``t0_ns`` (own clock).

    As a local run: journeys still going past the profile's end plus the drain are cut.
    """

    return build_run_engine(
        prepared.spec,
        prepared.plan,
        flusher=flusher,
        clock=Clock.measure(),
        t0_ns=t0_ns,
        on_progress=on_progress,
        guard=guard,
    )


def worker_manifest(
    *,
    run_id: str,
    worker_id: int,
    status: str,
    ended: bool,
    writer: StreamingWriter | None,
    stop_reason: str | None,
    t0_ns: int | None,
    master: str,
) -> dict[str, Any]:
    """``worker.json``: what ``loadkit results merge`` needs to know about this folder."""
    return {
        "run_id": run_id,
        "worker_id": worker_id,
        "status": status,
        "ended": ended,  # True: every record this worker made is in records/
        "stop_reason": stop_reason,
        "t0_ns": t0_ns,
        "master": master,
        "segments": writer.segments() if writer else {},
        "rows": writer.rows() if writer else {},
    }


__all__ = [
    "DRY_RUN_REASON",
    "WORKER_MANIFEST",
    "DryPersona",
    "Prepared",
    "StreamingWriter",
    "build_engine",
    "build_guard",
    "persona_index",
    "prepare",
    "warm_flusher",
    "worker_manifest",
]
