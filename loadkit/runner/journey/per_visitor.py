"""Templates whose value cannot change during a journey, rendered once per journey.

A visitor's ``arrival_id`` and ``persona``, the environment and the scenario's ``variables`` are
set when its journey starts; unless some step assigns one of them again (a ``capture``, ``set``,
``feed``, a ``repeat`` index, or a request's ``status``/``outcome``), they stay as they are. A
template that reads only such names and calls only pure functions (no ``now()``, ``uuid()``,
``random()``, ...) therefore renders the same value on every request of the journey: a request
step whose URL, headers and body are all such templates (or constants) renders them on its
first request and keeps them in ``Ctx.memo`` (e.g. a header ``X-Visitor: "v{{ arrival_id }}"``
inside a loop). Anything else is rendered every time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loadkit.scenario.checks import AFTER_REQUEST, BUILTINS
from loadkit.scenario.functions import FUNCTIONS
from loadkit.scenario.models import (
    ChoiceStep,
    ClearCookiesStep,
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
    ThinkStep,
)
from loadkit.scenario.templates import Template

_NO_ASSIGNMENT = (ThinkStep, LeaveStep, RecordStep, ClearCookiesStep)


def journey_constants(scenario: Scenario) -> frozenset[str]:
    """The variable names (``env.NAME`` for the environment) no step of ``scenario`` assigns:
    fixed once a journey has started.

    Empty when a step kind is not known here (a new kind must say what it assigns)."""
    assigned: set[str] = set(AFTER_REQUEST)
    for persona in scenario.personas:
        if not _assigned(persona.steps, assigned):
            return frozenset()
    names = set(BUILTINS) | {name for name, _ in scenario.variables}
    names |= {"env." + name for name, _ in scenario.env}
    return frozenset(names - assigned)


def _assigned(steps: Sequence[Step], out: set[str]) -> bool:
    """Add the names ``steps`` assign to ``out``; False for a step kind not known here."""
    for step in steps:
        if isinstance(step, RequestStep):
            out.update(c.var for c in step.captures)
        elif isinstance(step, SetStep):
            out.update(var for var, _ in step.assignments)
        elif isinstance(step, FeedStep):
            out.add(step.var)
        elif isinstance(step, RepeatStep):
            if step.index_var is not None:
                out.add(step.index_var)
            if not _assigned(step.steps, out):
                return False
        elif isinstance(step, PollStep | RetryStep):
            if not _assigned(step.steps, out):
                return False
        elif isinstance(step, IfStep):
            if not (_assigned(step.then, out) and _assigned(step.otherwise, out)):
                return False
        elif isinstance(step, ChoiceStep):
            if not all(_assigned(b.steps, out) for b in step.branches):
                return False
        elif not isinstance(step, _NO_ASSIGNMENT):
            return False
    return True


def fixed_per_journey(templates: Iterable[Template], constants: frozenset[str]) -> bool:
    """Whether every one of ``templates`` renders the same value all through a journey."""
    for t in templates:
        if t.const:
            continue
        if not t.names <= constants or any("env." + e not in constants for e in t.env):
            return False
        for name in t.functions:
            spec = FUNCTIONS.get(name)
            if spec is None or not spec.pure or spec.uses_rng:
                return False
    return True


__all__ = ["fixed_per_journey", "journey_constants"]
