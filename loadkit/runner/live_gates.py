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
import pyarrow as pa

from loadkit.errors import InputError
from loadkit.gates import AbortWatch, NotLive, format_value, parse_threshold
from loadkit.profiles import Phase
from loadkit.results.schema import REQUEST_SCHEMA
from loadkit.runner.guard import DEFAULT_SPAN_S
from loadkit.runner.live_board import GateReading

BASE_COLUMNS = ("outcome", "response_ms", "service_ms")
_TYPES = {f.name: f.type for f in REQUEST_SCHEMA}


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
        self._categories: dict[str, list[str]] = {}  # text column -> categories, in order seen
        self._text_columns = [c for c in self.columns if pa.types.is_dictionary(_TYPES[c])]

    def _categorised(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Text columns as categories shared by every kept frame, so concatenating them stays
        categorical and selectors match a few categories, not every row
        (``loadkit.results.frames.selection_mask``). A new value (a step seen for the first
        time) widens the categories of the kept frames too; that is rare."""
        out = rows.copy()
        for col in self._text_columns:
            known = self._categories.setdefault(col, [])
            seen = pd.unique(out[col].to_numpy(dtype=object))
            new = sorted({v for v in seen if isinstance(v, str)} - set(known))
            if new:
                known.extend(new)
                for _, frame in self._frames:
                    frame[col] = pd.Categorical(frame[col], categories=known)
            out[col] = pd.Categorical(out[col], categories=known)
        return out

    @property
    def active(self) -> bool:
        return bool(self.watches)

    def update(self, now_s: float, rows: pd.DataFrame) -> tuple[GateReading, ...]:
        """Add the rows recorded since the last tick (``self.columns``), judge every watch at
        ``now_s`` (seconds after t0), and return every threshold's reading in input order."""
        self._frames.append((now_s, self._categorised(rows)))
        while self._frames and self._frames[0][0] <= now_s - self.span_s:
            self._frames.popleft()
        out: list[GateReading] = []
        by_span: dict[float, pd.DataFrame] = {}  # most thresholds share a span: one concat each
        for watch, span_s in self.watches:
            recent = by_span.get(span_s)
            if recent is None:
                frames = [f for t, f in self._frames if t > now_s - span_s]
                by_span[span_s] = recent = pd.concat(frames, ignore_index=True)
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


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["LiveGates"]
