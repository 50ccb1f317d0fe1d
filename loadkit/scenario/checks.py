"""Whole-scenario checks after parsing: variables used before they are set or never defined,
captures never used, unknown environment variables, and steps that can never run.

The walk follows each persona's journey in order, as a visitor would. After a ``choice`` or
``if`` a variable counts as set if *some* branch sets it (no false alarms for a variable set
in every branch that matters); a loop body is walked once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from loadkit.errors import Location, did_you_mean
from loadkit.scenario.expr import Expr
from loadkit.scenario.models import (
    ChoiceStep,
    FeedStep,
    IfStep,
    LeaveStep,
    PollStep,
    RecordStep,
    RepeatStep,
    RequestStep,
    RetryStep,
    Scenario,
    SetStep,
    Step,
)
from loadkit.scenario.templates import Template
from loadkit.sources import Problems

BUILTINS = frozenset({"persona", "arrival_id"})
AFTER_REQUEST = frozenset({"status", "outcome"})  # set by every request step


@dataclass
class _Walk:
    where: dict[int, Location]
    problems: Problems
    settable: set[str]  # every name some step or variable can set
    used: set[str] = field(default_factory=set)
    env_used: dict[str, Location] = field(default_factory=dict)

    def use(self, item: Expr | Template | None, defined: set[str], fallback: Location) -> None:
        if item is None:
            return
        loc = self.where.get(id(item), fallback)
        for env in item.env:
            self.env_used.setdefault(env, loc)
        for name in sorted(item.names - {"@"}):
            self.used.add(name)
            if name in defined:
                continue
            if name in self.settable:
                self.problems.add(f"variable '{name}' is used before it is set.", loc,
                                  hint="Capture or set it in an earlier step.")  # fmt: skip
            else:
                hint = did_you_mean(name, self.settable).strip() or None
                self.problems.add(f"undefined variable '{name}'.", loc, hint=hint)

    def steps(self, steps: Sequence[Step], defined: set[str]) -> set[str]:
        ended_by: Step | None = None
        reported = False
        for step in steps:
            if ended_by is not None and not reported:
                self.problems.add(
                    f"unreachable step: the journey always ends at '{ended_by.name}' "
                    f"(line {ended_by.location.line}).", step.location,
                )  # fmt: skip
                reported = True  # keep walking: the steps may hold other problems
            defined = self.step(step, defined)
            if ended_by is None and _always_ends(step):
                ended_by = step
        return defined

    def step(self, step: Step, defined: set[str]) -> set[str]:
        loc = step.location
        if isinstance(step, RequestStep):
            return self.request(step, defined)
        if isinstance(step, PollStep | RetryStep):
            defined = self.steps(step.steps, set(defined))
            if isinstance(step, PollStep):
                self.use(step.until, defined, loc)
            return defined
        if isinstance(step, ChoiceStep):
            return set().union(*(self.steps(b.steps, set(defined)) for b in step.branches))
        if isinstance(step, IfStep):
            self.use(step.condition, defined, loc)
            return self.steps(step.then, set(defined)) | self.steps(step.otherwise, set(defined))
        if isinstance(step, RepeatStep):
            self.use(step.while_, defined, loc)
            inner = set(defined) | ({step.index_var} if step.index_var else set())
            inner = self.steps(step.steps, inner)
            self.use(step.until, inner, loc)
            return defined | inner
        if isinstance(step, LeaveStep):
            self.use(step.reason, defined, loc)
        elif isinstance(step, SetStep):
            for var, value in step.assignments:
                self.use(value, defined, loc)
                defined = defined | {var}
        elif isinstance(step, RecordStep):
            for _fact, value in step.record:
                self.use(value, defined, loc)
        elif isinstance(step, FeedStep):
            return defined | {step.var}
        return defined

    def request(self, step: RequestStep, defined: set[str]) -> set[str]:
        req = step.request
        for t in (req.path, req.json, req.form, req.body):
            self.use(t, defined, step.location)
        for _k, t in (*req.query, *req.headers):
            self.use(t, defined, step.location)
        seen = set(defined)
        for cap in step.captures:  # in order: a capture may read one captured before it
            self.use(cap.default, seen, cap.location)
            self.use(cap.from_var, seen, cap.location)
            seen.add(cap.var)
        after = defined | AFTER_REQUEST | {c.var for c in step.captures}
        self.use(step.expect.condition, after, step.location)
        for _fact, value in step.record:
            self.use(value, after, step.location)
        return after


def _always_ends(step: Step) -> bool:
    if isinstance(step, LeaveStep):
        return True
    if isinstance(step, IfStep):
        return _list_ends(step.then) and _list_ends(step.otherwise)
    if isinstance(step, ChoiceStep):
        return all(_list_ends(b.steps) for b in step.branches)
    return False


def _list_ends(steps: Sequence[Step]) -> bool:
    return any(_always_ends(s) for s in steps)


def _settable(scenario: Scenario) -> set[str]:
    return set(BUILTINS) | {n for n, _ in scenario.variables} | assigned_by_steps(scenario)


def assigned_by_steps(scenario: Scenario) -> set[str]:
    """Every variable some step of ``scenario`` assigns: captures, ``set``, ``feed``, a
    ``repeat`` index, and the ``status``/``outcome`` of every request."""
    names = set(AFTER_REQUEST)
    for step in _all_steps(p.steps for p in scenario.personas):
        if isinstance(step, RequestStep):
            names |= {c.var for c in step.captures}
        elif isinstance(step, SetStep):
            names |= {v for v, _ in step.assignments}
        elif isinstance(step, FeedStep):
            names.add(step.var)
        elif isinstance(step, RepeatStep) and step.index_var:
            names.add(step.index_var)
    return names


def _all_steps(lists: Iterable[Sequence[Step]]) -> Iterable[Step]:
    for steps in lists:
        for step in steps:
            yield step
            if isinstance(step, PollStep | RetryStep | RepeatStep):
                yield from _all_steps([step.steps])
            elif isinstance(step, ChoiceStep):
                yield from _all_steps(b.steps for b in step.branches)
            elif isinstance(step, IfStep):
                yield from _all_steps([step.then, step.otherwise])


def check_flow(scenario: Scenario, where: dict[int, Location], problems: Problems) -> None:
    """Record flow problems of ``scenario`` into ``problems`` (each reported once)."""
    sink = Problems()
    walk = _Walk(where, sink, _settable(scenario))
    defined = set(BUILTINS)
    for name, value in scenario.variables:
        walk.use(value, defined, Location(scenario.path))
        defined.add(name)
    for persona in scenario.personas:
        walk.steps(persona.steps, set(defined))
    declared_env = {name for name, _ in scenario.env}
    for env, loc in walk.env_used.items():
        if env not in declared_env:
            hint = did_you_mean(env, declared_env).strip() or None
            sink.add(f"environment variable '{env}' is not declared under 'env:'.", loc,
                     hint=hint or f"Add 'env: {{{env}: default}}' to the scenario.")  # fmt: skip
    captured = [c for s in _all_steps(p.steps for p in scenario.personas)
                if isinstance(s, RequestStep) for c in s.captures]  # fmt: skip
    for cap in captured:
        if cap.var not in walk.used and not cap.var.startswith("_"):
            sink.add(f"capture '{cap.var}' is never used.", cap.location,
                     hint="Use it in a later step, or remove it (or name it '_...').")  # fmt: skip
    seen: set[str] = set()
    for err in sink:
        if str(err) not in seen:  # a block included twice reports its problems once
            seen.add(str(err))
            problems.add_error(err)


__all__ = ["AFTER_REQUEST", "BUILTINS", "check_flow"]
