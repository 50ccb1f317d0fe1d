"""Live ``abort after D`` thresholds: recent request rows, judged about once a second.

The hot path is untouched: visitors append request rows to the ``Recorder`` as always. Once a
tick the guard picks up the rows appended since its last look (and, through a recorder tap, the
rows a flush took before it looked), turns only those into a small DataFrame of the columns the
watched thresholds use, and keeps one frame per tick for the longest span any threshold needs.
Each threshold is then judged by ``loadkit.gates.AbortWatch`` (the gate engine the analyzer
uses too) over the frames of its own span: the threshold's ``over`` window, else
``DEFAULT_SPAN_S``. The per-tick work is incremental: each row is turned into a frame once. Rows count in the tick in which
they were recorded (when the request ended), which is what "recently" means for protecting a
target.

This module imports pandas; the session imports it only when a threshold has an abort action.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import pandas as pd

from loadkit.gates import AbortWatch, NotLive, Threshold, parse_threshold
from loadkit.profiles import Phase
from loadkit.results.schema import REQUEST_SCHEMA
from loadkit.runner.recorder import Recorder, Row

LIVE_TICK_S = 1.0
DEFAULT_SPAN_S = 10.0  # the live window of a threshold without ``over``
_INDEX = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}
_ALWAYS = ("outcome", "response_ms", "service_ms")


def has_abort_action(texts: Iterable[str]) -> bool:
    """A cheap pre-check (no parsing) so runs without abort thresholds never import pandas."""
    return any("abort" in t for t in texts)


class RecentRequests:
    """The request rows recorded during the last ``span_s`` seconds, one frame per ``collect``.

    ``collect`` must be called from the recorder's thread (the gevent loop): it reads the
    recorder's live list without copying the rows it already saw.
    """

    def __init__(self, recorder: Recorder, span_s: float, columns: Sequence[str]) -> None:
        self.span_s = span_s
        self.columns = tuple(dict.fromkeys((*_ALWAYS, *columns)))
        self._recorder = recorder
        self._watched: list[Row] | None = None  # the recorder list we looked at last
        self._seen = 0  # rows of ``_watched`` already collected
        self._taken: list[list[Row]] = []  # unseen rows a flush took before we looked
        self._frames: deque[tuple[float, pd.DataFrame]] = deque()
        recorder.taps.append(self._on_take)

    def _on_take(self, rows: list[Row]) -> None:
        start = self._seen if rows is self._watched else 0
        if start < len(rows):
            self._taken.append(rows[start:])
        self._watched, self._seen = None, 0

    def collect(self, now_s: float) -> int:
        """Add the rows recorded since the last call as the frame of tick ``now_s``; drop frames
        older than ``span_s``. Returns how many rows were added."""
        chunks, self._taken = self._taken, []
        current = self._recorder.requests
        if current is not self._watched:
            self._watched, self._seen = current, 0
        chunks.append(current[self._seen :])
        self._seen = len(current)
        rows = [row for chunk in chunks for row in chunk]
        self._frames.append((now_s, self._frame(rows)))
        while self._frames and self._frames[0][0] <= now_s - self.span_s:
            self._frames.popleft()
        return len(rows)

    def _frame(self, rows: Sequence[Row]) -> pd.DataFrame:
        return pd.DataFrame({c: [row[_INDEX[c]] for row in rows] for c in self.columns})

    def recent(self, now_s: float, span_s: float) -> pd.DataFrame:
        """The rows of the ticks in ``(now_s - span_s, now_s]``."""
        frames = [f for t, f in self._frames if t > now_s - span_s]
        if not frames:
            return self._frame(())
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def __len__(self) -> int:
        return sum(len(f) for _, f in self._frames)


class ThresholdGuard:
    """Watches every threshold with an ``abort`` action; ``check`` says which one tripped.

    Thresholds the live evaluator cannot judge (arrival stats, invariants, regressions) are
    listed in ``skipped`` as ``(text, why)``; the analyzer still judges them after the run.
    A threshold that does not parse, or names a phase the run does not have, raises
    ``InputError`` (exit 2, before any load).
    """

    tick_s = LIVE_TICK_S

    def __init__(
        self,
        texts: Iterable[str],
        recorder: Recorder,
        *,
        phases: Sequence[Phase] = (),
        onsale_offset_s: float = 0.0,
    ) -> None:
        self.watches: list[tuple[AbortWatch, float]] = []  # (watch, span_s)
        self.skipped: list[tuple[str, str]] = []
        for th in (parse_threshold(t) for t in texts):
            if not th.abort:
                continue
            try:
                watch = AbortWatch(th, phases=phases, onsale_offset_s=onsale_offset_s)
            except NotLive as exc:
                self.skipped.append((th.text, str(exc)))
                continue
            self.watches.append((watch, _span_s(th)))
        columns = [key for w, _ in self.watches for key, _ in w.threshold.selector]
        longest_s = max((span for _, span in self.watches), default=DEFAULT_SPAN_S)
        self.recent = RecentRequests(recorder, longest_s, columns)

    @property
    def active(self) -> bool:
        return bool(self.watches)

    def check(self, now_s: float) -> str | None:
        """One tick at ``now_s`` (seconds after t0): the text of a threshold whose breach has
        lasted its ``abort after``, or None."""
        self.recent.collect(now_s)
        for watch, span_s in self.watches:
            if watch.update(now_s, self.recent.recent(now_s, span_s), span_s):
                return watch.threshold.text
        return None


def _span_s(th: Threshold) -> float:
    return th.over_s if th.over_s is not None else DEFAULT_SPAN_S


__all__ = [
    "DEFAULT_SPAN_S",
    "LIVE_TICK_S",
    "RecentRequests",
    "ThresholdGuard",
    "has_abort_action",
]
