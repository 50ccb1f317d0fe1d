"""The scheduler's one start timer: wakes the hub at an absolute monotonic time.

libev waits in ``epoll_wait``, whose timeout is in whole milliseconds rounded up, so a plain
gevent timer fires 0-1 ms after its time (~0.65 ms late at the median, measured). On Linux the
scheduler instead arms a ``timerfd`` (``timerfd_create(2)``) on ``CLOCK_MONOTONIC`` - the clock
of ``time.monotonic_ns`` - at the absolute start time and watches it like a socket: the kernel's
high-resolution timer makes it readable on time and ``epoll_wait`` returns at once (~0.1 ms
late at the median, measured; BENCHMARKS.md). Elsewhere, or if the call fails, a libev timer.

One timer for the whole run, re-armed per batch of due arrivals: arming is one system call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
_NS = 1_000_000_000


class StartTimer(Protocol):
    """Calls its callback (from the hub) once the monotonic clock reaches the armed time."""

    kind: str  # "timerfd" or "libev": recorded in the manifest

    def arm(self, deadline_mono_ns: int) -> None: ...

    def close(self) -> None: ...


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _TimerfdApi:
    """The two libc calls, bound once per process (None when unavailable)."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.create = libc.timerfd_create
        self.create.argtypes = [ctypes.c_int, ctypes.c_int]
        self.create.restype = ctypes.c_int
        self.settime = libc.timerfd_settime
        self.settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
        self.settime.restype = ctypes.c_int


def _timerfd_api() -> _TimerfdApi | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return _TimerfdApi(ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True))
    except (OSError, AttributeError):
        return None


class TimerfdTimer:
    """A ``timerfd`` armed at absolute times, watched by the gevent loop for readability."""

    kind = "timerfd"

    def __init__(self, loop: Any, callback: Callable[[], None], api: _TimerfdApi) -> None:
        fd = api.create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self._fd = fd
        self._api = api
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._callback = callback
        self._watcher = loop.io(fd, 1)  # 1 = READ
        self._watcher.start(self._on_ready)

    def arm(self, deadline_mono_ns: int) -> None:
        # a time already past (or 0, which would disarm) fires at once: 1 ns is long past
        sec, nsec = divmod(max(1, deadline_mono_ns), _NS)
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = sec, nsec
        if self._api.settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def _on_ready(self) -> None:
        try:
            os.read(self._fd, 8)  # the expiry count: drains readiness
        except BlockingIOError:  # re-armed after it became readable: not due yet
            return
        self._callback()

    def close(self) -> None:
        if self._fd < 0:
            return
        self._watcher.stop()
        self._watcher.close()
        os.close(self._fd)
        self._fd = -1


class LibevTimer:
    """The portable fallback: a libev timer (fires on the loop's ~1 ms grid)."""

    kind = "libev"

    def __init__(self, loop: Any, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._timer: Any = None

    def arm(self, deadline_mono_ns: int) -> None:
        self._stop()
        self._loop.update_now()  # libev counts from the loop's cached clock: make it current
        wait_ns = deadline_mono_ns - time.monotonic_ns()
        self._timer = self._loop.timer(max(0.0, wait_ns / 1e9))
        self._timer.start(self._fire)

    def _fire(self) -> None:
        self._stop()
        self._callback()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    def close(self) -> None:
        self._stop()


_API = _timerfd_api()


def start_timer(loop: Any, callback: Callable[[], None], *, precise: bool = True) -> StartTimer:
    """The most precise start timer this platform offers (``precise=False``: libev's)."""
    if precise and _API is not None:
        try:
            return TimerfdTimer(loop, callback, _API)
        except OSError:  # e.g. a seccomp sandbox that refuses timerfd
            pass
    return LibevTimer(loop, callback)


__all__ = ["LibevTimer", "StartTimer", "TimerfdTimer", "start_timer"]
