"""One local run from start to end: manifest, engine, flushes, compaction, final manifest.

A ``Plan`` holds plain inputs (arrivals, personas, the target), so a session can run without
YAML (tests, benchmarks); ``loadkit.runner.plan.load_plan`` builds one from a ``RunSpec``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadkit.errors import ExitCode, RunInvalid
from loadkit.profiles import Phase
from loadkit.results.schema import RunStatus
from loadkit.results.writer import SegmentWriter, write_manifest
from loadkit.runner.clock import Clock
from loadkit.runner.core import (
    Arrivals,
    Engine,
    EngineOptions,
    EngineResult,
    GuardLike,
    PersonaLike,
)
from loadkit.runner.flusher import Flusher
from loadkit.runner.generator_faults import raise_open_files_limit
from loadkit.runner.manifest import finish_manifest, start_manifest
from loadkit.runner.progress import Progress
from loadkit.runner.recorder import Recorder
from loadkit.runner.redact import redact
from loadkit.runner.spec import RunSpec
from loadkit.runner.visitor import Target


@dataclass(frozen=True)
class Plan:
    """What to run: this worker's arrivals, the personas they use, the (checked) target URL.

    ``run_info`` goes into the manifest (scenario/profile facts, phases, planned, onsale_offset_s,
    duration_s).
    """

    arrivals: Arrivals
    personas: Sequence[PersonaLike]
    target_url: str
    phases: Sequence[Phase] = ()
    run_info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionResult:
    status: RunStatus
    exit_code: ExitCode
    engine: EngineResult | None
    error: str | None = None


class Session:
    """Runs a plan into ``run_dir``. ``stop(reason)`` may be called from a signal handler.

    Exit codes: 0 completed, 130 stopped (``stop``), 1 stopped by an ``abort after`` threshold
    (manifest ``aborted`` with ``aborted_by_threshold``), 3 loadkit itself failed.
    """

    def __init__(
        self,
        spec: RunSpec,
        run_dir: str | os.PathLike[str],
        plan: Plan,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        compact: bool = True,
    ) -> None:
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.plan = plan
        self.compact = compact
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SegmentWriter(self.run_dir, spec.worker_id)
        self.flusher = Flusher(Recorder(), self.writer, spec.flush_interval_s)
        self.flusher.warm_up()
        self.clock = Clock.measure()
        self.t0_ns = _pick_t0_ns(spec, self.clock.now_ns())
        # abort thresholds the live guard cannot judge: (text, why); the analyzer still does
        self.guard_skipped: tuple[tuple[str, str], ...] = ()
        self.engine = build_engine(
            spec,
            plan,
            flusher=self.flusher,
            clock=self.clock,
            t0_ns=self.t0_ns,
            on_progress=on_progress,
            guard=self._guard(),
        )
        self._stop_requested = False
        self._manifest: dict[str, Any] | None = None  # as written at the start
        self.load_ended = False  # the engine returned: no visitor runs any more

    def _guard(self) -> GuardLike | None:
        """The live ``abort after`` thresholds of the spec, or None when it has none.

        Raises InputError (exit 2, before any load) for a threshold that does not parse.
        """
        onsale = self.plan.run_info.get("onsale_offset_s")
        guard, self.guard_skipped = live_guard(
            self.spec.thresholds,
            self.flusher.recorder,
            phases=self.plan.phases,
            onsale_offset_s=float(onsale) if isinstance(onsale, int | float) else 0.0,
        )
        return guard

    def stop(self, reason: str) -> None:
        """End the run early: load stops, records are flushed, the manifest says aborted."""
        self._stop_requested = True
        self.engine.stop(reason)

    def force_end(self, reason: str, *, status: RunStatus = RunStatus.ABORTED) -> None:
        """The stop watchdog's last resort (another OS thread; the loop is wedged): write what
        was recorded and not yet flushed, and mark the manifest ``status`` (``aborted`` after
        a stop, ``failed`` for a run wedged past its end), records incomplete (the journeys
        still in flight have no arrival row). The caller then exits."""
        self.flusher.rescue()
        if self._manifest is None:
            return
        final = finish_manifest(
            self._manifest,
            self.spec,
            status=status,
            stop_reason=f"{reason}; the load did not stop in time (a visitor was stuck in "
            "CPU-bound work), so the run was ended by force: journeys still in flight have "
            "no arrival row",
            requests_written=self.writer.requests_written,
            arrivals_written=self.writer.arrivals_written,
            records_complete=False,
        )
        write_manifest(self.run_dir, final)

    def run(self) -> SessionResult:
        manifest = start_manifest(
            self.spec, target=self.plan.target_url, t0_ns=self.t0_ns, run_info=self.plan.run_info
        )
        write_manifest(self.run_dir, manifest)
        self._manifest = manifest
        engine_result: EngineResult | None = None
        error: str | None = None
        aborted_by: str | None = None
        try:
            engine_result = self.engine.run()
            self.load_ended = True
            status = engine_result.status
            stop_reason = engine_result.stop_reason
            aborted_by = engine_result.aborted_by_threshold
        except Exception as exc:  # loadkit itself failed: say so in the manifest
            status, error = RunStatus.FAILED, redact(f"{type(exc).__name__}: {exc}")
            stop_reason = f"runner failed: {error}"
        self.load_ended = True
        if self.flusher.error is not None:  # records were lost: the run is invalid, and says so
            status, aborted_by = RunStatus.FAILED, None
            stop_reason = error = redact(self.flusher.lost_text())
        complete = status is not RunStatus.FAILED
        # compact only after a clean end: an interrupted run should exit fast, and its
        # segments are whole files a reader takes as they are
        if status is RunStatus.COMPLETED and self.compact:
            try:
                self.writer.compact()
            except OSError as exc:  # the segments are still there; a reader can use them
                error = f"compaction failed: {exc}"
        final = finish_manifest(
            manifest,
            self.spec,
            status=status,
            stop_reason=stop_reason,
            requests_written=self.writer.requests_written,
            arrivals_written=self.writer.arrivals_written,
            records_complete=complete,
            summary=None if engine_result is None else dataclasses.asdict(engine_result),
            aborted_by_threshold=aborted_by,
            worker_extra=_worker_fields(engine_result),
        )
        if self.flusher.error is not None:
            final["records_lost"] = {k.value: n for k, n in self.flusher.lost.items()}
        try:
            write_manifest(self.run_dir, final)
        except OSError as exc:  # the disk that lost the records may refuse the manifest too
            raise RunInvalid(
                f"cannot write the final manifest in {self.run_dir}: {exc}; "
                f"{stop_reason or 'the records on disk are whole segments'}"
            ) from None
        code = ExitCode.FAILED if aborted_by is not None else _exit_code(status)
        return SessionResult(status, code, engine_result, error)


def build_engine(
    spec: RunSpec,
    plan: Plan,
    *,
    flusher: Flusher,
    clock: Clock,
    t0_ns: int,
    on_progress: Callable[[Progress], None] | None = None,
    guard: GuardLike | None = None,
) -> Engine:
    """The engine of a plan: the one way a local run and a distributed worker build theirs.

    The soft open-files limit is raised to the hard limit first (the engine's
    ``open_files_limit`` is what the process then has). The target's address is resolved
    here, once, before the load (visitors then connect without a DNS lookup each). A write the flusher cannot make stops the engine (within a
    flush interval). Raises TargetError when the host does not resolve.
    """
    # raised before the first socket: a default soft limit of 1,024 would fail a big crowd
    open_files = raise_open_files_limit()
    target = Target.from_url(
        plan.target_url,
        request_timeout_s=spec.request_timeout_s,
        connect_timeout_s=spec.connect_timeout_s,
    ).resolve()
    duration_s = plan.run_info.get("duration_s")
    engine = Engine(
        plan.arrivals,
        plan.personas,
        target=target,
        flusher=flusher,
        clock=clock,
        t0_ns=t0_ns,
        options=engine_options(
            spec, duration_s=float(duration_s) if isinstance(duration_s, int | float) else None
        ),
        phases=plan.phases,
        on_progress=on_progress,
        guard=guard,
    )
    engine.open_files_limit = open_files
    # records that cannot be written stop the load: never keep loading while dropping records
    flusher.on_error = lambda exc: engine.stop(RECORDS_LOST)
    return engine


RECORDS_LOST = "records could not be written"


def engine_options(spec: RunSpec, *, duration_s: float | None) -> EngineOptions:
    """The engine options of a run spec (local run or distributed worker alike).

    ``duration_s`` is the profile's length: with the spec's ``drain_timeout_s`` it sets the
    drain deadline (journeys still going then are cut); None (unknown length): no deadline.
    """
    drain_deadline_s = None
    if spec.drain_timeout_s is not None and duration_s is not None:
        drain_deadline_s = duration_s + spec.drain_timeout_s
    return EngineOptions(
        worker_id=spec.worker_id,
        shards=spec.shards,
        seed=spec.seed,
        max_in_flight=spec.max_in_flight,
        progress_interval_s=spec.progress_interval_s,
        duration_limit_s=spec.duration_limit_s,
        drain_deadline_s=drain_deadline_s,
    )


def live_guard(
    thresholds: Sequence[str],
    recorder: Recorder,
    *,
    phases: Sequence[Phase],
    onsale_offset_s: float,
) -> tuple[GuardLike | None, tuple[tuple[str, str], ...]]:
    """The live guard of ``thresholds`` on ``recorder`` (None when none has an ``abort`` action
    the guard can judge) and the ``(text, why)`` of the abort thresholds it cannot judge.

    pandas is imported only when a threshold has an abort action. Raises InputError (exit 2,
    before any load) for a threshold that does not parse.
    """
    from loadkit.runner.guard import ThresholdGuard, has_abort_action

    if not has_abort_action(thresholds):
        return None, ()
    guard = ThresholdGuard(
        thresholds,
        recorder,
        phases=phases,
        onsale_offset_s=onsale_offset_s,
    )
    return (guard if guard.active else None), tuple(guard.skipped)


# A caller-chosen t0 closer than this is too tight to start on time; use the delay instead.
MIN_T0_LEAD_S = 0.2


def _pick_t0_ns(spec: RunSpec, now_ns: int) -> int:
    """The run's t0: the caller's (``loadkit demo`` aligns the shop's on-sale with it) if it is
    still ahead of us, else now + ``start_delay_s``."""
    if spec.t0_ns is not None and spec.t0_ns >= now_ns + int(MIN_T0_LEAD_S * 1e9):
        return spec.t0_ns
    return now_ns + int(spec.start_delay_s * 1e9)


def _worker_fields(result: EngineResult | None) -> dict[str, float | str | int]:
    """What the engine measured about itself, for this worker's manifest entry."""
    if result is None:
        return {}
    fields = {
        "cpu_percent_max": result.cpu_percent_max,
        "cpu_percent_p95": result.cpu_percent_p95,
        "start_timer": result.start_timer,
        "open_files_limit": result.open_files_limit,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _exit_code(status: RunStatus) -> ExitCode:
    if status is RunStatus.COMPLETED:
        return ExitCode.PASSED
    if status is RunStatus.ABORTED:
        return ExitCode.INTERRUPTED
    return ExitCode.INVALID


__all__ = ["Plan", "Session", "SessionResult", "build_engine", "engine_options", "live_guard"]
