"""The names a scenario defines that a gate's selector may name: steps, request names,
methods (of request steps, however deeply nested) and personas."""

from __future__ import annotations

from collections.abc import Iterable

from loadkit.scenario.models import RequestStep, Scenario, Step


def _request_steps(steps: Iterable[Step]) -> Iterable[RequestStep]:
    for step in steps:
        if isinstance(step, RequestStep):
            yield step
        for attr in ("steps", "then", "otherwise"):
            yield from _request_steps(getattr(step, attr, ()))
        for branch in getattr(step, "branches", ()):
            yield from _request_steps(branch.steps)


def defined_names(scenario: Scenario) -> dict[str, frozenset[str]]:
    """``{"step": ..., "name": ..., "method": ..., "persona": ..., "label": ...}`` as the
    records will hold them (``loadkit.gates.check_selectors`` checks thresholds against
    these); labels are the outcome labels of ``expect.outcomes``."""
    found = [s for p in scenario.personas for s in _request_steps(p.steps)]
    labels = {label for s in found for _status, label in s.expect.outcomes}
    labels |= {label for s in found for label, _check in s.expect.labels}
    return {
        "label": frozenset(labels),
        "step": frozenset(s.name for s in found),
        "name": frozenset(s.request.request_name for s in found),
        "method": frozenset(s.request.method.upper() for s in found),
        "persona": frozenset(p.name for p in scenario.personas),
    }


__all__ = ["defined_names"]
