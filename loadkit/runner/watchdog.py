"""The stop guarantee inside the runner: a real OS thread that forces the end of a wedged run.

A stop (Ctrl-C, SIGTERM) normally takes effect in the gevent loop: visitors are killed, records
flushed, the manifest written. A visitor greenlet stuck in CPU-bound work (a pathological
expression, a huge body) never yields, so the loop never gets there. This thread is outside
the loop: once a stop is requested it waits ``grace_s``; if the run has not ended by then and
the loop has not ticked for ``wedged_s`` (or ``limit_s`` passed in any case), it calls
``force`` (flush what was recorded, manifest ``aborted``, ``os._exit(130)``).

It needs the GIL to run: a single C call that holds the GIL for seconds (a huge integer
multiplication) keeps it out too. The CLI, which waits for the runner, covers that case
(``loadkit.runner.child``). Its locks and thread are the unpatched ``_thread`` ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gevent import monkey

from loadkit.runner.defaults import STOP_GRACE_S

_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")
TICK_S = 0.1  # the loop's heartbeat
WEDGED_S = 0.5  # no heartbeat this long: the loop is not running
LIMIT_S = 3.5  # force the end this long after the stop even if the loop seems alive


class StopWatchdog:
    """``request(reason)`` (safe from a signal handler) arms it; ``done()`` disarms it."""

    def __init__(
        self,
        force: Callable[[str], None],
        *,
        grace_s: float = STOP_GRACE_S,
        limit_s: float = LIMIT_S,
    ) -> None:
        self.force = force
        self.grace_s = grace_s
        self.limit_s = max(limit_s, grace_s)
        self.reason = ""
        self.last_tick_s = time.monotonic()
        self._requested = _allocate_lock()
        self._requested.acquire()
        self._done = _allocate_lock()
        self._done.acquire()
        self._armed = False
        self._timer: Any = None

    def start(self, loop: Any) -> None:
        """Start the heartbeat on the gevent ``loop`` and the watching thread."""
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
        self._requested.acquire()
        asked_s = time.monotonic()
        if self._done.acquire(timeout=self.grace_s):
            return
        while time.monotonic() - asked_s < self.limit_s:
            if time.monotonic() - self.last_tick_s > WEDGED_S:
                break  # the loop is stuck: waiting longer cannot help
            if self._done.acquire(timeout=TICK_S):
                return
        if not self._done.locked():
            return
        self.force(self.reason)


__all__ = ["LIMIT_S", "StopWatchdog"]
