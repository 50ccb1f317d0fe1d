"""Evaluate parsed thresholds on the records: whole-run values and tumbling windows.

Rows are chosen by the selector and by time (``during PHASE`` or ``from .. to ..``, on the
intended start of requests or the scheduled start of arrivals). Windows are tumbling, aligned
to t0, ``over`` wide (1 s by default); every window's value is computed from its own records in
one vectorised pass (group codes + sort), never from narrower windows.

Rules: a window with fewer samples than ``min N samples`` (default ``DEFAULT_MIN_SAMPLES`` for
latency and ratio stats) is *no data*: neither passes nor fails. ``for D`` fails when breached
windows follow each other for at least D seconds (no-data windows neither extend nor break a
run); ``in P% of windows`` fails when fewer than P% of the windows with data pass; windows
without either rule fail on any breached window. A gate whose every window is no data is
reported *no data*.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loadkit.analysis.model import BreachSpan, GateKind, GateResult, GateStatus
from loadkit.errors import InputError
from loadkit.results.frames import (
    Ranked,
    grouped_quantiles,
    ranked_quantiles,
    selection_mask,
    window_index,
)
from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.scenario.thresholds import LATENCY_KINDS, Comparison, StatKind, Threshold
from loadkit.units import format_ms, format_percent, format_rate

DEFAULT_MIN_SAMPLES = 5
_SAMPLED_KINDS = (*LATENCY_KINDS, StatKind.ERROR_RATE, StatKind.DROP_RATE)
_ARRIVAL_OUTCOMES = {o.value for o in ArrivalOutcome} - {o.value for o in Outcome}


@dataclass(frozen=True)
class Records:
    """The frames and run facts a gate is evaluated on (times in seconds after t0)."""

    requests: pd.DataFrame  # needs t_s, outcome, response_ms, service_ms and selector columns
    arrivals: pd.DataFrame  # needs t_s, outcome, lateness_ms, persona, worker
    phases: tuple[tuple[str, float, float], ...]
    onsale_offset_s: float
    duration_s: float
    ranks: dict[str, Ranked] = field(default_factory=dict, compare=False)

    def ranked(self, column: str) -> Ranked:
        """The request column sorted once (frames keep their RangeIndex: labels = positions)."""
        if column not in self.ranks:
            self.ranks[column] = Ranked.of(self.requests[column].to_numpy(dtype=float))
        return self.ranks[column]


def format_value(kind: StatKind, value: float | None, *, relative: bool = False) -> str:
    """Human form of a value in the stat's canonical unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if relative or kind in (StatKind.ERROR_RATE, StatKind.DROP_RATE):
        return format_percent(value)
    if kind in LATENCY_KINDS:
        return format_ms(value)
    if kind is StatKind.RATE:
        return format_rate(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def _on_arrivals(th: Threshold) -> bool:
    kind = th.stat.kind
    if kind in (StatKind.LATENESS, StatKind.DROPS, StatKind.DROP_RATE):
        return True
    return kind is StatKind.RATE and th.select("outcome") in _ARRIVAL_OUTCOMES


def check_names(th: Threshold, records: Records) -> None:
    """Raise ``InputError`` (with the threshold's location) for a step/name/persona/phase that
    the records do not have, listing the ones that exist."""
    frame = records.arrivals if _on_arrivals(th) else records.requests
    for key, value in th.selector:
        if key not in ("step", "name", "persona", "method") or any(c in value for c in "*?["):
            continue
        if key not in frame.columns:
            continue
        known = sorted({str(v) for v in frame[key].dropna().unique()})
        if value not in known:
            raise InputError(
                f"threshold '{th.text}' names {key} '{value}', which this run does not have.",
                location=th.location,
                hint=f"{key}s in the records: {', '.join(known) or 'none'}.",
            )
    if th.phase is not None and th.phase not in {p[0] for p in records.phases}:
        names = ", ".join(p[0] for p in records.phases) or "none (the manifest lists no phases)"
        raise InputError(
            f"threshold '{th.text}' names phase '{th.phase}', which is not a phase of this run.",
            location=th.location,
            hint=f"Phases: {names}.",
        )


def time_range(th: Threshold, records: Records, t_s: np.ndarray) -> tuple[float, float]:
    """``[lo, hi)`` in seconds after t0 that the threshold looks at."""
    if th.phase is not None:
        span = next(p for p in records.phases if p[0] == th.phase)
        return span[1], span[2]
    lo = float(min(0.0, t_s.min())) if t_s.size else 0.0
    hi = float(t_s.max()) + 1e-9 if t_s.size else records.duration_s
    if th.start is not None:
        lo = th.start.resolve_s(records.onsale_offset_s)
    if th.end is not None:
        hi = th.end.resolve_s(records.onsale_offset_s)
    return lo, hi


def per_group(
    th: Threshold,
    frame: pd.DataFrame,
    codes: np.ndarray,
    n: int,
    width_s: float,
    ranked: Ranked | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The stat per group code: ``(values, samples)``, each of length ``n``. ``ranked`` is the
    time column of the unfiltered frame, sorted once; ``frame.index`` must be positions in it."""
    kind, stat = th.stat.kind, th.stat
    base = selection_mask(frame, th.selector, ignore=("outcome",))
    wanted = th.select("outcome")
    outcome_hit = selection_mask(frame, [("outcome", wanted)]) if wanted else None
    if kind in LATENCY_KINDS:
        if kind is StatKind.LATENESS:
            chosen = base & frame["lateness_ms"].notna().to_numpy()
        else:
            ok = (frame["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
            chosen = base & (outcome_hit if outcome_hit is not None else ok)
        column = {"response": "response_ms", "service": "service_ms"}.get(kind, "lateness_ms")
        chosen_codes = codes[chosen]
        counts = np.bincount(chosen_codes, minlength=n)
        qs = [stat.q if stat.q is not None else 50.0]
        if ranked is not None and kind is not StatKind.LATENESS and not stat.is_mean:
            whole = isinstance(frame.index, pd.RangeIndex) and len(frame) == ranked.rank.size
            ranks = ranked.rank[chosen] if whole else ranked.rank[frame.index.to_numpy()[chosen]]
            return ranked_quantiles(chosen_codes, ranks, ranked, n, qs)[:, 0], counts
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)[chosen]
        if stat.is_mean:
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.bincount(chosen_codes, weights=values, minlength=n) / counts, counts
        q = grouped_quantiles(chosen_codes, values, n, qs)
        return q[:, 0], counts
    if kind in (StatKind.ERROR_RATE, StatKind.DROP_RATE):
        if kind is StatKind.DROP_RATE:
            bad = (frame["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
        else:
            ok = (frame["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
            bad = outcome_hit if outcome_hit is not None else ~ok
        total = np.bincount(codes[base], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(codes[base & bad], minlength=n) / total, total
    if kind is StatKind.DROPS:
        hit = base & (frame["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool)
    else:
        hit = base & (outcome_hit if outcome_hit is not None else True)
    counts = np.bincount(codes[hit], minlength=n)
    values = counts / width_s if kind is StatKind.RATE else counts.astype(float)
    return values, counts


def _worst(th: Threshold, values: np.ndarray) -> float:
    if values.size == 0:
        return float("nan")
    if th.op in (Comparison.GT, Comparison.GE):
        return float(np.nanmin(values))
    return float(np.nanmax(values))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index runs where ``flags`` is true."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _status(th: Threshold, failed: bool) -> GateStatus:
    if not failed:
        return GateStatus.PASSED
    return GateStatus.WARN if th.warn else GateStatus.FAILED


def _counts_drops(th: Threshold) -> bool:
    """A visitor-level error rate: dropped arrivals count as failed requests (DESIGN.md §3)."""
    request_only = {"step", "name", "method", "status", "outcome"}
    return th.stat.kind is StatKind.ERROR_RATE and not request_only & set(dict(th.selector))


def _measure(
    th: Threshold,
    records: Records,
    span: tuple[float, float],
    code_of: Callable[[np.ndarray], np.ndarray],
    n: int,
    width_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The stat per group over ``[lo, hi)``; ``code_of`` maps times to group codes."""
    lo, hi = span
    frame = records.arrivals if _on_arrivals(th) else records.requests
    t_s = frame["t_s"].to_numpy()
    inside = (t_s >= lo) & (t_s < hi)
    time_kinds = (StatKind.RESPONSE, StatKind.SERVICE)
    ranked = records.ranked(f"{th.stat.kind.value}_ms") if th.stat.kind in time_kinds else None
    # copy only the columns the stat reads, and only when the range leaves rows out
    wanted = ["outcome", "response_ms", "service_ms", "lateness_ms", *dict(th.selector)]
    frame = frame[[c for c in dict.fromkeys(wanted) if c in frame.columns]]
    if not inside.all():
        frame = frame.loc[inside]
    values, samples = per_group(th, frame, code_of(t_s[inside]), n, width_s, ranked)
    if _counts_drops(th):
        arr = records.arrivals
        a_s = arr["t_s"].to_numpy()
        dropped = (arr["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool) & (
            (a_s >= lo) & (a_s < hi) & selection_mask(arr, th.selector)
        )
        drops = np.bincount(code_of(a_s[dropped]), minlength=n)
        errors = np.nan_to_num(values * samples)
        samples = samples + drops
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (errors + drops) / samples
    return values, samples


def _no_data(th: Threshold, text: str, about: dict[str, Any]) -> GateResult:
    limit = f"{th.op.value} {th.value_text}"
    return GateResult(th.text, GateKind.THRESHOLD, GateStatus.NO_DATA, None, text, limit, **about)


def _aggregate(
    th: Threshold, records: Records, span: tuple[float, float], min_n: int, about: dict[str, Any]
) -> GateResult:
    lo, hi = span
    seconds = records.duration_s if th.phase is None and th.start is None else hi - lo
    values, samples = _measure(
        th, records, span, lambda t: np.zeros(len(t), np.int64), 1, max(seconds, 1e-9)
    )
    value, n = float(values[0]), int(samples[0])
    about = {**about, "samples": n}
    if n < min_n or math.isnan(value):
        return _no_data(th, f"no data ({n} samples, need {min_n})", about)
    return GateResult(
        th.text,
        GateKind.THRESHOLD,
        _status(th, not th.passes(value)),
        value,
        format_value(th.stat.kind, value),
        f"{th.op.value} {th.value_text}",
        **about,
    )


def _window_codes(t_s: np.ndarray, width_s: float, first: int) -> np.ndarray:
    """``floor(t_s / width_s) - first`` as int64, in place (millions of rows)."""
    codes = window_index(t_s, width_s)
    codes -= first
    return codes


def _windowed(
    th: Threshold, records: Records, span: tuple[float, float], min_n: int, about: dict[str, Any]
) -> GateResult:
    width = th.window_s
    first = math.floor(span[0] / width)
    n_w = max(math.ceil(span[1] / width) - 1, first) - first + 1
    values, samples = _measure(
        th, records, span, lambda t: _window_codes(t, width, first), n_w, width
    )
    has_data = (samples >= max(min_n, 1)) & ~np.isnan(values)
    breached = has_data & ~np.array([th.passes(v) for v in values.tolist()], dtype=bool)
    spans = [
        BreachSpan((first + a) * width, (first + b) * width, _worst(th, values[a:b]))
        for a, b in _runs(breached)
    ]
    n_data, n_breached = int(has_data.sum()), int(breached.sum())
    if th.for_s is not None:
        longest = max((b - a for a, b in _runs(breached[has_data])), default=0) * width
        failed, rule = longest >= th.for_s - 1e-9, f"longest breach {longest:g}s"
    elif th.in_windows is not None:
        share = (n_data - n_breached) / n_data if n_data else float("nan")
        failed, rule = share < th.in_windows, f"{format_percent(share)} of windows pass"
    else:
        failed, rule = n_breached > 0, f"{n_breached} of {n_data} windows breached"
    about = {
        **about,
        "samples": int(samples.sum()),
        "breaches": tuple(spans),
        "windows_total": n_w,
        "windows_no_data": n_w - n_data,
        "windows_breached": n_breached,
    }
    if n_data == 0:
        return _no_data(th, f"no data (no {width:g}s window has {max(min_n, 1)} samples)", about)
    worst = _worst(th, values[has_data])
    return GateResult(
        th.text,
        GateKind.THRESHOLD,
        _status(th, failed),
        worst,
        f"worst {format_value(th.stat.kind, worst)}; {rule}",
        f"{th.op.value} {th.value_text}",
        detail=f"{n_data} windows of {width:g}s with data, {n_w - n_data} without",
        **about,
    )


def evaluate_threshold(th: Threshold, records: Records) -> GateResult:
    """Evaluate one (non-invariant, non-regression) threshold. Raises ``InputError`` for names
    the records do not have."""
    check_names(th, records)
    frame = records.arrivals if _on_arrivals(th) else records.requests
    span = time_range(th, records, frame["t_s"].to_numpy())
    min_n = (th.min_samples or DEFAULT_MIN_SAMPLES) if th.stat.kind in _SAMPLED_KINDS else 0
    about: dict[str, Any] = {
        "location": str(th.location) if th.location else None,
        "stat": th.stat.label,
        "stat_kind": th.stat.kind.value,
        "limit": th.value,
        "selector": th.selector,
        "window_s": th.window_s if th.windowed else None,
    }
    if th.windowed:
        return _windowed(th, records, span, min_n, about)
    return _aggregate(th, records, span, min_n, about)


__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "Records",
    "check_names",
    "evaluate_threshold",
    "format_value",
    "per_group",
    "time_range",
]
