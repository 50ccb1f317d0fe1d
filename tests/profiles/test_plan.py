"""``plan`` numbers on profiles simple enough to work out by hand, and the printed table."""

from __future__ import annotations

import numpy as np
import pytest

from loadkit.profiles import (
    ArrivalProcess,
    Constant,
    Phase,
    Profile,
    Schedule,
    Spike,
    compile_schedule,
    format_plan,
    plan,
)


def constant_profile(process: ArrivalProcess = ArrivalProcess.UNIFORM) -> Profile:
    return Profile(
        name="flat",
        duration_s=60.0,
        onsale_at_s=None,
        phases=(Phase("warmup", 0.0, 20.0), Phase("steady", 20.0, 60.0)),
        arrival_process=process,
        segments=(Constant(0.0, 60.0, 10.0),),
    )


def test_constant_profile_plan_by_hand() -> None:
    profile = constant_profile()
    p = plan(profile, compile_schedule(profile, 0), mean_journey_s=30.0)
    assert p.expected_total == pytest.approx(600.0)
    assert p.scheduled_total == 600
    assert [(ph.name, ph.scheduled_arrivals) for ph in p.phases] == [
        ("warmup", 200),
        ("steady", 400),
    ]
    assert [ph.expected_arrivals for ph in p.phases] == pytest.approx([200.0, 400.0])
    assert [ph.mean_rate_per_s for ph in p.phases] == pytest.approx([10.0, 10.0])
    assert [ph.peak_rate_per_s for ph in p.phases] == pytest.approx([10.0, 10.0])
    assert p.peak_rate_per_s == pytest.approx(10.0)
    assert p.busiest_second_arrivals == 10
    # Little's law: L = λ W = 10/s × 30 s
    assert p.peak_in_flight == pytest.approx(300.0)
    assert p.peak_in_flight_window == pytest.approx(300.0)


def test_without_journey_no_in_flight() -> None:
    profile = constant_profile()
    p = plan(profile, compile_schedule(profile, 0))
    assert p.peak_in_flight is None and p.peak_in_flight_window is None
    assert "in flight" not in format_plan(p)


def test_short_spike_in_flight_window_is_below_little_at_peak() -> None:
    profile = Profile(
        name="burst",
        duration_s=100.0,
        onsale_at_s=10.0,
        phases=(Phase("run", 0.0, 100.0),),
        arrival_process=ArrivalProcess.POISSON,
        segments=(Spike(10.0, 100.0, 0.0, 100.0, 0.0, 5.0),),
    )
    p = plan(profile, compile_schedule(profile, 1), mean_journey_s=60.0)
    assert p.peak_in_flight == pytest.approx(100.0 * 60.0)
    # the whole excess (100/s × τ 5 s ≈ 500) fits in one 60 s window
    assert p.peak_in_flight_window == pytest.approx(500.0, rel=1e-3)
    assert p.peak_rate_at_s == pytest.approx(10.0)


def test_busiest_second_counts_the_schedule() -> None:
    offsets = np.array([0, 1, 2, 1_500_000_000, 1_600_000_000, 1_700_000_000, 1_800_000_000])
    schedule = Schedule(
        "flat", 0, ArrivalProcess.POISSON, 60.0, constant_profile().phases, offsets.astype(np.int64)
    )
    p = plan(constant_profile(), schedule)
    assert p.busiest_second_arrivals == 4
    assert p.busiest_second_start_s == 1.0
    assert p.scheduled_total == 7


def test_plan_rejects_a_non_positive_journey() -> None:
    profile = constant_profile()
    with pytest.raises(ValueError, match="mean_journey_s"):
        plan(profile, compile_schedule(profile, 0), mean_journey_s=0.0)


def test_format_plan_table() -> None:
    profile = constant_profile()
    text = format_plan(plan(profile, compile_schedule(profile, 7), mean_journey_s=30.0))
    lines = text.splitlines()
    assert lines[0] == "profile flat · uniform arrivals · seed 7 · 1m"
    assert lines[2].split() == [
        "phase",
        "from",
        "to",
        "expected",
        "scheduled",
        "mean",
        "rate",
        "peak",
        "rate",
    ]
    assert lines[3].split() == ["warmup", "0s", "20.0s", "200.0", "200", "10.0/s", "10.0/s"]
    assert lines[5].split() == ["total", "600.0", "600", "10.0/s", "10.0/s"]
    assert "busiest second: 10 arrivals" in text
    assert "300 at the peak rate (Little's law)" in text
