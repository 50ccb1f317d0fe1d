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

from collections.abc import Iterable

from loadkit.scenario.checks import BUILTINS, assigned_by_steps
from loadkit.scenario.functions import FUNCTIONS
from loadkit.scenario.models import Scenario
from loadkit.scenario.templates import Template


def journey_constants(scenario: Scenario) -> frozenset[str]:
    """The variable names (``env.NAME`` for the environment) no step of ``scenario`` assigns:
    fixed once a journey has started (the same walk ``validate`` uses to know what is set)."""
    names = set(BUILTINS) | {name for name, _ in scenario.variables}
    names |= {"env." + name for name, _ in scenario.env}
    return frozenset(names - assigned_by_steps(scenario))


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
