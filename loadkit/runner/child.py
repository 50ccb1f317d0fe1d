"""The CLI's side of a runner process: start it, pass stops on, force the end, tell the truth.

No gevent here (the CLI imports it). The runner child (``python -m loadkit.runner RUN_DIR`` or
the distributed master) stops itself on SIGINT/SIGTERM; this side guarantees the rest:

- a stop always works: if the child is still there ``STOP_KILL_S`` after the stop (its own
  watchdog could not run: a C call holding the GIL), it is killed and its manifest marked
  ``aborted`` (records after its last flush are lost, and the manifest says so); exit 130;
- a child that dies on its own (SIGKILL, the OOM killer, a crash) leaves its manifest at
  ``running``; it is marked ``failed`` with the cause and every running worker's fate
  ``crashed``, so ``analyze`` says why the run is invalid; exit 3;
- a run never hangs: a runner far past its planned end whose heartbeat stopped (wedged in a
  C call holding the GIL; ``loadkit.runner.overrun``) is killed, its manifest marked
  ``failed`` with that cause, its workers' fate ``killed``; exit 3.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

from loadkit.errors import ExitCode, ResultsError
from loadkit.results.schema import MANIFEST_NAME, RunStatus
from loadkit.results.writer import read_manifest, write_manifest
from loadkit.runner.defaults import OVERRUN_KILL_S, STOP_KILL_S
from loadkit.runner.manifest import utc_now_iso
from loadkit.runner.overrun import HEARTBEAT_ENV, OverrunGuard

Echo = Callable[[str], None]
_POLL_S = 0.1


# Signals the CLI turns into a stop of its child: SIGTERM (kill, CI cancelling a job) and
# SIGHUP (the terminal closed). The child has a process group of its own, so without this it
# would not hear of them and would go on loading unattended.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stops_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP like Ctrl-C, so children are stopped and records flushed."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: dict[signal.Signals, Any] = {}
    with suppress(ValueError):  # not the main thread: leave signals alone
        for stop in _STOP_SIGNALS:
            previous[stop] = signal.signal(stop, handler)
    try:
        yield
    finally:
        for stop, old in previous.items():
            signal.signal(stop, old)


def _say(echo: Echo, line: str) -> None:
    """Echo, unless the terminal is gone (SIGHUP): stopping the child matters more."""
    with suppress(OSError):
        echo(line)


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the child's process group: the child and what it started (a master's local
    workers), which is exactly what we started, as Ctrl-C in a terminal would. Only called
    while the child is not yet reaped, so the group is certainly ours."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def _wait(
    child: subprocess.Popen[bytes], echo: Echo, kill_after_s: float, guard: OverrunGuard | None
) -> tuple[int, bool, str | None]:
    """Wait for the child; pass each interrupt on (as SIGINT); kill its group ``kill_after_s``
    after the first one if it is still there, or when ``guard`` says it overran. Returns (its
    return code, whether we stopped it, why it was killed for overrunning)."""
    stop_at: float | None = None
    killed = False
    overrun: str | None = None
    while True:
        try:
            return child.wait(timeout=_POLL_S), stop_at is not None, overrun
        except subprocess.TimeoutExpired:
            if stop_at is not None and not killed and time.monotonic() - stop_at > kill_after_s:
                _say(
                    echo, f"stopping: the runner did not stop within {kill_after_s:g} s; killing it"
                )
                _signal_group(child, signal.SIGKILL)
                killed = True
            elif not killed and guard is not None and (overrun := guard.check()) is not None:
                _say(echo, f"runner: {overrun}; killing it")
                _signal_group(child, signal.SIGKILL)
                killed = True
        except KeyboardInterrupt:
            _signal_group(child, signal.SIGINT)
            if stop_at is None:
                stop_at = time.monotonic()
                _say(echo, "stopping: flushing records (Ctrl-C again to hurry)")


def run_child(
    argv: list[str],
    echo: Echo,
    env: dict[str, str] | None = None,
    *,
    run_dir: Path | None = None,
    kill_after_s: float = STOP_KILL_S,
    overrun_kill_s: float = OVERRUN_KILL_S,
) -> int:
    """Run a child that shares our Ctrl-C; wait for it to flush and exit on its own.

    Every Ctrl-C is passed on; SIGTERM and SIGHUP to us are passed on as SIGINT. With ``run_dir`` (a
    runner's results folder), a manifest the child left ``running`` is finished here (see the
    module docstring), and a runner still there ``overrun_kill_s`` after the run's planned end
    with its heartbeat silent is killed. Returns loadkit's exit code.
    """
    # its own process group: a stop reaches the child and everything it started, and a kill
    # leaves nothing behind (a master's local workers stuck in CPU-bound work included)
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != HEARTBEAT_ENV}
    guard = OverrunGuard(run_dir, kill_after_s=overrun_kill_s) if run_dir is not None else None
    fds = (guard.write_fd,) if guard is not None else ()
    try:
        child = subprocess.Popen(
            argv, env={**env, **(guard.env() if guard else {})}, start_new_session=True,
            pass_fds=fds,
        )  # fmt: skip
        if guard is not None:
            guard.started()
        with _stops_as_interrupt():
            code, stopped, overrun = _wait(child, echo, kill_after_s, guard)
    finally:
        if guard is not None:
            guard.close()
    if run_dir is not None:
        note = mark_unfinished(run_dir, code, stopped=stopped, overrun=overrun)
        if note is not None:
            echo(f"runner: {note}")
            return int(ExitCode.INTERRUPTED if stopped else ExitCode.INVALID)
    if stopped and code <= 0:  # ended by the stop (or killed for ignoring it)
        return int(ExitCode.INTERRUPTED)
    if code < 0:  # killed by a signal
        return int(ExitCode.INTERRUPTED) if -code in (signal.SIGINT, signal.SIGTERM) else 3
    return code


def _death(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        cause = " (out of memory? the kernel's OOM killer sends SIGKILL)" if -code == 9 else ""
        return f"killed by {name}{cause}"
    return f"exited with code {code}"


def mark_unfinished(
    run_dir: Path, code: int, *, stopped: bool, overrun: str | None = None
) -> str | None:
    """Finish a manifest the runner left ``running``; returns what was recorded, or None when
    the runner finished its manifest itself (or never wrote one). ``overrun``: why the CLI
    killed a runner far past its planned end."""
    if not (run_dir / MANIFEST_NAME).exists():
        return None
    try:
        manifest = read_manifest(run_dir)
    except ResultsError:
        return None
    if manifest.get("status") != RunStatus.RUNNING.value:
        return None
    if stopped:
        status, fate = RunStatus.ABORTED, "killed"
        reason = (
            f"interrupted; the runner did not stop within {STOP_KILL_S:g} s and was killed: "
            "records after its last flush were lost"
        )
    elif overrun is not None:
        status, fate = RunStatus.FAILED, "killed"
        reason = f"{overrun}: killed; records after its last flush were lost"
    else:
        status, fate = RunStatus.FAILED, "crashed"
        reason = f"the runner process died: {_death(code)}; records after its last flush were lost"
    manifest.update(
        status=status.value,
        ended_at=utc_now_iso(),
        stop_reason=reason,
        records_complete=False,
        crashed={"exit_code": code, "cause": overrun or _death(code), "marked_by": "loadkit cli"},
    )
    manifest["workers"] = [_worker_fate(w, fate) for w in manifest.get("workers") or ()]
    write_manifest(run_dir, manifest)
    return reason


def _worker_fate(worker: Any, fate: str) -> Any:
    if isinstance(worker, dict) and worker.get("fate") in (None, "running", "joined", "ready"):
        return {**worker, "fate": fate}
    return worker


__all__ = ["mark_unfinished", "run_child"]
