"""What the engine reports: progress snapshots, the once-a-second monitor, the run's result.

These read the ``Engine`` (``loadkit.runner.core``) once per progress interval, once per
``MONITOR_S``, and once at the end; nothing here runs per arrival or per request. The
monitor samples CPU and checks the live thresholds (``abort after``), stopping the engine
when one trips.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gevent

from loadkit.results.schema import RunStatus
from loadkit.runner.engine_types import EngineResult, threshold_stop_reason
from loadkit.runner.progress import Progress, percentile, phase_at

if TYPE_CHECKING:
    from loadkit.runner.core import Engine

MONITOR_S = 1.0  # CPU samples and live threshold checks


def progress_snapshot(
    engine: Engine, *, final: bool = False, since: tuple[float, int, int] | None = None
) -> Progress:
    """Progress now; ``since`` = (monotonic s, requests, lateness count) of the last tick."""
    now_s = time.monotonic()
    requests = engine.flusher.pending_requests()
    if since is None:
        since = _start_mark(engine)
    dt_s = max(1e-9, now_s - since[0])
    window = engine.lateness_ms if final else engine.lateness_ms[since[2] :]
    elapsed_s = (engine.clock.now_ns() - engine.t0_ns) / 1e9
    return Progress(
        elapsed_s=elapsed_s,
        phase=phase_at(engine.phases, elapsed_s),
        scheduled=engine.due_count() if not final else engine.started + engine.dropped,
        started=engine.started,
        dropped=engine.dropped,
        in_flight=engine.in_flight,
        requests_per_s=(requests - since[1]) / dt_s,
        errors=engine.recorder.error_count,
        generator_faults=engine.recorder.generator_faults,
        lateness_p99_ms=percentile(window, 99.0),
        final=final,
        cpu_percent=engine.cpu_line.sample(),
    )


def _start_mark(engine: Engine) -> tuple[float, int, int]:
    t0_mono_s = engine.clock.to_monotonic_ns(engine.t0_ns) / 1e9
    return (t0_mono_s, 0, 0)


def progress_loop(engine: Engine) -> None:
    """Every ``progress_interval_s``: hand ``on_progress`` a snapshot since the last one."""
    mark = (time.monotonic(), engine.flusher.pending_requests(), 0)
    while True:
        gevent.sleep(engine.options.progress_interval_s)
        snap = progress_snapshot(engine, since=mark)
        mark = (time.monotonic(), engine.flusher.pending_requests(), len(engine.lateness_ms))
        if engine.on_progress is not None:
            engine.on_progress(snap)


def monitor_loop(engine: Engine) -> None:
    """Every ``MONITOR_S``: sample CPU, and check the live thresholds (off the hot path)."""
    while True:
        gevent.sleep(MONITOR_S)
        engine.cpu.sample()
        if engine.guard is None or engine.stop_reason is not None:
            continue
        tripped = engine.guard.check((engine.clock.now_ns() - engine.t0_ns) / 1e9)
        if tripped is not None and engine.stop_reason is None:
            engine.aborted_by_threshold = tripped
            engine.stop(threshold_stop_reason(tripped))


def engine_result(engine: Engine) -> EngineResult:
    """What the run did, once it ended (after the last flush)."""
    status = RunStatus.ABORTED if engine.aborted else RunStatus.COMPLETED
    cpu = engine.cpu.summary()
    return EngineResult(
        status=status,
        stop_reason=engine.stop_reason,
        scheduled=engine.started + engine.dropped,
        started=engine.started,
        dropped=engine.dropped,
        requests=engine.flusher.pending_requests(),
        errors=engine.recorder.error_count,
        lateness_p99_ms=percentile(engine.lateness_ms, 99.0),
        lateness_max_ms=max(engine.lateness_ms, default=None),
        aborted_by_threshold=engine.aborted_by_threshold,
        cpu_percent_max=cpu.get("cpu_percent_max"),
        cpu_percent_p95=cpu.get("cpu_percent_p95"),
        start_timer=engine.timer_kind,
        open_files_limit=engine.open_files_limit,
    )


__all__ = ["MONITOR_S", "engine_result", "monitor_loop", "progress_loop", "progress_snapshot"]
