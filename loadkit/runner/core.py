"""The open-model load engine of one process: a scheduler greenlet and the visitors it starts.

Arrivals start at their scheduled times whatever the target's speed (DESIGN.md §2.1-2.2):
the scheduler sleeps on the monotonic clock until the next due time, then starts every arrival
due by now (arrivals due within the same wake-up go out as one batch). A cap on visitors in
flight turns overflow into *dropped* arrivals, recorded as such. Every arrival's lateness
(actual start - scheduled start, measured when its greenlet begins to run) is recorded.

Inputs are plain (arrays and persona objects), so the engine is testable without YAML.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gevent
import gevent.event
import gevent.pool
import numpy as np
import numpy.typing as npt

from loadkit.results.schema import ArrivalOutcome, RunStatus
from loadkit.runner.clock import Clock
from loadkit.runner.flusher import Flusher
from loadkit.runner.progress import PhaseLike, Progress, percentile, phase_at
from loadkit.runner.recorder import arrival_row
from loadkit.runner.redact import redact
from loadkit.runner.visitor import Target, Visitor

POLL_S = 0.05
STOPPED_REASON = "stopped: the run ended before the journey did"


class JourneyEndLike(Protocol):
    @property
    def outcome(self) -> ArrivalOutcome: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def last_step(self) -> str: ...


class PersonaLike(Protocol):
    """What the engine needs of a compiled persona."""

    @property
    def name(self) -> str: ...

    def run(self, visitor: Visitor) -> JourneyEndLike: ...


@dataclass(frozen=True)
class Arrivals:
    """This worker's share of the schedule: global ids, offsets from t0 (sorted), personas."""

    ids: npt.NDArray[np.int64]
    offsets_ns: npt.NDArray[np.int64]
    persona_index: npt.NDArray[np.integer[Any]]

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.offsets_ns) == len(self.persona_index):
            raise ValueError("ids, offsets_ns and persona_index must have the same length")
        if len(self.offsets_ns) > 1 and bool(np.any(np.diff(self.offsets_ns) < 0)):
            raise ValueError("offsets_ns must be sorted")

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class EngineOptions:
    worker_id: int = 0
    shards: int = 64
    seed: int = 0
    max_in_flight: int = 10_000
    progress_interval_s: float = 5.0
    duration_limit_s: float | None = None  # from t0; None: run until every journey ended
    kill_timeout_s: float = 1.5  # how long killed visitors get to record their end


@dataclass(frozen=True)
class EngineResult:
    status: RunStatus
    stop_reason: str | None
    scheduled: int
    started: int
    dropped: int
    requests: int
    errors: int
    lateness_p99_ms: float | None
    lateness_max_ms: float | None


class Engine:
    """Runs arrivals against a target; ``run`` blocks the calling greenlet until the end.

    ``stop(reason)`` (from a signal handler or another greenlet) ends the run early: no new
    arrivals, visitors killed, records flushed; the result's status is then ``aborted``.
    """

    def __init__(
        self,
        arrivals: Arrivals,
        personas: Sequence[PersonaLike],
        *,
        target: Target,
        flusher: Flusher,
        clock: Clock,
        t0_ns: int,
        options: EngineOptions,
        phases: Sequence[PhaseLike] = (),
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.arrivals = arrivals
        self.personas = list(personas)
        self.target = target
        self.flusher = flusher
        self.recorder = flusher.recorder
        self.clock = clock
        self.t0_ns = t0_ns
        self.options = options
        self.phases = list(phases)
        self.on_progress = on_progress
        self.scheduled = 0
        self.started = 0
        self.dropped = 0
        self.in_flight = 0
        self.lateness_ms: list[float] = []
        self.group = gevent.pool.Group()
        self._stop_reason: str | None = None
        self._aborted = False
        self._schedule_done = False
        self._stopping = False
        # spawned visitors that have not begun to run: arrival id -> (scheduled_ns, persona)
        self._pending: dict[int, tuple[int, PersonaLike]] = {}
        self._finished = gevent.event.Event()

    # -- control -----------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """End the run early (status aborted). Safe to call more than once."""
        import sys as _s; print("DBG stop called", time.monotonic(), file=_s.stderr)
        if self._stop_reason is None:
            self._stop_reason = reason
            self._aborted = True
        self._finished.set()

    def run(self) -> EngineResult:
        """Run the schedule to its end (or a stop, or the duration limit); flush; report."""
        self.flusher.start()
        scheduler = gevent.spawn(self._schedule)
        ticker = gevent.spawn(self._progress_loop)
        self._wait_for_end()
        import sys as _s; _t=time.monotonic(); print("DBG woke", _t, file=_s.stderr)
        scheduler.kill()
        print("DBG sched killed", time.monotonic()-_t, file=_s.stderr)
        self._kill_visitors()
        print("DBG killed", time.monotonic()-_t, len(self.group), file=_s.stderr)
        ticker.kill()
        self.flusher.stop()
        print("DBG flushed", time.monotonic()-_t, file=_s.stderr)
        if self.on_progress is not None:
            self.on_progress(self.snapshot(final=True))
        return self._result()

    def _wait_for_end(self) -> None:
        """Return when every journey ended, stop() was called, or the duration limit passed.

        Polls a flag instead of blocking on an Event: under overload a woken waiter can sit
        behind thousands of ready visitors, and a stop must take effect within ~2 s.
        """
        deadline_ns = None
        if self.options.duration_limit_s is not None:
            deadline_ns = self.t0_ns + int(self.options.duration_limit_s * 1e9)
        while not self._finished.is_set():
            if deadline_ns is not None and self.clock.now_ns() >= deadline_ns:
                if self._stop_reason is None:
                    self._stop_reason = f"duration limit {self.options.duration_limit_s:g}s reached"
                return
            gevent.sleep(POLL_S)

    def _kill_visitors(self) -> None:
        """Kill every visitor at once; they record their arrival row as they die."""
        self._stopping = True
        try:
            gevent.killall(list(self.group), block=True, timeout=self.options.kill_timeout_s)
        except gevent.Timeout:
            pass  # a survivor may still record later; its rows after the last flush are lost
        # spawned but never switched to: they never started, so they count as dropped
        for arrival_id, (scheduled_ns, persona) in list(self._pending.items()):
            self._drop(arrival_id, scheduled_ns, persona, "the run stopped before it started")
            self.in_flight -= 1
        self._pending.clear()

    # -- scheduling ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        offsets = self.arrivals.offsets_ns.tolist()  # python ints: cheaper per element than numpy
        t0_mono = self.clock.to_monotonic_ns(self.t0_ns)
        monotonic_ns = time.monotonic_ns
        n = len(offsets)
        i = 0
        while i < n:
            now = monotonic_ns()
            due = t0_mono + offsets[i]
            if due > now:
                gevent.sleep((due - now) / 1e9)
                continue  # re-check: the timer may fire a little early
            while i < n and t0_mono + offsets[i] <= now:
                self._launch(i)
                i += 1
        self._schedule_done = True
        if self.in_flight == 0:
            self._finished.set()

    def _launch(self, i: int) -> None:
        self.scheduled += 1
        a = self.arrivals
        arrival_id = int(a.ids[i])
        scheduled_ns = self.t0_ns + int(a.offsets_ns[i])
        persona = self.personas[int(a.persona_index[i])]
        if self.in_flight >= self.options.max_in_flight:
            cap = self.options.max_in_flight
            self._drop(arrival_id, scheduled_ns, persona, f"in-flight cap of {cap} was full")
            return
        self.in_flight += 1
        self._pending[arrival_id] = (scheduled_ns, persona)
        self.group.spawn(self._visit, arrival_id, scheduled_ns, persona)

    def _drop(self, arrival_id: int, scheduled_ns: int, persona: PersonaLike, reason: str) -> None:
        self.dropped += 1
        self.recorder.arrivals.append(
            arrival_row(
                arrival_id=arrival_id,
                persona=persona.name,
                shard=arrival_id % self.options.shards,
                worker=self.options.worker_id,
                scheduled_ns=scheduled_ns,
                actual_ns=None,
                end_ns=None,
                outcome=ArrivalOutcome.DROPPED,
                reason=reason,
                last_step=None,
            )
        )

    def _visit(self, arrival_id: int, scheduled_ns: int, persona: PersonaLike) -> None:
        actual_ns = self.clock.now_ns()
        del self._pending[arrival_id]
        if self._stopping:  # started after the stop: never ran, counts as dropped
            self.in_flight -= 1
            self._drop(arrival_id, scheduled_ns, persona, "the run stopped before it started")
            return
        self.started += 1
        self.lateness_ms.append((actual_ns - scheduled_ns) / 1e6)
        opts = self.options
        visitor = Visitor(
            arrival_id,
            persona.name,
            seed=opts.seed,
            target=self.target,
            recorder=self.recorder,
            clock=self.clock,
            worker_id=opts.worker_id,
        )
        # until the journey returns, assume it is being killed (run stopped)
        outcome: ArrivalOutcome = ArrivalOutcome.FAILED
        reason: str | None = STOPPED_REASON
        last_step: str | None = None
        try:
            end = persona.run(visitor)
            outcome, reason, last_step = end.outcome, end.reason, end.last_step
        except Exception as exc:  # a journey bug or a refused URL fails this arrival, not the run
            reason = redact(f"{type(exc).__name__}: {exc}")
        finally:
            if last_step is None:
                last_step = visitor.last_step
            visitor.close()
            self.in_flight -= 1
            self.recorder.arrivals.append(
                arrival_row(
                    arrival_id=arrival_id,
                    persona=persona.name,
                    shard=arrival_id % opts.shards,
                    worker=opts.worker_id,
                    scheduled_ns=scheduled_ns,
                    actual_ns=actual_ns,
                    end_ns=self.clock.now_ns(),
                    outcome=outcome,
                    reason=reason,
                    last_step=last_step or None,
                    requests=visitor.requests,
                    errors=visitor.errors,
                    facts=visitor.facts,
                )
            )
            if self._schedule_done and self.in_flight == 0:
                self._finished.set()

    # -- reporting -----------------------------------------------------------------------------

    def snapshot(
        self, *, final: bool = False, since: tuple[float, int, int] | None = None
    ) -> Progress:
        """Progress now; ``since`` = (monotonic s, requests, lateness count) of the last tick."""
        now_s = time.monotonic()
        requests = self.flusher.pending_requests()
        if since is None:
            since = self._start_mark
        dt_s = max(1e-9, now_s - since[0])
        window = self.lateness_ms if final else self.lateness_ms[since[2] :]
        elapsed_s = (self.clock.now_ns() - self.t0_ns) / 1e9
        return Progress(
            elapsed_s=elapsed_s,
            phase=phase_at(self.phases, elapsed_s),
            scheduled=self.scheduled,
            started=self.started,
            dropped=self.dropped,
            in_flight=self.in_flight,
            requests_per_s=(requests - since[1]) / dt_s,
            errors=self.recorder.error_count,
            lateness_p99_ms=percentile(window, 99.0),
            final=final,
        )

    @property
    def _start_mark(self) -> tuple[float, int, int]:
        t0_mono_s = self.clock.to_monotonic_ns(self.t0_ns) / 1e9
        return (t0_mono_s, 0, 0)

    def _progress_loop(self) -> None:
        mark = (time.monotonic(), self.flusher.pending_requests(), 0)
        while True:
            gevent.sleep(self.options.progress_interval_s)
            snap = self.snapshot(since=mark)
            mark = (time.monotonic(), self.flusher.pending_requests(), len(self.lateness_ms))
            if self.on_progress is not None:
                self.on_progress(snap)

    def _result(self) -> EngineResult:
        status = RunStatus.ABORTED if self._aborted else RunStatus.COMPLETED
        return EngineResult(
            status=status,
            stop_reason=self._stop_reason,
            scheduled=self.scheduled,
            started=self.started,
            dropped=self.dropped,
            requests=self.flusher.pending_requests(),
            errors=self.recorder.error_count,
            lateness_p99_ms=percentile(self.lateness_ms, 99.0),
            lateness_max_ms=max(self.lateness_ms, default=None),
        )


__all__ = ["Arrivals", "Engine", "EngineOptions", "EngineResult", "PersonaLike"]
