"""Rough figures about a journey, for planning (``loadkit plan``): mean think time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loadkit.scenario.models import (
    ChoiceStep,
    IfStep,
    PollStep,
    RepeatStep,
    RetryStep,
    Step,
    ThinkStep,
)


def mean_along(steps: Sequence[Step], leaf: Callable[[Step], float]) -> float:
    """The mean of ``leaf(step)`` summed along ``steps``: ``choice`` branches weighted, ``if``
    takes the larger branch, a loop's body counts once (how often it loops is not known)."""
    total = 0.0
    for step in steps:
        if isinstance(step, ChoiceStep):
            weight = sum(b.weight for b in step.branches) or 1.0
            total += sum(b.weight * mean_along(b.steps, leaf) for b in step.branches) / weight
        elif isinstance(step, IfStep):
            total += max(mean_along(step.then, leaf), mean_along(step.otherwise, leaf))
        elif isinstance(step, PollStep | RetryStep | RepeatStep):
            total += mean_along(step.steps, leaf)
        else:
            total += leaf(step)
    return total


def mean_think_s(steps: Sequence[Step]) -> float:
    """Mean seconds spent thinking along ``steps`` (``mean_along``; poll waits are
    server-driven and not included)."""
    return mean_along(steps, lambda s: s.think.mean_s() if isinstance(s, ThinkStep) else 0.0)


__all__ = ["mean_along", "mean_think_s"]
