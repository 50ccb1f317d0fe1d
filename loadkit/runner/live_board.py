"""The live view's state: running totals and recent windows, fed in batches once a tick.

Pure (no gevent, no clock, no I/O): a feed (``live_feed`` in a local run, ``live_master`` on a
distributed master) hands over the request and arrival rows recorded since its last look, the
engine's arrival counters and the workers' health, then calls ``tick``. ``/metrics``
(``live_metrics``) and the page's JSON (``snapshot``) read from here; nothing here runs per
request. Units: latencies enter in ms (as recorded) and leave Prometheus histograms in seconds.

What is counted when: a request when its row is recorded (it ended); an arrival's outcome, leave
reason and funnel stages when its row is recorded (the journey ended); arrivals scheduled,
started and dropped and visitors in flight as the engine counts them (a distributed master
derives them from the schedule and the records, see ``live_master``).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
WINDOW_S = 60.0  # the page's "last minute" of latency percentiles and errors
SERIES_POINTS = 600  # ticks of history kept for the page's charts (10 min at 1 tick/s)
MAX_REASONS = 40  # distinct leave reasons kept as labels; later ones count as "(other)"
REASON_CHARS = 80
FUNNEL_STAGES = ("arrived", "joined", "admitted", "held", "paid")  # as loadkit.results.frames
LEAVE_OUTCOMES = ("abandoned", "gave_up", "failed", "cut")
OTHER = "(other)"


class Histogram:
    """Cumulative-ready bucket counts over fixed upper bounds (``le``), plus sum and count."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.counts = np.zeros(len(bounds) + 1, dtype=np.int64)  # last: above every bound
        self.sum = 0.0

    def add(self, values: npt.NDArray[np.float64]) -> None:
        if values.size == 0:
            return
        index = np.searchsorted(self.bounds, values, side="left")  # first bound >= value
        self.counts += np.bincount(index, minlength=self.counts.size)
        self.sum += float(values.sum())

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def cumulative(self) -> list[tuple[str, float]]:
        """``[(le, count <= le), ..., ("+Inf", count)]`` as Prometheus wants them."""
        running = np.cumsum(self.counts)
        out = [(f"{b:g}", float(c)) for b, c in zip(self.bounds, running[:-1], strict=True)]
        return [*out, ("+Inf", float(running[-1]))]


@dataclass(frozen=True)
class RequestBatch:
    """Request rows recorded since the last look, one entry per row (REQUEST_SCHEMA values)."""

    worker: Sequence[int]
    step: Sequence[str]
    outcome: Sequence[str]
    status: Sequence[int]
    response_ms: Sequence[float]

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class ArrivalBatch:
    """Arrival rows recorded since the last look; ``held``/``paid`` are already booleans."""

    worker: Sequence[int]
    outcome: Sequence[str]
    reason: Sequence[str | None]
    lateness_ms: Sequence[float | None]
    joined: Sequence[bool]
    admitted: Sequence[bool]
    held: Sequence[bool]
    paid: Sequence[bool]

    def __len__(self) -> int:
        return len(self.outcome)


@dataclass(frozen=True)
class Arrivals:
    """The engine's arrival counters at a tick (a master's are derived, see ``live_master``)."""

    scheduled: int  # due so far by the schedule
    started: int
    dropped: int
    in_flight: int


@dataclass(frozen=True)
class WorkerHealth:
    worker: int
    host: str
    fate: str  # running, done, lost, ... (loadkit.runner.distributed.roster.Fate values)
    up: bool
    cpu_percent: float | None = None
    last_heard_s: float | None = None  # seconds since the worker was last heard from
    requests: int = 0  # request rows recorded so far
    arrivals: int = 0


@dataclass(frozen=True)
class GateReading:
    """One threshold's live state (see ``live_gates``). ``state``: pass, breach, tripped,
    no_data, outside (not in its time range), after_run (judged only by the analyzer)."""

    text: str
    state: str
    value: float | None = None
    samples: int = 0
    abort_after_s: float | None = None
    abort_in_s: float | None = None  # countdown while breaching an ``abort after`` gate
    note: str = ""
    shown: str = ""  # the value for people, in the stat's unit ("53.5ms", "0.2%")

    @property
    def colour(self) -> str:
        if self.state == "pass":
            return "green"
        if self.state == "tripped" or (self.state == "breach" and self.abort_after_s is None):
            return "red"
        if self.state == "breach":
            return "amber"
        return "grey"


@dataclass
class Point:
    """One tick of the page's time series (per-second rates over the tick)."""

    elapsed_s: float
    scheduled_per_s: float
    started_per_s: float
    dropped_per_s: float
    in_flight: int
    requests_per_s: float
    errors_per_s: float


@dataclass(frozen=True)
class _Tick:
    elapsed_s: float
    ok_ms: dict[str, npt.NDArray[np.float64]]  # ok response times by step
    errors: Counter[str]  # by error_label
    lateness_ms: npt.NDArray[np.float64]


@dataclass
class LiveBoard:
    """Everything the live view shows; see the module docstring for what is counted when."""

    run_id: str
    mode: str  # local | master
    thresholds: tuple[str, ...] = ()
    arrivals: Arrivals = field(default_factory=lambda: Arrivals(0, 0, 0, 0))
    arrivals_by_worker: dict[int, Arrivals] = field(default_factory=dict)
    phase: str = "start"
    status: str = "waiting"  # waiting (before t0), running, stopping, ended
    elapsed_s: float = 0.0
    tick_epoch_s: float = 0.0
    ticks: int = 0
    requests: Counter[tuple[int, str, str, int]] = field(default_factory=Counter)
    latency: dict[str, Histogram] = field(default_factory=dict)
    lateness: Histogram = field(default_factory=lambda: Histogram(LATENESS_BUCKETS_S))
    ended: Counter[tuple[int, str]] = field(default_factory=Counter)  # (worker, outcome)
    funnel: Counter[str] = field(default_factory=Counter)
    leave: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, reason)
    gates: tuple[GateReading, ...] = ()
    workers: tuple[WorkerHealth, ...] = ()
    series: deque[Point] = field(default_factory=lambda: deque(maxlen=SERIES_POINTS))
    _recent: deque[_Tick] = field(default_factory=deque)
    _tick_ok: dict[str, list[float]] = field(default_factory=dict)
    _tick_late: list[npt.NDArray[np.float64]] = field(default_factory=list)
    _tick_errors: Counter[str] = field(default_factory=Counter)
    _last: tuple[float, Arrivals, int, int] | None = None  # elapsed, arrivals, requests, errors
    _snapshot: tuple[int, dict[str, Any]] | None = None  # (ticks, snapshot) computed at

    # -- feeding -------------------------------------------------------------------------------

    def add_requests(self, batch: RequestBatch) -> None:
        """Count request rows by (worker, step, outcome, status); ok rows feed latency."""
        self.requests.update(
            zip(batch.worker, batch.step, batch.outcome, batch.status, strict=True)
        )
        ok: dict[str, list[float]] = {}
        for step, outcome, status, response_ms in zip(
            batch.step, batch.outcome, batch.status, batch.response_ms, strict=True
        ):
            if outcome == "ok":
                ok.setdefault(step, []).append(response_ms)
            else:
                self._tick_errors[error_label(outcome, status)] += 1
        for step, values in ok.items():
            self._tick_ok.setdefault(step, []).extend(values)
            hist = self.latency.get(step)
            if hist is None:
                hist = self.latency[step] = Histogram(LATENCY_BUCKETS_S)
            hist.add(np.asarray(values, dtype=np.float64) / 1e3)

    def add_lateness(self, lateness_ms: Iterable[float | None]) -> None:
        values = np.asarray([v for v in lateness_ms if v is not None], dtype=np.float64)
        self.lateness.add(values / 1e3)
        self._tick_late.append(values)

    def add_arrivals(self, batch: ArrivalBatch, *, lateness: bool = False) -> None:
        """Count ended arrivals by outcome, funnel stage and leave reason; with ``lateness``
        (a master, which has no engine), their lateness too."""
        self.ended.update(zip(batch.worker, batch.outcome, strict=True))
        started = [o != "dropped" for o in batch.outcome]
        for stage, reached in zip(
            FUNNEL_STAGES,
            (started, batch.joined, batch.admitted, batch.held, batch.paid),
            strict=True,
        ):
            self.funnel[stage] += sum(1 for s, r in zip(started, reached, strict=True) if s and r)
        for outcome, reason in zip(batch.outcome, batch.reason, strict=True):
            if outcome in LEAVE_OUTCOMES:
                self._count_reason(outcome, reason or "")
        if lateness:
            self.add_lateness(batch.lateness_ms)

    def _count_reason(self, outcome: str, reason: str) -> None:
        text = " ".join(reason.split())[:REASON_CHARS] or "(none)"
        key = (outcome, text)
        if key not in self.leave and len(self.leave) >= MAX_REASONS:
            key = (outcome, OTHER)
        self.leave[key] += 1

    # -- ticking -------------------------------------------------------------------------------

    def tick(self, elapsed_s: float, epoch_s: float) -> None:
        """Close the tick at ``elapsed_s`` (seconds after t0): a series point, the last minute."""
        total_requests = sum(self.requests.values())
        total_errors = sum(n for (_, _, o, _), n in self.requests.items() if o != "ok")
        a = self.arrivals
        if self._last is not None:
            last_s, last, last_req, last_err = self._last
            dt_s = max(elapsed_s - last_s, 1e-3)
            self.series.append(
                Point(
                    elapsed_s=round(elapsed_s, 3),
                    scheduled_per_s=(a.scheduled - last.scheduled) / dt_s,
                    started_per_s=(a.started - last.started) / dt_s,
                    dropped_per_s=(a.dropped - last.dropped) / dt_s,
                    in_flight=a.in_flight,
                    requests_per_s=(total_requests - last_req) / dt_s,
                    errors_per_s=(total_errors - last_err) / dt_s,
                )
            )
        self._last = (elapsed_s, a, total_requests, total_errors)
        ok = {s: np.asarray(v, dtype=np.float64) for s, v in self._tick_ok.items()}
        late = np.concatenate(self._tick_late) if self._tick_late else np.empty(0)
        self._recent.append(_Tick(elapsed_s, ok, self._tick_errors, late))
        self._tick_ok, self._tick_errors, self._tick_late = {}, Counter(), []
        while self._recent and self._recent[0].elapsed_s <= elapsed_s - WINDOW_S:
            self._recent.popleft()
        self.elapsed_s, self.tick_epoch_s = elapsed_s, epoch_s
        self.ticks += 1

    # -- reading -------------------------------------------------------------------------------

    def steps_last_minute(self) -> list[dict[str, Any]]:
        """Per step: ok requests and p50/p95/p99 response time (ms, nearest rank) in the
        last ``WINDOW_S``, and its errors then."""
        values: dict[str, list[npt.NDArray[np.float64]]] = {}
        for tick in self._recent:
            for step, arr in tick.ok_ms.items():
                values.setdefault(step, []).append(arr)
        out = []
        for step in sorted(set(values) | {s for (_, s, _, _) in self.requests}):
            arr = np.concatenate(values[step]) if step in values else np.empty(0)
            out.append({"step": step, "ok": int(arr.size), **_quantiles_ms(arr)})
        return out

    def errors_last_minute(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for tick in self._recent:
            total.update(tick.errors)
        return dict(total.most_common())

    def lateness_p99_ms(self) -> float | None:
        """Nearest-rank p99 lateness (ms) of the arrivals counted in the last ``WINDOW_S``."""
        parts = [t.lateness_ms for t in self._recent if t.lateness_ms.size]
        return _quantiles_ms(np.concatenate(parts))["p99"] if parts else None

    def errors_total(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for (_, _, outcome, status), n in self.requests.items():
            if outcome != "ok":
                total[error_label(outcome, status)] += n
        return dict(total.most_common())

    def snapshot(self) -> dict[str, Any]:
        """The page's JSON: everything it draws, the full series included (so a browser that
        reconnects redraws the run so far). Computed at most once a tick (the last minute's
        percentiles sort up to a minute of rows), however many pages poll."""
        if self._snapshot is None or self._snapshot[0] != self.ticks:
            self._snapshot = (self.ticks, self._compute_snapshot())
        return self._snapshot[1]

    def _compute_snapshot(self) -> dict[str, Any]:
        a = self.arrivals
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "status": self.status,
            "phase": self.phase,
            "elapsed_s": round(self.elapsed_s, 3),
            "tick_epoch_s": self.tick_epoch_s,
            "ticks": self.ticks,
            "arrivals": {
                "scheduled": a.scheduled,
                "started": a.started,
                "dropped": a.dropped,
                "in_flight": a.in_flight,
                "lateness_p99_ms": self.lateness_p99_ms(),
            },
            "requests": sum(self.requests.values()),
            "series": [vars(p) for p in self.series],
            "steps": self.steps_last_minute(),
            "errors_last_minute": self.errors_last_minute(),
            "errors_total": self.errors_total(),
            "funnel": [{"stage": s, "visitors": self.funnel[s]} for s in FUNNEL_STAGES],
            "leave": [
                {"outcome": o, "reason": r, "count": n} for (o, r), n in self.leave.most_common(12)
            ],
            "gates": [{**vars(g), "colour": g.colour} for g in self.gates],
            "workers": [vars(w) for w in self.workers],
        }


def error_label(outcome: str, status: int) -> str:
    """``HTTP 503`` for an answered error, else the outcome (``timeout``, ``connection_error``)."""
    return f"HTTP {status}" if status else outcome


def _quantiles_ms(values: npt.NDArray[np.float64]) -> dict[str, float | None]:
    if values.size == 0:
        return {"p50": None, "p95": None, "p99": None}
    ordered = np.sort(values)
    out: dict[str, float | None] = {}
    for label, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        rank = max(1, int(np.ceil(q * ordered.size)))  # nearest rank, as the analyzer
        out[label] = round(float(ordered[rank - 1]), 2)
    return out


__all__ = [
    "FUNNEL_STAGES",
    "LATENCY_BUCKETS_S",
    "LATENESS_BUCKETS_S",
    "ArrivalBatch",
    "Arrivals",
    "GateReading",
    "Histogram",
    "LiveBoard",
    "Point",
    "RequestBatch",
    "WorkerHealth",
    "error_label",
]
