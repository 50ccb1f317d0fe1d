"""The CLI's guard against a runner that never ends: one wedged in a C call holding the GIL
(so its own watchdog, ``loadkit.runner.watchdog``, cannot run) long after its planned end.

The runner's watchdog thread writes a heartbeat byte to a pipe every half second; it needs
the GIL to do so. ``OverrunGuard`` owns the pipe on the CLI side and says when to kill: the
heartbeat was heard, then went silent for ``SILENT_S``, and the run is ``kill_after_s`` past
its planned end (t0 + profile + drain, from the manifest the runner wrote at its start).
A child that never beats (``try``, a master) is never killed for this. No gevent here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from loadkit.errors import ResultsError
from loadkit.results.writer import read_manifest
from loadkit.runner.defaults import OVERRUN_KILL_S

HEARTBEAT_ENV = "LOADKIT_HEARTBEAT_FD"  # the pipe's write end, in the runner's environment
SILENT_S = 5.0  # no heartbeat this long: the runner's threads cannot run
_MANIFEST_EVERY_S = 1.0


class OverrunGuard:
    """The read end of the heartbeat pipe, and the rule for killing (see the module doc)."""

    def __init__(self, run_dir: Path, *, kill_after_s: float = OVERRUN_KILL_S) -> None:
        self.run_dir = run_dir
        self.kill_after_s = kill_after_s
        self._read_fd, self.write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self.last_beat_s: float | None = None
        self._end_epoch_s: float | None = None
        self._next_manifest_s = 0.0

    def env(self) -> dict[str, str]:
        """What the child's environment needs (the fd goes in ``pass_fds``)."""
        return {HEARTBEAT_ENV: str(self.write_fd)}

    def started(self) -> None:
        """The child has its copy of the write end: close ours (so a dead child reads EOF)."""
        os.close(self.write_fd)

    def close(self) -> None:
        os.close(self._read_fd)

    def check(self) -> str | None:
        """Why the child must be killed now, or None."""
        self._drain()
        if self.last_beat_s is None:
            return None
        silent_s = time.monotonic() - self.last_beat_s
        end_s = self._planned_end_epoch_s() if silent_s >= SILENT_S else None
        if end_s is None or time.time() - end_s < self.kill_after_s:
            return None
        return (
            f"the runner was still going {time.time() - end_s:.0f} s after the run's planned "
            f"end (profile + drain) and had stopped answering for {silent_s:.0f} s (a C call "
            "holding the GIL, which its own watchdog cannot interrupt)"
        )

    def _drain(self) -> None:
        try:
            while os.read(self._read_fd, 4096):
                self.last_beat_s = time.monotonic()
        except BlockingIOError:  # nothing more to read now
            pass

    def _planned_end_epoch_s(self) -> float | None:
        if self._end_epoch_s is None and time.monotonic() >= self._next_manifest_s:
            self._next_manifest_s = time.monotonic() + _MANIFEST_EVERY_S
            self._end_epoch_s = planned_end_epoch_s(self.run_dir)
        return self._end_epoch_s


def planned_end_epoch_s(run_dir: Path) -> float | None:
    """t0 + profile + drain of the run in ``run_dir``, epoch seconds; None when its manifest
    does not say (not written yet, no duration)."""
    try:
        manifest = read_manifest(run_dir)
    except (ResultsError, OSError):
        return None
    t0_ns, duration_s = manifest.get("t0_ns"), manifest.get("duration_s")
    drain: Any = (manifest.get("settings") or {}).get("drain_s") or {}
    drain_s = drain.get("value", 0) if isinstance(drain, dict) else 0
    numbers = (t0_ns, duration_s, drain_s)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        return None
    return float(t0_ns) / 1e9 + float(duration_s) + float(drain_s)  # type: ignore[arg-type]


__all__ = ["HEARTBEAT_ENV", "SILENT_S", "OverrunGuard", "planned_end_epoch_s"]
