"""Compile a whole scenario: a loaded ``Scenario`` compiled once into plain closures.

``compile_scenario(scenario, seed=...)`` runs before the load starts; it resolves environment
variables, reads feeder files and turns every step into a closure (templates were compiled by the
loader; constant parts stay constant). ``CompiledPersona.run(visitor)`` then runs one journey and
returns how it ended. A failed capture, an unrenderable template or an undeclared error ends that
visitor's journey (``failed``, with the reason) and never the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from loadkit.errors import InputError, Location
from loadkit.results.schema import ArrivalOutcome
from loadkit.runner.defaults import DEFAULT_SHARDS
from loadkit.runner.journey.compile_request import StepFn
from loadkit.runner.journey.compile_steps import Compiler
from loadkit.runner.journey.feeders import FeederState, read_rows
from loadkit.runner.journey.per_visitor import journey_constants
from loadkit.runner.journey.types import (
    Ctx,
    EndJourney,
    JourneyEnd,
    RetrySignal,
    VisitorProtocol,
)
from loadkit.scenario.expr import EvalError
from loadkit.scenario.models import RequestStep, Scenario, Step
from loadkit.scenario.templates import Template


class _Vars:
    """How a visitor's variables start: constants copied, per-visitor values rendered in order."""

    def __init__(self, base: dict[str, Any], dynamic: list[tuple[str, Template]]) -> None:
        self.base = base
        self.dynamic = [(name, t.render) for name, t in dynamic]

    def init(self, c: Ctx, persona: str, arrival_id: int) -> None:
        v = c.vars
        v.update(self.base)
        v["persona"] = persona
        v["arrival_id"] = arrival_id
        for name, render in self.dynamic:
            v[name] = render(c)


class CompiledPersona:
    """One persona, ready to run: ``run(visitor)`` plays one journey to its end."""

    def __init__(self, name: str, weight: float, body: StepFn, variables: _Vars) -> None:
        self.name = name
        self.weight = weight
        self._body = body
        self._vars = variables

    def run(self, visitor: VisitorProtocol) -> JourneyEnd:
        """Run the journey; never raises for the target's behaviour or a data problem."""
        c = Ctx(visitor)
        try:
            self._vars.init(c, self.name, visitor.arrival_id)
            self._body(c)
        except EndJourney as end:
            return JourneyEnd(end.outcome, end.reason, c.step)
        except EvalError as exc:
            return JourneyEnd(ArrivalOutcome.FAILED, f"{c.step or 'start'}: {exc}", c.step)
        except RetrySignal as sig:  # pragma: no cover - a retry scope always catches its own
            return JourneyEnd(ArrivalOutcome.FAILED, sig.reason, c.step)
        return JourneyEnd(ArrivalOutcome.COMPLETED, None, c.step)


class CompiledScenario:
    """The compiled personas, in file order."""

    def __init__(self, scenario: Scenario, personas: list[CompiledPersona], seed: int) -> None:
        self.scenario = scenario
        self.personas = personas
        self.seed = seed
        weights = np.array([p.weight for p in personas], dtype=float)
        self._p = weights / weights.sum()
        # variables captured as secret (``secret: true``, CSRF tokens): ``try`` hides them
        self.secret_vars = frozenset(
            c.var for p in scenario.personas for s in _walk(p.steps)
            if isinstance(s, RequestStep) for c in s.captures if c.secret
        )  # fmt: skip

    def persona_for(
        self, total: int, arrival_ids: npt.NDArray[np.integer[Any]] | None = None
    ) -> npt.NDArray[np.intp]:
        """Persona index of each arrival of a ``total``-arrival schedule (same in every
        process): ``default_rng([seed, 1]).choice(len(personas), size=total, p=weights)``;
        indexed by ``arrival_ids`` when given."""
        rng = np.random.default_rng([self.seed, 1])
        out: npt.NDArray[np.intp] = rng.choice(len(self.personas), size=int(total), p=self._p)
        return out if arrival_ids is None else out[np.asarray(arrival_ids)]

    def persona(self, name: str) -> CompiledPersona:
        for p in self.personas:
            if p.name == name:
                return p
        raise KeyError(name)


def compile_scenario(
    scenario: Scenario,
    *,
    seed: int,
    shards: int | None = None,
    environ: Mapping[str, str] | None = None,
    request_timeout_s: float | None = None,
) -> CompiledScenario:
    """Compile ``scenario`` for a run. ``shards`` must be the run's shard count (unique feeders
    partition rows by shard; default: the scenario's ``settings.shards``, else 64). ``environ``
    defaults to ``os.environ``. Raises ``InputError`` for a required environment variable that
    is not set or a feeder file that cannot be read."""
    env = os.environ if environ is None else environ
    shard_count = shards or scenario.settings.shards or DEFAULT_SHARDS
    feeders = {f.name: FeederState(f, read_rows(f), shard_count) for f in scenario.feeders}
    timeout = request_timeout_s or scenario.settings.request_timeout_s
    compiler = Compiler(timeout, feeders, follow_redirects=scenario.settings.follow_redirects,
                        allow_hosts=scenario.allow_hosts,
                        constants=journey_constants(scenario))  # fmt: skip
    variables = _variables(scenario, env)
    personas = [
        CompiledPersona(p.name, p.weight, compiler.steps(p.steps), variables)
        for p in scenario.personas
    ]
    return CompiledScenario(scenario, personas, seed)


def _walk(steps: Sequence[Step]) -> Iterator[Step]:
    """Every step of a step list, nested ones included."""
    for step in steps:
        yield step
        for attr in ("steps", "then", "otherwise"):
            inner = getattr(step, attr, None)
            if isinstance(inner, tuple):
                yield from _walk(inner)
        for branch in getattr(step, "branches", ()):
            yield from _walk(branch.steps)


def _variables(scenario: Scenario, env: Mapping[str, str]) -> _Vars:
    base: dict[str, Any] = {}
    missing = []
    for name, default in scenario.env:
        value = env.get(name, default)
        if value is None:
            missing.append(name)
        base["env." + name] = value
    if missing:
        raise InputError(
            f"environment variable(s) {', '.join(missing)} must be set for this scenario.",
            location=Location(scenario.path),
            hint="They are declared under 'env:' without a default.",
        )
    dynamic: list[tuple[str, Template]] = []
    for name, t in scenario.variables:
        if t.const and not dynamic:
            base[name] = t.value
        else:
            dynamic.append((name, t))
    return _Vars(base, dynamic)


__all__ = ["DEFAULT_SHARDS", "CompiledPersona", "CompiledScenario", "compile_scenario"]
