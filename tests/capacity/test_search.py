"""The capacity search strategy against fake targets: a sharp wall, a noisy wall, always-pass,
always-fail, a generator that saturates first, a budget, Ctrl-C."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from loadkit.capacity import ProbeOutcome, ProbeResult, SearchSettings, Stop, search_capacity


class Clock:
    """Fake time: every probe costs ``probe_s``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def target(
    judge: Callable[[float], ProbeOutcome], clock: Clock | None = None, probe_s: float = 10.0
) -> Callable[[float], ProbeResult]:
    def probe(rate: float) -> ProbeResult:
        if clock is not None:
            clock.now += probe_s
        outcome = judge(rate)
        gate = "error_rate < 1%" if outcome is ProbeOutcome.FAILED else None
        return ProbeResult(rate, outcome, first_failed_gate=gate)

    return probe


def wall(limit: float) -> Callable[[float], ProbeOutcome]:
    return lambda r: ProbeOutcome.PASSED if r <= limit else ProbeOutcome.FAILED


def test_sharp_wall_is_found_within_the_resolution_and_confirmed() -> None:
    result = search_capacity(target(wall(317.0)), SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.FOUND
    assert result.holds_per_s is not None and result.fails_per_s is not None
    assert result.holds_per_s <= 317.0 < result.fails_per_s
    assert result.fails_per_s / result.holds_per_s <= 1.05
    assert result.holds_repeats == (2, 2)
    assert result.fails_repeats == (2, 2)
    assert result.first_failed_gate == "error_rate < 1%"
    assert "holds" in result.message and "fails at" in result.message
    assert "2 of 2 repeats" in result.message


def test_a_wall_below_the_start_rate_is_found_by_stepping_down() -> None:
    result = search_capacity(target(wall(3.3)), SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.FOUND
    assert result.holds_per_s is not None and result.holds_per_s <= 3.3
    assert result.fails_per_s is not None and result.fails_per_s > 3.3
    assert result.probes[0].rate_per_s == 10  # it started where it was told


def test_noisy_wall_reports_the_rate_that_held_every_time() -> None:
    rng = random.Random(7)

    def noisy(rate: float) -> ProbeOutcome:
        # certain pass below 90, certain fail above 110, a coin toss in between
        if rate < 90 or (rate <= 110 and rng.random() < 0.5):
            return ProbeOutcome.PASSED
        return ProbeOutcome.FAILED

    result = search_capacity(target(noisy), SearchSettings(start_rate_per_s=10, repeats=3))
    assert result.stop is Stop.FOUND
    assert result.holds_per_s is not None and 70 <= result.holds_per_s <= 110
    for p in result.at(result.holds_per_s):
        assert p.passed  # a rate that failed even once is never reported as holding
    assert result.holds_repeats[1] == 3
    assert result.fails_per_s is not None and result.fails_per_s > result.holds_per_s


def test_always_fail_says_the_gates_never_pass_after_a_few_probes() -> None:
    result = search_capacity(
        target(lambda r: ProbeOutcome.FAILED), SearchSettings(start_rate_per_s=10)
    )
    assert result.stop is Stop.NEVER_PASSES
    assert result.holds_per_s is None
    assert len(result.probes) <= 5
    assert "never pass" in result.message
    assert not result.conclusive


def test_always_fail_down_to_too_little_data_says_the_gates_never_pass() -> None:
    def judge(rate: float) -> ProbeOutcome:
        return ProbeOutcome.FAILED if rate > 3 else ProbeOutcome.INCONCLUSIVE

    result = search_capacity(target(judge), SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.NEVER_PASSES
    assert [p.rate_per_s for p in result.probes] == [10, 5, 2.5]
    assert "fail at 5.00/s" in result.message and "too small to judge" in result.message


def test_always_pass_stops_at_max_with_a_lower_bound() -> None:
    result = search_capacity(
        target(lambda r: ProbeOutcome.PASSED),
        SearchSettings(start_rate_per_s=10, max_rate_per_s=100),
    )
    assert result.stop is Stop.MAX_RATE
    assert result.holds_per_s == 100
    assert result.fails_per_s is None
    assert [p.rate_per_s for p in result.probes] == [10, 20, 40, 80, 100]


def test_always_pass_without_max_gives_up_saying_no_wall() -> None:
    result = search_capacity(
        target(lambda r: ProbeOutcome.PASSED), SearchSettings(start_rate_per_s=1, max_steps=6)
    )
    assert result.stop is Stop.NO_WALL
    assert len(result.probes) == 7
    assert "no wall" in result.message


def test_gates_that_pass_while_the_target_is_saturated_are_called_blind() -> None:
    def probe(rate: float) -> ProbeResult:
        errors = min(1.0, rate / 100)
        return ProbeResult(rate, ProbeOutcome.PASSED, error_rate=errors)

    result = search_capacity(probe, SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.GATES_BLIND
    assert result.probes[-1].rate_per_s == 80
    assert "cannot see the wall" in result.message


def test_generator_bound_before_the_wall_stops_without_a_false_capacity() -> None:
    def judge(rate: float) -> ProbeOutcome:
        if rate > 50:
            return ProbeOutcome.GENERATOR_BOUND
        return ProbeOutcome.PASSED if rate <= 300 else ProbeOutcome.FAILED

    result = search_capacity(target(judge), SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.GENERATOR_BOUND
    assert "generator-bound at 80.0/s: add workers" in result.message
    assert result.holds_per_s == 40  # the last rate that really held
    assert result.fails_per_s is None
    assert not result.conclusive


def test_the_time_budget_stops_the_search_before_a_probe_would_overrun_it() -> None:
    clock = Clock()
    settings = SearchSettings(start_rate_per_s=10, budget_s=45)
    result = search_capacity(target(wall(1000), clock), settings, clock)
    assert result.stop is Stop.BUDGET
    assert clock.now <= 45  # no probe started that could not finish in time
    assert len(result.probes) == 4


def test_ctrl_c_keeps_the_probes_so_far() -> None:
    calls = []

    def probe(rate: float) -> ProbeResult:
        calls.append(rate)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return ProbeResult(rate, ProbeOutcome.PASSED)

    result = search_capacity(probe, SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.INTERRUPTED
    assert [p.rate_per_s for p in result.probes] == [10, 20]
    assert result.holds_per_s == 20


def test_probes_are_few() -> None:
    """A wall 100× the start is found and confirmed in about a dozen probes."""
    result = search_capacity(target(wall(1234)), SearchSettings(start_rate_per_s=10))
    assert result.stop is Stop.FOUND
    assert len(result.probes) <= 16


@pytest.mark.parametrize(
    "bad",
    [
        {"start_rate_per_s": 0},
        {"start_rate_per_s": 10, "growth": 1},
        {"start_rate_per_s": 10, "max_rate_per_s": 5},
        {"start_rate_per_s": 10, "repeats": 0},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SearchSettings(**bad)
