"""Judge a parsed threshold on a run's records (offline): whole-range values and windows.

Rows are chosen by the selector and by time (the gate's range, see ``loadkit.gates.rules``,
on the intended start of requests or the scheduled start of arrivals). A gate with nothing to
judge is *no data* and says why: a selected step/name/persona/method that no record has, a
range the run did not cover, or fewer samples than its floor.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loadkit.errors import did_you_mean
from loadkit.gates.language import GLOB_CHARS
from loadkit.gates.model import LATENCY_KINDS, StatKind, Threshold
from loadkit.gates.result import BreachSpan, GateKind, GateResult, GateStatus, format_value
from loadkit.gates.rules import (
    clip,
    min_samples,
    named_range,
    not_run_reason,
    on_arrivals,
    range_text,
)
from loadkit.gates.windows import Tiling, judge_windows, per_group, runs, worst
from loadkit.profiles import Phase
from loadkit.results.frames import Ranked, selection_mask
from loadkit.results.schema import ArrivalOutcome

NAMED_KEYS = ("step", "name", "persona", "method")  # a value no record has means "no data"


@dataclass(frozen=True)
class Records:
    """The frames and run facts a gate is evaluated on (times in seconds after t0).

    ``requests`` needs t_s, outcome, response_ms, service_ms and the selected columns;
    ``arrivals`` needs t_s, outcome, lateness_ms, persona, worker. ``phases`` are in seconds
    after t0. Frames keep their RangeIndex (labels = positions).
    """

    requests: pd.DataFrame
    arrivals: pd.DataFrame
    phases: tuple[Phase, ...]
    onsale_offset_s: float
    duration_s: float
    t0_ns: int = 0  # epoch ns of t0: what ``t_s`` counts from
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def by_intent(self) -> Records:
        """These records with one request row per intent (``loadkit.results.intents``): the
        attempts of a retried request folded into one, timed from the first attempt's
        intended start to the final answer. Needs every request column (``intent_ns`` …)."""
        if "by_intent" not in self.cache:
            from loadkit.results.intents import intents

            folded = intents(self.requests, self.t0_ns)
            self.cache["by_intent"] = Records(
                folded, self.arrivals, self.phases, self.onsale_offset_s, self.duration_s,
                self.t0_ns,
            )  # fmt: skip
        by_intent: Records = self.cache["by_intent"]
        return by_intent

    def ranked(self, column: str) -> Ranked:
        """The request column sorted once."""
        key = f"ranked:{column}"
        if key not in self.cache:
            self.cache[key] = Ranked.of(self.requests[column].to_numpy(dtype=float))
        ranked: Ranked = self.cache[key]
        return ranked

    def covered_s(self) -> tuple[float, float] | None:
        """``(first intended start, last end)`` over requests and arrivals, seconds after t0
        (a request ends at its intended start plus its response time); None when empty."""
        if "covered" not in self.cache:
            self.cache["covered"] = covered_span(self.requests, self.arrivals)
        span: tuple[float, float] | None = self.cache["covered"]
        return span


def covered_span(requests: pd.DataFrame, arrivals: pd.DataFrame) -> tuple[float, float] | None:
    """See ``Records.covered_s``. The end is always just after the last start, so a range
    ``[first, last)`` holds every record."""
    starts: list[float] = []
    ends: list[float] = []
    for frame in (requests, arrivals):
        if len(frame):
            t_s = frame["t_s"].to_numpy(dtype=float)
            starts.append(float(t_s.min()))
            ends.append(float(np.nextafter(t_s.max(), np.inf)))
    if not starts:
        return None
    if len(requests) and "response_ms" in requests.columns:
        response_s = requests["response_ms"].to_numpy(dtype=float, na_value=np.nan) / 1000.0
        response_s += requests["t_s"].to_numpy(dtype=float)
        if not np.isnan(response_s).all():
            ends.append(float(np.nanmax(response_s)))
    return min(starts), max(ends)


def missing_name(th: Threshold, frame: pd.DataFrame) -> str | None:
    """Why ``th`` has no data when it selects a step/name/persona/method no record has."""
    for key, value in th.selector:
        if key not in NAMED_KEYS or key not in frame.columns:
            continue
        col = frame[key]
        if isinstance(col.dtype, pd.CategoricalDtype):  # categories with at least one row
            codes = col.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(col.cat.categories)) > 0
            present = {str(c) for c, u in zip(col.cat.categories, used, strict=True) if u}
        else:
            present = {str(v) for v in col.dropna().unique()}
        if any(fnmatch.fnmatchcase(name, value) for name in present):
            continue
        listed = ", ".join(sorted(present)) or "none"
        if any(c in value for c in GLOB_CHARS):
            return f"{key} '{value}' matches no recorded {key} ({key}s recorded: {listed})"
        hint = did_you_mean(value, sorted(present))
        return f"no record has {key} '{value}' ({key}s recorded: {listed}).{hint}".rstrip(".")
    return None


def _counts_drops(th: Threshold) -> bool:
    """A visitor-level error rate: dropped arrivals count as failed requests (DESIGN.md §3)."""
    request_only = {"step", "name", "method", "status", "outcome"}
    return th.stat.kind is StatKind.ERROR_RATE and not request_only & set(dict(th.selector))


def _measure(
    th: Threshold,
    records: Records,
    span: tuple[float, float],
    code_of: Callable[[np.ndarray], np.ndarray],
    seconds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The stat per group over ``[lo, hi)``; ``code_of`` maps times to group codes."""
    lo, hi = span
    frame = records.arrivals if on_arrivals(th) else records.requests
    t_s = frame["t_s"].to_numpy()
    inside = (t_s >= lo) & (t_s < hi)
    time_kinds = (StatKind.RESPONSE, StatKind.SERVICE)
    ranked = records.ranked(f"{th.stat.kind.value}_ms") if th.stat.kind in time_kinds else None
    # copy only the columns the stat reads, and only when the range leaves rows out
    wanted = ["outcome", "response_ms", "service_ms", "lateness_ms", *dict(th.selector)]
    frame = frame[[c for c in dict.fromkeys(wanted) if c in frame.columns]]
    if not inside.all():
        frame = frame.loc[inside]
    values, samples = per_group(th, frame, code_of(t_s[inside]), seconds, ranked)
    if _counts_drops(th):
        arr = records.arrivals
        a_s = arr["t_s"].to_numpy()
        dropped = (arr["outcome"] == ArrivalOutcome.DROPPED.value).to_numpy(dtype=bool) & (
            (a_s >= lo) & (a_s < hi) & selection_mask(arr, th.selector)
        )
        drops = np.bincount(code_of(a_s[dropped]), minlength=len(seconds))
        errors = np.nan_to_num(values * samples)
        samples = samples + drops
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (errors + drops) / samples
    return values, samples


def _limit_text(th: Threshold) -> str:
    return f"{th.op.value} {th.value_text}"


def no_data(th: Threshold, reason: str, about: dict[str, Any]) -> GateResult:
    """A gate with nothing to judge, saying why."""
    return GateResult(
        th.text,
        GateKind.THRESHOLD,
        GateStatus.NO_DATA,
        None,
        f"no data: {reason}",
        _limit_text(th),
        reason=reason,
        **about,
    )


def _status(th: Threshold, failed: bool) -> GateStatus:
    if not failed:
        return GateStatus.PASSED
    return GateStatus.WARN if th.warn else GateStatus.FAILED


def _thin(th: Threshold, n: int, floor: int) -> str:
    kind = th.stat.kind
    if kind in LATENCY_KINDS and kind is not StatKind.LATENESS and th.select("outcome") is None:
        return f"{n} successful requests, need {max(floor, 1)} (latency counts successful ones)"
    return f"{n} samples, need {max(floor, 1)}"


def _where(th: Threshold, span: tuple[float, float]) -> str:
    if th.phase is None and th.start is None and th.end is None:
        return ""
    return f" in {range_text(th, *span)}"


def _aggregate(
    th: Threshold, records: Records, span: tuple[float, float], floor: int, about: dict[str, Any]
) -> GateResult:
    lo, hi = span
    seconds = np.array([hi - lo])
    values, samples = _measure(th, records, span, lambda t: np.zeros(len(t), np.int64), seconds)
    value, n = float(values[0]), int(samples[0])
    about = {**about, "samples": n}
    if n < floor or math.isnan(value):
        return no_data(th, _thin(th, n, floor) + _where(th, span), about)
    return GateResult(
        th.text,
        GateKind.THRESHOLD,
        _status(th, not th.passes(value)),
        value,
        format_value(th.stat.kind, value),
        _limit_text(th),
        **about,
    )


def _windowed(
    th: Threshold, records: Records, span: tuple[float, float], floor: int, about: dict[str, Any]
) -> GateResult:
    lo, hi = span
    tiling = Tiling.of(lo, hi, th.window_s)
    values, samples = _measure(th, records, span, tiling.codes, tiling.seconds)
    judged = judge_windows(th, values, samples, floor, tiling.width_s)
    spans = tuple(
        BreachSpan(
            max(tiling.start_s(a), lo), min(tiling.start_s(b), hi), worst(th.op, values[a:b])
        )
        for a, b in runs(judged.breached)
    )
    n_w, n_data = tiling.n, int(judged.has_data.sum())
    n_breached = int(judged.breached.sum())
    about = {
        **about,
        "samples": int(samples[judged.has_data].sum()),
        "breaches": spans,
        "windows_total": n_w,
        "windows_no_data": n_w - n_data,
        "windows_breached": n_breached,
    }
    width = f"{tiling.width_s:g}s"
    if n_data == 0:
        why = f"no {width} window has {max(floor, 1)} samples{_where(th, span)}"
        return no_data(th, why, about)
    value = worst(th.op, values[judged.has_data])
    return GateResult(
        th.text,
        GateKind.THRESHOLD,
        _status(th, judged.failed),
        value,
        f"worst {format_value(th.stat.kind, value)}; {judged.rule_text}",
        _limit_text(th),
        detail=f"{n_data} windows of {width} with data, {n_w - n_data} without",
        **about,
    )


def evaluate_threshold(th: Threshold, records: Records) -> GateResult:
    """Judge one (non-invariant, non-regression) threshold on ``records``.

    Raises ``InputError`` (exit 2) for a phase the run does not have; every other reason
    not to judge is a no-data result.
    """
    about: dict[str, Any] = {
        "location": str(th.location) if th.location else None,
        "stat": th.stat.label,
        "stat_kind": th.stat.kind.value,
        "limit": th.value,
        "selector": th.selector,
        "window_s": th.window_s if th.windowed else None,
        "warn": th.warn,
    }
    if th.select("per") == "intent":
        records = records.by_intent()
    named = named_range(th, records.phases, records.onsale_offset_s)
    missing = missing_name(th, records.arrivals if on_arrivals(th) else records.requests)
    if missing is not None:
        return no_data(th, missing, about)
    covered = records.covered_s()
    if covered is None:
        return no_data(th, "the run recorded no requests and no arrivals", about)
    span = clip(named, covered)
    if span[1] <= span[0]:
        return no_data(th, not_run_reason(th, named, covered), about)
    evaluate = _windowed if th.windowed else _aggregate
    return evaluate(th, records, span, min_samples(th), about)


__all__ = ["Records", "covered_span", "evaluate_threshold", "missing_name", "no_data"]
