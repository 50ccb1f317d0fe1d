"""What a stalled runner's main thread is doing, for the line the watchdog prints.

Called from the watchdog's own OS thread while the gevent loop (the main thread) does not
tick: the main thread's current frame is the greenlet that holds the loop, usually a visitor
in a journey step. No gevent here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType

_PACKAGE = str(Path(__file__).resolve().parents[1])  # .../loadkit
_MAX_FRAMES = 200


def main_thread_doing(thread_id: int) -> str:
    """``in step 'checkout', at loadkit/runner/journey/checks.py:97 (_holds)``: the visitor
    step (when a frame of the journey interpreter shows it) and the innermost frame, or
    ``""`` when the thread is gone."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return ""
    where = f"at {_short(frame.f_code.co_filename)}:{frame.f_lineno} ({frame.f_code.co_name})"
    step = _step_of(frame)
    return f"in step {step!r}, {where}" if step else where


def _step_of(frame: FrameType | None) -> str | None:
    """The journey step a frame runs: the ``sname`` a compiled request step closes over, or
    the ``step`` of the journey context ``c`` (``loadkit.runner.journey``)."""
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        if frame.f_code.co_filename.startswith(_PACKAGE):
            names = frame.f_code.co_freevars + frame.f_code.co_varnames
            if "sname" in names or "c" in names:
                step = _local(frame, "sname") or getattr(_local(frame, "c"), "step", None)
                if isinstance(step, str) and step:
                    return step
        frame = frame.f_back
    return None


def _local(frame: FrameType, name: str) -> object:
    try:
        return frame.f_locals.get(name)
    except Exception:  # a frame torn down under us: say less rather than fail
        return None


def _short(filename: str) -> str:
    root = str(Path(_PACKAGE).parent)
    return filename[len(root) + 1 :] if filename.startswith(root + "/") else filename


__all__ = ["main_thread_doing"]
