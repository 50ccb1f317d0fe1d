"""Every threshold's live state for the live view, judged once a tick by the gate engine.

Each threshold the live evaluator can judge (request stats) gets a ``loadkit.gates.AbortWatch``
over the request rows of its ``over`` window (``DEFAULT_SPAN_S`` without one), fed with the rows
recorded since the last tick, exactly as the runner's ``abort after`` guard
(``loadkit.runner.guard``) does; a threshold with an ``abort after`` therefore shows the same
breach and countdown the guard acts on. Thresholds only the analyzer judges (arrival stats,
invariants, regressions) are listed as ``after_run``. Imports pandas (only with ``--live``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import pandas as pd

from loadkit.errors import InputError
from loadkit.gates import AbortWatch, NotLive, format_value, parse_threshold
from loadkit.profiles import Phase
from loadkit.runner.guard import DEFAULT_SPAN_S
from loadkit.runner.live_board import GateReading

BASE_COLUMNS = ("outcome", "response_ms", "service_ms")


class LiveGates:
    """The live state of ``texts`` (threshold expressions), one ``update`` per tick."""

    def __init__(
        self, texts: Sequence[str], *, phases: Sequence[Phase], onsale_offset_s: float
    ) -> None:
        self.watches: list[tuple[AbortWatch, float]] = []  # (watch, span_s)
        self.after_run: list[GateReading] = []
        for text in texts:
            th = parse_threshold(text)
            try:
                watch = AbortWatch(th, phases=phases, onsale_offset_s=onsale_offset_s)
            except (NotLive, InputError) as exc:
                self.after_run.append(GateReading(text, "after_run", note=_short(str(exc))))
                continue
            self.watches.append((watch, th.over_s if th.over_s is not None else DEFAULT_SPAN_S))
        keys = [key for w, _ in self.watches for key, _ in w.threshold.selector]
        self.columns = tuple(dict.fromkeys((*BASE_COLUMNS, *keys)))
        self.span_s = max((s for _, s in self.watches), default=DEFAULT_SPAN_S)
        self._frames: deque[tuple[float, pd.DataFrame]] = deque()

    @property
    def active(self) -> bool:
        return bool(self.watches)

    def update(self, now_s: float, rows: pd.DataFrame) -> tuple[GateReading, ...]:
        """Add the rows recorded since the last tick (``self.columns``), judge every watch at
        ``now_s`` (seconds after t0), and return every threshold's reading in input order."""
        self._frames.append((now_s, rows))
        while self._frames and self._frames[0][0] <= now_s - self.span_s:
            self._frames.popleft()
        out: list[GateReading] = []
        by_span: dict[float, pd.DataFrame] = {}  # most thresholds share a span: one concat each
        for watch, span_s in self.watches:
            recent = by_span.get(span_s)
            if recent is None:
                frames = [f for t, f in self._frames if t > now_s - span_s and len(f)]
                recent = pd.concat(frames, ignore_index=True) if frames else rows.iloc[:0]
                by_span[span_s] = recent = _categorised(recent)
            tripped = watch.update(now_s, recent, span_s)
            out.append(_reading(watch, tripped, now_s))
        return (*out, *self.after_run)


def _reading(watch: AbortWatch, tripped: bool, now_s: float) -> GateReading:
    th, last = watch.threshold, watch.last
    assert last is not None  # update() sets it
    abort_after_s = th.abort_after_s if th.abort else None
    lo, hi = watch.range_s
    if not lo <= now_s < hi:
        state = "outside"
    elif last.breached is None:
        state = "no_data"
    elif not last.breached:
        state = "pass"
    elif abort_after_s is not None and tripped:
        state = "tripped"
    else:
        state = "breach"
    abort_in_s = None
    if state == "breach" and abort_after_s is not None:
        abort_in_s = max(0.0, abort_after_s - last.breached_for_s)
    value = None if last.value != last.value else round(last.value, 6)  # NaN: no value
    return GateReading(
        th.text,
        state,
        value=value,
        samples=last.samples,
        abort_after_s=abort_after_s,
        abort_in_s=abort_in_s,
        shown=format_value(th.stat.kind, value),
    )


def _categorised(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categories: selectors then match a few categories, not every row
    (``loadkit.results.frames.selection_mask``), which keeps a tick to a few ms at 2,000/s."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.astype(dict.fromkeys(text, "category")) if text else frame


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["LiveGates"]
