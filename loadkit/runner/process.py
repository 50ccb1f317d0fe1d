"""The runner process's outer shell: signals in, progress lines out, an exit code back.

Used by ``python -m loadkit.runner`` after monkey-patching; imports gevent.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import TextIO

import gevent

from loadkit.runner.progress import Progress, format_progress
from loadkit.runner.session import Session

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
    """
    live = None
    if session.spec.live:  # binds now: a taken port is exit 2, before any load
        from loadkit.runner.live_feed import start_live  # imports pandas: only with --live

        live = start_live(session)
        print(f"loadkit runner: live view at {live.server.url}", file=stderr, flush=True)
    for text, why in session.guard_skipped:
        print(f'loadkit runner: "{text}" is not checked live ({why})', file=stderr, flush=True)
    watchers = []
    for sig in STOP_SIGNALS:
        name = signal.Signals(sig).name
        watchers.append(gevent.signal_handler(sig, session.stop, f"interrupted ({name})"))
    try:
        result = session.run()
    finally:
        for w in watchers:
            w.cancel()
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


__all__ = ["STOP_SIGNALS", "progress_printer", "run_session"]
