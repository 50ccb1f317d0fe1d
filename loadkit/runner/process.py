"""The runner process's outer shell: signals in, progress lines out, an exit code back.

Used by ``python -m loadkit.runner`` after monkey-patching; imports gevent.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Callable
from types import FrameType
from typing import TextIO

import gevent

from loadkit.errors import ExitCode
from loadkit.results.schema import RunStatus
from loadkit.runner.overrun import HEARTBEAT_ENV
from loadkit.runner.progress import Progress, format_progress
from loadkit.runner.session import Session
from loadkit.runner.watchdog import StopWatchdog

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def progress_printer(stream: TextIO) -> Callable[[Progress], None]:
    """A progress callback that prints one line per snapshot to ``stream``."""

    def emit(p: Progress) -> None:
        print(format_progress(p), file=stream, flush=True)

    return emit


def run_session(session: Session, *, stderr: TextIO = sys.stderr) -> int:
    """Run with SIGINT/SIGTERM wired to ``session.stop``; returns the exit code.

    A stop ends load within ~2 s (visitors are killed), flushes records, marks the manifest
    aborted, and gives exit code 130; a stop by an ``abort after`` threshold gives exit code 1.
    When the loop is wedged (a visitor stuck in CPU-bound work), the stop watchdog ends the
    process itself within ~3 s of the signal (``loadkit.runner.watchdog``), also with 130;
    with no signal, ~5 s after the run's planned end (manifest ``failed``, exit code 3).
    """
    live = None
    if session.spec.live:  # binds now: a taken port is exit 2, before any load
        from loadkit.runner.live_feed import start_live  # imports pandas: only with --live

        live = start_live(session)
        print(f"loadkit runner: live view at {live.server.url}", file=stderr, flush=True)
    for text, why in session.guard_skipped:
        print(f'loadkit runner: "{text}" is not checked live ({why})', file=stderr, flush=True)
    loop = gevent.get_hub().loop
    watchdog = StopWatchdog(
        lambda reason, overrun: _force_end(session, reason, stderr, overrun=overrun),
        say=lambda line: print(f"loadkit runner: {line}", file=stderr, flush=True),
        ended=lambda: session.load_ended,
        heartbeat_fd=_heartbeat_fd(),
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # A Python handler (not gevent's, which needs the loop): it runs at the next bytecode
        # even while a visitor greenlet spins, arms the watchdog, and asks the loop to stop.
        reason = f"interrupted ({signal.Signals(signum).name})"
        watchdog.request(reason)
        loop.run_callback_threadsafe(session.stop, reason)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    watchdog.start(loop, planned_end_s=planned_end_s(session))
    try:
        result = session.run()
    finally:
        watchdog.done()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if live is not None:
            live.finish()
    if result.error:
        print(f"loadkit runner: {result.error}", file=stderr, flush=True)
    if result.engine is not None and result.engine.stop_reason:
        print(f"loadkit runner: {result.engine.stop_reason}", file=stderr, flush=True)
    print(
        f"loadkit runner: run {session.spec.run_id} {result.status.value}; "
        f"{session.writer.requests_written} requests, "
        f"{session.writer.arrivals_written} arrivals recorded in {session.run_dir}",
        file=stderr,
        flush=True,
    )
    return int(result.exit_code)


def planned_end_s(session: Session) -> float | None:
    """When the run should be over, in monotonic seconds: t0 + the engine's own limit (the
    profile + drain, or the duration limit); None when it has none."""
    opts = session.engine.options
    limits = [s for s in (opts.duration_limit_s, opts.drain_deadline_s) if s is not None]
    if not limits:
        return None
    return session.clock.to_monotonic_ns(session.t0_ns) / 1e9 + min(limits)


def _heartbeat_fd() -> int | None:
    """The pipe the CLI reads the watchdog's heartbeat from (``run_child``), if any; taken
    out of the environment, so nothing this process starts writes to a reused number."""
    raw = os.environ.pop(HEARTBEAT_ENV, "")
    try:
        return int(raw) if raw.isdigit() and stat.S_ISFIFO(os.fstat(int(raw)).st_mode) else None
    except OSError:  # not open here: no heartbeat
        return None


def _force_end(session: Session, reason: str, stderr: TextIO, *, overrun: bool) -> None:
    """In the watchdog's thread: flush what was recorded, mark the manifest, exit now: 130
    after a stop (manifest ``aborted``), 3 for a run wedged past its planned end (``failed``).

    Not when the load already ended (the main thread is finishing the manifest or compacting
    a completed run's segments, which blocks the loop but sends nothing): that work goes on.
    """
    if session.load_ended:
        return
    code = int(ExitCode.INVALID if overrun else ExitCode.INTERRUPTED)
    status = RunStatus.FAILED if overrun else RunStatus.ABORTED
    try:
        print(
            f"loadkit runner: {reason}, but the load did not stop in time (a visitor is stuck "
            "in CPU-bound work): ending the run by force",
            file=stderr,
            flush=True,
        )
        session.force_end(reason, status=status)
    except BaseException as exc:  # the exit below must happen whatever went wrong
        print(f"loadkit runner: could not finish the manifest: {exc}", file=stderr, flush=True)
    finally:
        os._exit(code)


__all__ = ["STOP_SIGNALS", "progress_printer", "run_session"]
