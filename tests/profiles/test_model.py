"""Rate functions and their integrals, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.profiles import (
    ArrivalProcess,
    Constant,
    OnsaleReference,
    Phase,
    Profile,
    Ramp,
    Scale,
    Segment,
    Spike,
    Steps,
)


def make_profile(
    duration_s: float, *segments: Segment, onsale_at_s: float | None = None
) -> Profile:
    return Profile(
        name="t",
        duration_s=duration_s,
        onsale_at_s=onsale_at_s,
        phases=(Phase("run", 0.0, duration_s),),
        arrival_process=ArrivalProcess.POISSON,
        segments=segments,
    )


def test_constant_rate_and_integral() -> None:
    p = make_profile(60.0, Constant(0.0, 60.0, 10.0))
    assert p.expected_arrivals() == pytest.approx(600.0)
    assert p.expected_arrivals(10.0, 20.0) == pytest.approx(100.0)
    assert p.rate_per_s(np.array([0.0, 30.0, 59.9])).tolist() == [10.0, 10.0, 10.0]


def test_rate_is_zero_outside_segments() -> None:
    p = make_profile(100.0, Constant(10.0, 20.0, 5.0))
    assert p.rate_per_s(np.array([5.0, 25.0, 99.0])).tolist() == [0.0, 0.0, 0.0]
    assert p.expected_arrivals(0.0, 100.0) == pytest.approx(50.0)


def test_ramp_integral_is_the_trapezoid() -> None:
    p = make_profile(120.0, Ramp(0.0, 120.0, 1.0, 31.0))
    assert p.expected_arrivals() == pytest.approx((1.0 + 31.0) / 2 * 120.0)
    assert p.rate_per_s(np.array([60.0]))[0] == pytest.approx(16.0)
    # first half of the ramp: from 1/s to 16/s over 60 s
    assert p.expected_arrivals(0.0, 60.0) == pytest.approx((1.0 + 16.0) / 2 * 60.0)


def test_steps_hold_each_rate() -> None:
    p = make_profile(90.0, Steps(0.0, 30.0, (5.0, 10.0, 20.0)))
    assert p.rate_per_s(np.array([0.0, 29.9, 30.0, 75.0])).tolist() == [5.0, 5.0, 10.0, 20.0]
    assert p.expected_arrivals() == pytest.approx(30 * (5 + 10 + 20))


def test_spike_integral_by_hand() -> None:
    # baseline 5/s for 90 s, plus an excess of 75/s: a 2 s linear rise (area 75) and an
    # exponential decay with τ = 20 s over the remaining 88 s.
    p = make_profile(150.0, Spike(60.0, 150.0, 5.0, 80.0, 2.0, 20.0))
    expected = 5.0 * 90 + 75.0 * (2.0 / 2 + 20.0 * (1 - math.exp(-88.0 / 20.0)))
    assert p.expected_arrivals() == pytest.approx(expected)
    rates = p.rate_per_s(np.array([59.0, 60.0, 61.0, 62.0, 82.0]))
    assert rates[:4].tolist() == pytest.approx([0.0, 5.0, 42.5, 80.0])
    assert rates[4] == pytest.approx(5.0 + 75.0 * math.exp(-1.0))
    assert p.peak_rate() == pytest.approx((80.0, 62.0))


def test_overlapping_segments_add_up() -> None:
    p = make_profile(60.0, Constant(0.0, 60.0, 3.0), Constant(20.0, 40.0, 7.0))
    assert p.rate_per_s(np.array([10.0, 30.0, 50.0])).tolist() == [3.0, 10.0, 3.0]
    assert p.expected_arrivals() == pytest.approx(3 * 60 + 7 * 20)


def test_reference_onsale_shares_match_domain_model() -> None:
    seg = OnsaleReference(onsale_s=1800.0, visitors=150_000.0)
    p = make_profile(3720.0, seg, onsale_at_s=1800.0)
    assert p.expected_arrivals() == pytest.approx(150_000.0)
    assert p.expected_arrivals(0.0, 1800.0) == pytest.approx(0.70 * 150_000)
    assert p.expected_arrivals(1800.0, 1920.0) == pytest.approx(0.15 * 150_000)
    assert p.expected_arrivals(1920.0, 3720.0) == pytest.approx(0.15 * 150_000)
    # the build-up density grows by e every 8 minutes
    r = p.rate_per_s(np.array([1800.0 - 480.0 - 1.0, 1799.0]))
    assert r[1] / r[0] == pytest.approx(math.e)


def test_scale_shrinks_time_and_crowd() -> None:
    full = make_profile(3720.0, OnsaleReference(1800.0, 150_000.0), onsale_at_s=1800.0)
    small = full.scaled(Scale(time=1 / 25, crowd=1 / 100))
    assert small.duration_s == pytest.approx(148.8)
    assert small.onsale_at_s == pytest.approx(72.0)
    assert small.expected_arrivals() == pytest.approx(1500.0)
    assert small.expected_arrivals(0.0, 72.0) == pytest.approx(1050.0)
    assert small.peak_rate()[0] == pytest.approx(full.peak_rate()[0] * 25 / 100, rel=1e-4)
    assert small.scale == Scale(1 / 25, 1 / 100)


def test_peak_rate_sees_the_end_of_a_ramp() -> None:
    p = make_profile(120.0, Ramp(0.0, 60.0, 0.0, 50.0), Constant(60.0, 120.0, 10.0))
    assert p.peak_rate() == (50.0, 60.0)  # the left limit at 60 s, not 49.99...
    assert p.peak_rate(60.0, 120.0) == (10.0, 60.0)
    assert p.peak_rate(0.0, 30.0) == pytest.approx((25.0, 30.0))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 100.0), st.floats(0.0, 100.0), st.floats(0.1, 50.0)),
        min_size=1,
        max_size=6,
    )
)
def test_integral_matches_numerical_quadrature(parts: list[tuple[float, float, float]]) -> None:
    segments: list[Segment] = []
    t = 0.0
    for a, b, width in parts:
        segments.append(Ramp(t, t + width, a, b))
        t += width
    p = make_profile(t, *segments)
    grid = np.linspace(0.0, t, 20_001)
    rates = p.rate_per_s(grid)
    numeric = float(np.sum((rates[1:] + rates[:-1]) / 2 * np.diff(grid)))
    # jumps between ramps make the trapezoid slightly off: allow one grid cell per jump
    tolerance = 1e-6 * max(1.0, numeric) + len(parts) * 100.0 * (t / 20_000)
    assert p.expected_arrivals() == pytest.approx(numeric, abs=tolerance)


def test_segment_validation_in_constructors() -> None:
    with pytest.raises(ValueError, match="at least its baseline"):
        Spike(0.0, 10.0, 10.0, 5.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="> 0"):
        Scale(time=0.0)


def test_profile_phases_must_tile() -> None:
    with pytest.raises(ValueError, match="tile"):
        Profile(
            "t",
            60.0,
            None,
            (Phase("a", 0.0, 30.0), Phase("b", 31.0, 60.0)),
            ArrivalProcess.POISSON,
            (Constant(0.0, 60.0, 1.0),),
        )
    with pytest.raises(ValueError, match="tile"):
        Profile("t", 60.0, None, (Phase("a", 0.0, 50.0),), ArrivalProcess.POISSON, ())
