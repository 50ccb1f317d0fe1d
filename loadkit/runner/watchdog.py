"""The run guarantees inside the runner: a real OS thread that forces the end of a wedged run.

A stop (Ctrl-C, SIGTERM) normally takes effect in the gevent loop: visitors are killed, records
flushed, the manifest written. A visitor greenlet stuck in CPU-bound work (a pathological
expression, a huge body) never yields, so the loop never gets there. This thread is outside
the loop: once a stop is requested it waits ``grace_s``; if the run has not ended by then and
the loop has not ticked for ``wedged_s`` (or ``limit_s`` passed in any case), it calls
``force(reason, overrun=False)`` (flush what was recorded, manifest ``aborted``, exit 130).

Nobody has to ask: a run whose loop is still stalled ``overrun_grace_s`` after its planned end
(t0 + profile + drain, given to ``start``) is ended the same way, ``force(reason,
overrun=True)`` (manifest ``failed``, exit 3): a CI job with no Ctrl-C never hangs. While the
loop is stalled mid-run for ``STALL_SAY_S`` it says so once, naming what the main thread runs.

It needs the GIL to run: a single C call that holds the GIL for seconds (a huge integer
multiplication) keeps it out too. The CLI, which waits for the runner, covers that case
(``loadkit.runner.child``): this thread writes a heartbeat byte to ``heartbeat_fd`` every
``WATCH_S``, and the CLI kills a runner far past its planned end whose heartbeat stopped.
Its locks and thread are the unpatched ``_thread`` ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from gevent import monkey

from loadkit.runner.defaults import OVERRUN_GRACE_S, STOP_GRACE_S
from loadkit.runner.stall import main_thread_doing

_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")
_get_ident = monkey.get_original("_thread", "get_ident")
TICK_S = 0.1  # the loop's heartbeat
WEDGED_S = 0.5  # no heartbeat this long: the loop is not running
LIMIT_S = 3.5  # force the end this long after the stop even if the loop seems alive
WATCH_S = 0.5  # how often the thread looks (and writes its heartbeat) before a stop
STALL_SAY_S = 3.0  # a loop stalled this long mid-run is reported (once per stall)
OVERRUN_STALL_S = 2.0  # past the planned end, a stall this long means wedged (not a slow end)


Force = Callable[[str, bool], None]  # (reason, overrun)


class StopWatchdog:
    """``request(reason)`` (safe from a signal handler) arms the stop path; ``done()`` disarms
    everything. ``ended()`` tells it the load is over (the main thread compacts or writes the
    manifest, which may block the loop but sends nothing): no stall report or overrun then."""

    def __init__(
        self,
        force: Force,
        *,
        grace_s: float = STOP_GRACE_S,
        limit_s: float = LIMIT_S,
        overrun_grace_s: float = OVERRUN_GRACE_S,
        say: Callable[[str], None] = lambda line: None,
        ended: Callable[[], bool] = lambda: False,
        heartbeat_fd: int | None = None,
    ) -> None:
        self.force = force
        self.grace_s = grace_s
        self.limit_s = max(limit_s, grace_s)
        self.overrun_grace_s = overrun_grace_s
        self.say = say
        self.ended = ended
        self.heartbeat_fd = heartbeat_fd
        self.reason = ""
        self.last_tick_s = time.monotonic()
        self.planned_end_s: float | None = None  # monotonic seconds
        self._main_thread = 0
        self._said_stall = False
        self._requested = _allocate_lock()
        self._requested.acquire()
        self._done = _allocate_lock()
        self._done.acquire()
        self._armed = False
        self._timer: Any = None

    def start(self, loop: Any, *, planned_end_s: float | None = None) -> None:
        """Start the heartbeat on the gevent ``loop`` and the watching thread; with
        ``planned_end_s`` (monotonic seconds: t0 + profile + drain) the overrun guard too."""
        self.planned_end_s = planned_end_s
        self._main_thread = _get_ident()
        if self.heartbeat_fd is not None:
            os.set_blocking(self.heartbeat_fd, False)
        self._timer = loop.timer(TICK_S, TICK_S)
        self._timer.start(self._tick)
        _start_thread(self._watch, ())

    def _tick(self) -> None:
        self.last_tick_s = time.monotonic()

    def request(self, reason: str) -> None:
        """A stop was asked for: from now the run has ``grace_s`` to end on its own."""
        if not self._armed:
            self._armed = True
            self.reason = reason
            self._requested.release()

    def done(self) -> None:
        """The run ended (its manifest is written): nothing to force."""
        if self._timer is not None:
            self._timer.close()
        if self._done.locked():
            self._done.release()

    def _watch(self) -> None:
        while not self._requested.acquire(timeout=WATCH_S):
            if not self._done.locked():
                return
            self._beat()
            overrun = None if self.ended() else self._look()
            if overrun is not None and self._done.locked():
                self.force(overrun, True)  # returns only when the load ended meanwhile
        self._on_stop()

    def _on_stop(self) -> None:
        asked_s = time.monotonic()
        if self._done.acquire(timeout=self.grace_s):
            return
        while time.monotonic() - asked_s < self.limit_s:
            self._beat()
            if time.monotonic() - self.last_tick_s > WEDGED_S:
                break  # the loop is stuck: waiting longer cannot help
            if self._done.acquire(timeout=TICK_S):
                return
        if not self._done.locked():
            return
        self.force(self.reason, False)

    def _look(self) -> str | None:
        """Report a stall once; past the planned end, a stall is why the run must be forced
        to end (returned), else None."""
        now_s = time.monotonic()
        stalled_s = now_s - self.last_tick_s
        if stalled_s < STALL_SAY_S:
            self._said_stall = False
        elif not self._said_stall:
            self._said_stall = True
            self.say(
                f"the event loop has not run for {stalled_s:.0f} s, so every visitor waits "
                f"and records are not flushed: the main thread is {self._doing()}"
            )
        end_s = self.planned_end_s
        if end_s is None or now_s < end_s + self.overrun_grace_s or stalled_s < OVERRUN_STALL_S:
            return None
        return (
            f"the run did not end by itself: {now_s - end_s:.0f} s after its planned end "
            f"(profile + drain) its event loop had been stalled for {stalled_s:.1f} s, the main "
            f"thread {self._doing()}"
        )

    def _doing(self) -> str:
        return main_thread_doing(self._main_thread) or "gone"

    def _beat(self) -> None:
        if self.heartbeat_fd is None:
            return
        with suppress(OSError):  # the CLI is gone, or not reading (a full pipe): no one to tell
            os.write(self.heartbeat_fd, b".")


__all__ = ["LIMIT_S", "StopWatchdog"]
