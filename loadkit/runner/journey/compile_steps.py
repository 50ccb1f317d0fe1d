"""Compile the non-request steps (think, poll, retry, choice, if, repeat, leave, set, record,
feed, clear_cookies) into closures, and step lists into one closure.

Timing is open-model aware (no coordinated omission): ``ctx.due_ns`` is when the next request
is *meant* to go — the arrival's scheduled start, then the previous request's end — and a
think, poll interval or backoff adds its wait to it and sleeps until then, so a late start or
a late wake-up shows in that request's ``response_ms``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

from loadkit.results.schema import ArrivalOutcome
from loadkit.runner.journey.compile_request import StepFn, compile_request, record_fn
from loadkit.runner.journey.feeders import FeederState
from loadkit.runner.journey.types import Ctx, EndJourney, RetryScope, RetrySignal
from loadkit.scenario.jsonpath import MISSING
from loadkit.scenario.models import (
    Backoff,
    ChoiceStep,
    ClearCookiesStep,
    FeedStep,
    HazardStage,
    IfStep,
    Interval,
    LeaveStep,
    PollStep,
    RecordStep,
    RepeatStep,
    RequestStep,
    RetryStep,
    SetStep,
    Step,
    ThinkKind,
    ThinkSpec,
    ThinkStep,
)

MAX_LOOP = 100_000  # a repeat without `times` stops here (a loop that never ends is a bug)
Sampler = Callable[[Any], float]


class Compiler:
    """Turns steps into closures; holds what they share (timeout, feeders)."""

    _table: dict[type[Any], Callable[[Compiler, Any], StepFn]]

    def __init__(
        self,
        request_timeout_s: float | None,
        feeders: dict[str, FeederState],
        *,
        follow_redirects: bool = True,
        allow_hosts: tuple[str, ...] = (),
        constants: frozenset[str] = frozenset(),
    ) -> None:
        self.request_timeout_s = request_timeout_s
        self.feeders = feeders
        self.follow_redirects = follow_redirects
        self.allow_hosts = allow_hosts
        self.constants = constants  # variables fixed once a journey started (per_visitor.py)

    def steps(self, steps: Sequence[Step]) -> StepFn:
        fns = [self.step(s) for s in steps]
        if not fns:
            return lambda _c: None
        if len(fns) == 1:
            return fns[0]

        def run_all(c: Ctx) -> None:
            for fn in fns:
                fn(c)

        return run_all

    def step(self, step: Step) -> StepFn:
        """The closure for one step, through the kind table (one line per step kind)."""
        return self._table[type(step)](self, step)

    def _request(self, step: RequestStep) -> StepFn:
        return compile_request(step, self.request_timeout_s,
                               follow_redirects=self.follow_redirects,
                               allow_hosts=self.allow_hosts, constants=self.constants)  # fmt: skip

    def _choice(self, step: ChoiceStep) -> StepFn:
        bodies = [self.steps(b.steps) for b in step.branches]
        cum = list(itertools.accumulate(b.weight for b in step.branches))
        total, last = cum[-1], len(bodies) - 1

        def choice(c: Ctx) -> None:
            i = bisect.bisect_right(cum, c.rng.random() * total)
            bodies[min(i, last)](c)

        return choice

    def _if(self, step: IfStep) -> StepFn:
        cond, then, other = step.condition.fn, self.steps(step.then), self.steps(step.otherwise)

        def if_(c: Ctx) -> None:
            if cond(c):
                then(c)
            else:
                other(c)

        return if_

    def _repeat(self, step: RepeatStep) -> StepFn:
        body = self.steps(step.steps)
        times = step.times if step.times is not None else MAX_LOOP
        while_ = step.while_.fn if step.while_ else None
        until = step.until.fn if step.until else None
        index_var, name, capped = step.index_var, step.name, step.times is None
        if while_ is not None and until is None and index_var is None:

            def repeat_while(c: Ctx) -> None:  # the common `while:` loop, with fewer tests
                for _ in range(times):
                    if not while_(c):
                        return
                    body(c)
                if capped:
                    raise EndJourney(ArrivalOutcome.FAILED, f"{name}: looped {MAX_LOOP} times")

            return repeat_while

        def repeat(c: Ctx) -> None:
            for i in range(times):
                if while_ is not None and not while_(c):
                    return
                if index_var is not None:
                    c.vars[index_var] = i
                body(c)
                if until is not None and until(c):
                    return
            if capped:
                raise EndJourney(ArrivalOutcome.FAILED, f"{name}: looped {MAX_LOOP} times")

        return repeat

    def _feed(self, step: FeedStep) -> StepFn:
        state, var, name = self.feeders[step.feeder], step.var, step.name
        end = state.on_exhausted

        def feed(c: Ctx) -> None:
            c.step = name
            row = state.take(c.visitor.arrival_id, c.rng)
            if row is None:
                raise EndJourney(end, f"feeder '{state.name}' is exhausted")
            c.vars[var] = row

        return feed

    def _poll(self, step: PollStep) -> StepFn:
        body, until, wait_s = self.steps(step.steps), step.until.fn, _interval_fn(step.interval)
        hazard = _hazard_fn(step.abandon)
        deadline_ns = None if step.deadline_s is None else int(step.deadline_s * 1e9)
        max_polls, name, on_deadline = step.max_polls, step.name, step.on_deadline

        def poll(c: Ctx) -> None:
            v = c.visitor
            start = v.now_ns()
            polls = 0
            while True:
                body(c)
                polls += 1
                if until(c):
                    return
                now = v.now_ns()
                wait = wait_s(c)
                over = max_polls is not None and polls >= max_polls
                if over or (deadline_ns is not None and now - start + wait * 1e9 > deadline_ns):
                    if on_deadline is None:
                        return
                    raise EndJourney(on_deadline, f"{name}: condition not met after {polls} polls")
                if hazard is not None and c.rng.random() < hazard((now - start) / 1e9, wait):
                    v.sleep(c.rng.uniform(0.0, wait))
                    raise EndJourney(ArrivalOutcome.ABANDONED, f"{name}: gave up waiting")
                due = c.due_ns + int(wait * 1e9)  # the last poll's end + the interval
                if due > now:
                    v.sleep((due - now) / 1e9)
                c.due_ns = due

        return poll

    def _retry(self, step: RetryStep) -> StepFn:
        body, scope, delay = self.steps(step.steps), RetryScope(step.statuses, step.errors), \
            _backoff_fn(step.backoff)  # fmt: skip
        attempts, name, on_give_up = step.attempts, step.name, step.on_give_up
        deadline_ns = None if step.deadline_s is None else int(step.deadline_s * 1e9)

        def retry(c: Ctx) -> None:
            outer, c.retry = c.retry, scope
            outer_intents, outer_attempt, c.intents = c.intents, c.attempt, {}
            v = c.visitor
            start = v.now_ns()
            attempt = 1
            try:
                while True:
                    c.attempt = attempt
                    try:
                        body(c)
                        return
                    except RetrySignal as sig:
                        reason = sig.reason
                    wait = delay(attempt, c.rng)
                    now = v.now_ns()
                    late = deadline_ns is not None and now - start + wait * 1e9 > deadline_ns
                    if late or (attempts is not None and attempt >= attempts):
                        break
                    due = c.due_ns + int(wait * 1e9)  # the failed attempt's end + backoff
                    if due > now:
                        v.sleep((due - now) / 1e9)
                    c.due_ns = due
                    attempt += 1
            finally:
                c.retry, c.attempt, c.intents = outer, outer_attempt, outer_intents
            if on_give_up is not None:
                raise EndJourney(on_give_up, f"{name}: gave up after {attempt} attempts ({reason})")

        return retry


# One entry per step kind: its model class -> how to compile it. A new kind adds one line here.
Compiler._table = {
    RequestStep: Compiler._request,
    ThinkStep: lambda _self, step: _think(step),
    PollStep: Compiler._poll,
    RetryStep: Compiler._retry,
    ChoiceStep: Compiler._choice,
    IfStep: Compiler._if,
    RepeatStep: Compiler._repeat,
    FeedStep: Compiler._feed,
    LeaveStep: lambda _self, step: _simple(step),
    SetStep: lambda _self, step: _simple(step),
    RecordStep: lambda _self, step: _simple(step),
    ClearCookiesStep: lambda _self, step: _simple(step),
}


def _simple(step: Step) -> StepFn:
    if isinstance(step, LeaveStep):
        render, outcome = step.reason.render, step.outcome

        def leave(c: Ctx) -> None:  # last_step stays the step that led here
            raise EndJourney(outcome, str(render(c)) or None)

        return leave
    if isinstance(step, SetStep):
        pairs = [(var, t.render) for var, t in step.assignments]

        def set_(c: Ctx) -> None:
            v = c.vars
            for var, render in pairs:
                v[var] = render(c)

        return set_
    if isinstance(step, RecordStep):
        apply = record_fn(step.record)
        if apply is None:
            return lambda _c: None
        return lambda c: apply(c, c.visitor.now_ns())
    if isinstance(step, ClearCookiesStep):
        return lambda c: c.visitor.clear_cookies()
    raise TypeError(f"unknown step {type(step).__name__}")  # pragma: no cover


def sampler(spec: ThinkSpec) -> Sampler:
    """A function ``rng -> seconds`` drawing from ``spec``."""
    a, b = spec.a_s, spec.b_s
    if spec.kind is ThinkKind.UNIFORM:
        return lambda rng: float(rng.uniform(a, b))
    if spec.kind is ThinkKind.EXPONENTIAL:
        return (lambda rng: float(rng.expovariate(1.0 / a))) if a > 0 else (lambda _r: 0.0)
    if spec.kind is ThinkKind.LOGNORMAL:
        if a <= 0:
            return lambda _r: 0.0
        mu = math.log(a)
        return lambda rng: float(rng.lognormvariate(mu, b))
    return lambda _r: a


def _think(step: ThinkStep) -> StepFn:
    draw = sampler(step.think)

    def think(c: Ctx) -> None:
        seconds = draw(c.rng)
        v = c.visitor
        now = v.now_ns()
        due = c.due_ns + int(seconds * 1e9)  # from the last request's end; thinks add up
        if due > now:
            v.sleep((due - now) / 1e9)
        c.due_ns = due

    return think


def _interval_fn(interval: Interval) -> Callable[[Ctx], float]:
    if interval.fixed is not None:
        draw = sampler(interval.fixed)
        return lambda c: draw(c.rng)
    header, path, fallback, floor = interval.header, interval.json, interval.fallback_s, \
        interval.min_s  # fmt: skip

    def server_asks(c: Ctx) -> float:
        r = c.last
        value: Any = None
        if r is not None:
            if header is not None:
                value = _seconds(r.header(header))
            if value is None and path is not None:
                try:
                    found = path.find(r.json())
                except ValueError:
                    found = MISSING
                value = None if found is MISSING else _seconds(found)
        return max(floor, fallback if value is None else value)

    return server_asks


def _seconds(value: Any) -> float | None:
    """A number of seconds from a header or JSON value; None if it is not one (HTTP dates)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out >= 0 else None


def _hazard_fn(stages: tuple[HazardStage, ...]) -> Callable[[float, float], float] | None:
    """``(elapsed_s, wait_s) -> probability of leaving during the wait``."""
    if not stages or all(s.per_s <= 0 for s in stages):
        return None
    starts = [s.after_s for s in stages]

    def chance(elapsed_s: float, wait_s: float) -> float:
        i = bisect.bisect_right(starts, elapsed_s) - 1
        rate = stages[i].per_s if i >= 0 else 0.0
        return 1.0 - math.exp(-rate * wait_s)

    return chance


def _backoff_fn(backoff: Backoff) -> Callable[[int, Any], float]:
    """``(attempt that failed, rng) -> seconds to wait before the next one``."""
    delays, jitter = backoff.delays_s, backoff.jitter
    base, factor, cap = backoff.base_s, backoff.factor, backoff.max_s

    def delay(attempt: int, rng: Any) -> float:
        if delays:
            d = delays[min(attempt, len(delays)) - 1]
        else:
            d = min(cap, base * factor ** (attempt - 1))
        if jitter:
            d *= 1.0 + rng.uniform(-jitter, jitter)
        return max(0.0, d)

    return delay


__all__ = ["MAX_LOOP", "Compiler", "sampler"]
