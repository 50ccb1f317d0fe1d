"""Rough figures about a journey, for planning (``loadkit plan``): mean think time."""

from __future__ import annotations

from collections.abc import Sequence

from loadkit.scenario.models import (
    ChoiceStep,
    IfStep,
    PollStep,
    RepeatStep,
    RetryStep,
    Step,
    ThinkStep,
)


def mean_think_s(steps: Sequence[Step]) -> float:
    """Mean seconds spent thinking along ``steps``: branches weighted, ``if`` takes the longer
    branch, loops count once (poll waits are server-driven and not included)."""
    total = 0.0
    for step in steps:
        if isinstance(step, ThinkStep):
            total += step.think.mean_s()
        elif isinstance(step, ChoiceStep):
            weight = sum(b.weight for b in step.branches) or 1.0
            total += sum(b.weight * mean_think_s(b.steps) for b in step.branches) / weight
        elif isinstance(step, IfStep):
            total += max(mean_think_s(step.then), mean_think_s(step.otherwise))
        elif isinstance(step, PollStep | RetryStep | RepeatStep):
            total += mean_think_s(step.steps)
    return total


__all__ = ["mean_think_s"]
