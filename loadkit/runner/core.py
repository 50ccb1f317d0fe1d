"""The open-model load engine of one process: a scheduler greenlet and the visitors it starts.

Arrivals start at their scheduled times whatever the target's speed (DESIGN.md §2.1-2.2):
one start timer (a ``timerfd`` on Linux, see ``loadkit.runner.start_timer``), re-armed for the
next arrival's time on the monotonic clock, starts every arrival then due straight from the hub
(see ``Engine._dispatch``). A cap on visitors in flight,
checked as each arrival comes due, turns overflow into *dropped* arrivals, recorded as such.
Every arrival's lateness (actual start - scheduled start, measured when its greenlet begins to
run) is recorded; an arrival never starts early.

Inputs are plain (arrays and persona objects, ``loadkit.runner.engine_types``, re-exported
here), so the engine is testable without YAML. What it reports while it runs and at the end
(progress, the monitor's CPU samples and live thresholds, the result) is
``loadkit.runner.engine_report``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
import gevent.pool
import numpy as np

from loadkit.profiles import Phase
from loadkit.results.schema import ArrivalOutcome
from loadkit.runner.clock import Clock
from loadkit.runner.engine_report import (
    MONITOR_S,
    engine_result,
    monitor_loop,
    progress_loop,
    progress_snapshot,
)
from loadkit.runner.engine_types import (
    Arrivals,
    EngineOptions,
    EngineResult,
    GuardLike,
    JourneyEndLike,
    PersonaLike,
    threshold_stop_reason,
)
from loadkit.runner.flusher import Flusher
from loadkit.runner.progress import CpuMeter, Progress
from loadkit.runner.recorder import arrival_row
from loadkit.runner.redact import redact
from loadkit.runner.start_timer import StartTimer, start_timer
from loadkit.runner.visitor import RunState, Target, Visitor

POLL_S = 0.05
STOPPED_REASON = "cut: the run was stopped before the journey ended"
MAX_IDLE_RUNNERS = 1024  # parked visitor greenlets kept for reuse; more just end


class Engine:
    """Runs arrivals against a target; ``run`` blocks the calling greenlet until the end.

    ``stop(reason)`` (from a signal handler or another greenlet) ends the run early: no new
    arrivals, visitors killed, records flushed; the result's status is then ``aborted``. A
    ``guard`` is checked every ``MONITOR_S``; when it names a tripped threshold the run stops
    the same way and the result carries ``aborted_by_threshold``.
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
        phases: Sequence[Phase] = (),
        on_progress: Callable[[Progress], None] | None = None,
        guard: GuardLike | None = None,
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
        self.guard = guard
        self.aborted_by_threshold: str | None = None
        self.cpu = CpuMeter()  # 1 s samples, for the manifest
        self.cpu_line = CpuMeter()  # one sample per progress line
        self.started = 0
        self.dropped = 0
        self.in_flight = 0
        self.lateness_ms: list[float] = []
        self.group = gevent.pool.Group()
        self._stop_reason: str | None = None
        self._aborted = False
        self._stop_mono_ns = 0  # monotonic time the run stopped (set in run)
        self.state = RunState()
        # the schedule as python ints (cheaper per element than numpy scalars); ``_next`` is the
        # first arrival not started yet
        self._ids: list[int] = arrivals.ids.tolist()
        self._offsets_ns: list[int] = arrivals.offsets_ns.tolist()
        self._persona_of: list[int] = arrivals.persona_index.tolist()
        self._next = 0
        self._t0_mono_ns = clock.to_monotonic_ns(t0_ns)
        self._dispatched = gevent.event.Event()
        self._timer: StartTimer | None = None
        self.runners_started = 0  # visitor greenlets created (each runs one arrival or more)
        self._idle: list[
            gevent.Greenlet[Any, None]
        ] = []  # parked visitor greenlets (_runner), the next to reuse last
        self.timer_kind: str | None = None
        # the soft RLIMIT_NOFILE the run had (set by session.build_engine; None: unknown)
        self.open_files_limit: int | None = None
        self._finished = gevent.event.Event()
        # what a journey killed at the end records: cut, by a stop (Ctrl-C, a threshold, lost
        # records) or by the drain deadline; never failed, which would blame the target
        self.kill_outcome = ArrivalOutcome.CUT
        self.kill_reason = STOPPED_REASON

    # -- control -----------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """End the run early (status aborted). Safe to call more than once."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self._aborted = True
        self._finished.set()

    def run(self) -> EngineResult:
        """Run the schedule to its end (or a stop, or the duration limit); flush; report."""
        self.flusher.start()
        # everything alive now (modules, the schedule) is never garbage: keep it out of the
        # cyclic collector's full passes, which would otherwise stall the loop mid-run
        gc.freeze()
        scheduler = gevent.spawn(self._schedule)
        ticker = gevent.spawn(progress_loop, self)
        monitor = gevent.spawn(monitor_loop, self)
        self._wait_for_end()
        self.state.stopping = True  # the scheduler and every visitor check this flag
        self._stop_mono_ns = time.monotonic_ns()
        scheduler.kill(block=False)
        monitor.kill(block=False)
        if not self.cpu.samples or self.cpu.since_s >= MONITOR_S / 2:
            self.cpu.sample()  # the last part-second (a short run's only sample)
        self._kill_visitors()
        ticker.kill(block=False)
        try:
            self.flusher.stop()
        finally:
            gc.unfreeze()
        if self.on_progress is not None:
            self.on_progress(self.snapshot(final=True))
        return engine_result(self)

    def _wait_for_end(self) -> None:
        """Return when every journey ended, stop() was called, or the duration limit passed.

        Polls a flag instead of blocking on an Event: under overload a woken waiter can sit
        behind thousands of ready visitors, and a stop must take effect within ~2 s.
        """
        limits = [
            (s, why)
            for s, why in (
                (self.options.duration_limit_s, "duration limit {:g}s reached"),
                (self.options.drain_deadline_s, "drain time ran out at t0+{:g}s"),
            )
            if s is not None
        ]
        limit_s, why = min(limits, default=(None, ""))
        deadline_ns = None if limit_s is None else self.t0_ns + int(limit_s * 1e9)
        while not self._finished.is_set():
            if deadline_ns is not None and self.clock.now_ns() >= deadline_ns:
                if self._stop_reason is None:
                    self._stop_reason = why.format(limit_s)
                    self.kill_outcome = ArrivalOutcome.CUT
                    self.kill_reason = f"cut: still in flight when the {self._stop_reason}"
                return
            gevent.sleep(POLL_S)

    def _kill_visitors(self) -> None:
        """Stop every visitor; each records its arrival row as it dies.

        Visitors see ``state.stopping`` at their next request or sleep; the others are killed.
        Both paths are waited for by polling (not joining): under overload gevent runs queued
        callbacks (kills, joins) only a few ms per loop turn, while timers still fire.
        """
        self._idle.clear()  # parked runners die with the rest
        gevent.killall(list(self.group), block=False)
        deadline_s = time.monotonic() + self.options.kill_timeout_s
        while self.in_flight > 0 and time.monotonic() < deadline_s:
            gevent.sleep(POLL_S / 5)
        # (a survivor may still record later; its rows after the last flush are lost)
        # never started: those due when the run stopped count as dropped, later ones never were
        stop_ns = self._stop_mono_ns - self._t0_mono_ns
        while self._next < len(self._offsets_ns) and self._offsets_ns[self._next] <= stop_ns:
            i = self._next
            self._next += 1
            persona = self.personas[self._persona_of[i]]
            scheduled_ns = self.t0_ns + self._offsets_ns[i]
            self._drop(self._ids[i], scheduled_ns, persona, "the run stopped before it started")

    # -- scheduling ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start every arrival at its time; returns when all have started (or the run stops)."""
        self._timer = start_timer(
            gevent.get_hub().loop, self._dispatch, precise=self.options.precise_timer
        )
        self.timer_kind = self._timer.kind
        try:
            self._arm_next()
            self._dispatched.wait()
        finally:
            if self._timer is not None:
                self._timer.close()
                self._timer = None
        self._check_finished()

    def _arm_next(self) -> None:
        """Arm the one start timer for the next arrival, or signal that all have started."""
        if self._next >= len(self._offsets_ns) or self.state.stopping or self._timer is None:
            self._dispatched.set()
            return
        self._timer.arm(self._t0_mono_ns + self._offsets_ns[self._next])

    def _dispatch(self) -> None:
        """Timer callback, run by the hub: start every arrival due now, then re-arm.

        Each visitor greenlet (a parked one if any, see ``_runner``) is switched to directly
        and runs until it first blocks, then the hub resumes here. Arrivals due by the time the timer fired start in one batch; a queued
        ``spawn`` would instead wait behind every other callback when the loop is busy, and a
        timer per arrival costs an allocation and a heap entry each.
        """
        offsets, t0_mono_ns, n = self._offsets_ns, self._t0_mono_ns, len(self._offsets_ns)
        monotonic_ns, state = time.monotonic_ns, self.state
        while self._next < n and not state.stopping:
            i = self._next
            if t0_mono_ns + offsets[i] > monotonic_ns():
                break
            self._next = i + 1
            job = (self._ids[i], self.t0_ns + offsets[i], self.personas[self._persona_of[i]])
            if self._idle:
                self._idle.pop().switch(job)
            else:
                greenlet = gevent.Greenlet(self._runner, job)
                self.runners_started += 1
                self.group.add(greenlet)
                greenlet.switch()
        self._arm_next()

    def _runner(self, job: tuple[int, int, PersonaLike]) -> None:
        """A visitor greenlet: runs an arrival, then waits (parked) to run a later one.

        Reusing greenlets spares each arrival a greenlet's creation, first switch and teardown
        (~30 µs of the generator's CPU on a 2-core VM, measured); visitors share nothing else.
        """
        hub = gevent.get_hub()
        while True:
            self._visit(*job)
            if self.state.stopping or len(self._idle) >= MAX_IDLE_RUNNERS:
                return
            self._idle.append(gevent.getcurrent())
            job = hub.switch()  # resumed by _dispatch with the next arrival (or killed at the end)

    def _check_finished(self) -> None:
        if self._dispatched.is_set() and self.in_flight == 0:
            self._finished.set()

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
        if actual_ns < scheduled_ns:  # a timer fired early (clock granularity): never start early
            gevent.sleep((scheduled_ns - actual_ns) / 1e9)
            actual_ns = self.clock.now_ns()
        refusal = self._refusal()
        if refusal is not None:
            self._drop(arrival_id, scheduled_ns, persona, refusal)
            self._check_finished()
            return
        self.in_flight += 1
        self.started += 1
        self.lateness_ms.append((actual_ns - scheduled_ns) / 1e6)
        self._journey(arrival_id, scheduled_ns, actual_ns, persona)

    def _refusal(self) -> str | None:
        """Why a due arrival cannot start now (it is then dropped), or None."""
        if self.state.stopping:
            return "the run stopped before it started"
        if self.in_flight >= self.options.max_in_flight:
            return f"in-flight cap of {self.options.max_in_flight} was full"
        return None

    def _journey(
        self, arrival_id: int, scheduled_ns: int, actual_ns: int, persona: PersonaLike
    ) -> None:
        """Run one visitor's journey; always leaves its arrival row, even when killed."""
        opts = self.options
        visitor = Visitor(
            arrival_id,
            persona.name,
            seed=opts.seed,
            target=self.target,
            recorder=self.recorder,
            clock=self.clock,
            worker_id=opts.worker_id,
            state=self.state,
            scheduled_ns=scheduled_ns,  # the first request is intended then (not at actual_ns)
        )
        outcome: ArrivalOutcome | None = None  # None until the journey returns or fails
        reason: str | None = None
        last_step: str | None = None
        try:
            end = persona.run(visitor)
            outcome, last_step = end.outcome, end.last_step
            reason = redact(end.reason) if end.reason else None
        except Exception as exc:  # a journey bug or a refused URL fails this arrival, not the run
            outcome = ArrivalOutcome.FAILED
            reason = redact(f"{type(exc).__name__}: {exc}")
        finally:
            if outcome is None:  # killed: the run stopped or its drain ran out (cut)
                outcome, reason = self.kill_outcome, self.kill_reason
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
            self._check_finished()

    # -- reporting (engine_report: per tick, never per arrival) ------------------------------

    def snapshot(
        self, *, final: bool = False, since: tuple[float, int, int] | None = None
    ) -> Progress:
        """Progress now; ``since`` = (monotonic s, requests, lateness count) of the last tick."""
        return progress_snapshot(self, final=final, since=since)

    def due_count(self) -> int:
        """Arrivals whose scheduled time has passed."""
        elapsed_ns = self.clock.now_ns() - self.t0_ns
        return int(np.searchsorted(self.arrivals.offsets_ns, elapsed_ns, side="right"))

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped early or was cut (None: it ran to its end)."""
        return self._stop_reason

    @property
    def aborted(self) -> bool:
        """True once ``stop`` was called (the result's status is then aborted)."""
        return self._aborted


__all__ = [
    "Arrivals",
    "Engine",
    "EngineOptions",
    "EngineResult",
    "GuardLike",
    "JourneyEndLike",
    "PersonaLike",
    "threshold_stop_reason",
]
