"""The compiled schedule: Poisson counts and shape, determinism, even spacing, shards, phases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.errors import InputError
from loadkit.profiles import (
    NS_PER_S,
    ArrivalProcess,
    Constant,
    Phase,
    Profile,
    Ramp,
    Scale,
    Schedule,
    Segment,
    Spike,
    Steps,
    compile_schedule,
)

PHASES = (Phase("prequeue", 0.0, 60.0), Phase("spike", 60.0, 90.0), Phase("tail", 90.0, 150.0))


def spike_profile(process: ArrivalProcess = ArrivalProcess.POISSON) -> Profile:
    return Profile(
        name="spike",
        duration_s=150.0,
        onsale_at_s=60.0,
        phases=PHASES,
        arrival_process=process,
        segments=(Ramp(0.0, 60.0, 2.0, 10.0), Spike(60.0, 150.0, 6.0, 45.0, 2.0, 20.0)),
    )


def one_phase(process: ArrivalProcess, duration_s: float, *segments: Segment) -> Profile:
    return Profile("t", duration_s, None, (Phase("run", 0.0, duration_s),), process, segments)


@pytest.mark.parametrize("seed", [0, 1, 7, 123456789])
def test_poisson_phase_counts_within_four_sigma(seed: int) -> None:
    profile = spike_profile()
    schedule = compile_schedule(profile, seed)
    for phase in profile.phases:
        expected = profile.expected_arrivals(phase.start_s, phase.end_s)
        got = schedule.phase_counts()[phase.name]
        assert abs(got - expected) < 4 * math.sqrt(expected), (phase.name, got, expected)


def test_poisson_shape_follows_the_rate_chi_square() -> None:
    # 40x the demo crowd (~68k arrivals) so that every 1 s bin has enough arrivals to test.
    profile = spike_profile().scaled(Scale(time=1.0, crowd=40.0))
    schedule = compile_schedule(profile, seed=2024)
    edges_s = np.arange(0.0, 151.0, 1.0)
    observed = np.bincount(schedule.offsets_ns // NS_PER_S, minlength=150)[:150]
    expected = np.diff(profile.cumulative_arrivals(edges_s))
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    dof = expected.size
    assert abs(chi2 - dof) < 4 * math.sqrt(2 * dof), chi2
    # and the spike is really where the profile says: the busiest second is just after t0
    assert 60 <= int(np.argmax(observed)) <= 64


def test_same_seed_same_schedule_bit_for_bit() -> None:
    a = compile_schedule(spike_profile(), 42).offsets_ns
    b = compile_schedule(spike_profile(), 42).offsets_ns
    assert a.dtype == np.int64
    assert np.array_equal(a, b)


def test_different_seeds_differ() -> None:
    a = compile_schedule(spike_profile(), 1).offsets_ns
    b = compile_schedule(spike_profile(), 2).offsets_ns
    assert a.size != b.size or not np.array_equal(a, b)


def test_offsets_sorted_and_inside_the_profile() -> None:
    s = compile_schedule(spike_profile(), 5)
    assert np.all(np.diff(s.offsets_ns) >= 0)
    assert s.offsets_ns[0] >= 0
    assert s.offsets_ns[-1] <= 150 * NS_PER_S
    assert not s.offsets_ns.flags.writeable


def test_uniform_constant_rate_is_evenly_spaced() -> None:
    s = compile_schedule(one_phase(ArrivalProcess.UNIFORM, 60.0, Constant(0.0, 60.0, 10.0)), 0)
    assert len(s) == 600
    assert s.offsets_ns[0] == 50_000_000  # the first arrival sits mid-way in its 0.1 s slot
    assert set(np.diff(s.offsets_ns).tolist()) == {100_000_000}


def test_uniform_ignores_the_seed() -> None:
    profile = spike_profile(ArrivalProcess.UNIFORM)
    a, b = compile_schedule(profile, 1), compile_schedule(profile, 99)
    assert np.array_equal(a.offsets_ns, b.offsets_ns)
    assert len(a) == round(profile.expected_arrivals())


def test_uniform_steps_spacing_follows_each_rate() -> None:
    profile = one_phase(ArrivalProcess.UNIFORM, 60.0, Steps(0.0, 30.0, (5.0, 20.0)))
    gaps = np.diff(compile_schedule(profile, 0).offsets_ns)
    assert len(compile_schedule(profile, 0)) == 750
    assert np.all(np.abs(gaps[:140] - 200_000_000) <= 1)
    assert np.all(np.abs(gaps[-590:] - 50_000_000) <= 1)


@settings(max_examples=40, deadline=None)
@given(
    rates=st.lists(st.floats(0.5, 40.0), min_size=1, max_size=5),
    width_s=st.floats(1.0, 30.0),
)
def test_uniform_arrivals_are_exact_quantiles(rates: list[float], width_s: float) -> None:
    segments = [Ramp(i * width_s, (i + 1) * width_s, r, rates[-1 - i]) for i, r in enumerate(rates)]
    profile = one_phase(ArrivalProcess.UNIFORM, width_s * len(rates), *segments)
    s = compile_schedule(profile, 0)
    total = profile.expected_arrivals()
    k = np.arange(len(s))
    cum = profile.cumulative_arrivals(s.offsets_ns / NS_PER_S)
    # Λ at arrival k is (k + 1/2) Λ(T) / N, up to the 1 ns rounding of the offsets
    slack = 1e-9 * max(rates) * 2 + 1e-9 * total
    assert np.all(np.abs(cum - (k + 0.5) * total / len(s)) <= slack)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 3000),
    total_shards=st.integers(1, 64),
    data=st.data(),
)
def test_shards_partition_the_schedule(n: int, total_shards: int, data: st.DataObject) -> None:
    offsets = np.sort(np.random.default_rng(n).integers(0, 10**10, n)).astype(np.int64)
    schedule = Schedule("t", 0, ArrivalProcess.POISSON, 10.0, (Phase("run", 0, 10.0),), offsets)
    groups = data.draw(st.integers(1, total_shards))
    owner = [data.draw(st.integers(0, groups - 1)) for _ in range(total_shards)]
    seen = []
    for g in range(groups):
        ids, offs = schedule.for_shards(
            [s for s in range(total_shards) if owner[s] == g], total_shards
        )
        assert np.all(np.diff(ids) > 0)
        assert np.array_equal(offs, offsets[ids])
        assert all(owner[int(i) % total_shards] == g for i in ids)
        seen.append(ids)
    union = np.concatenate(seen)
    assert union.size == n  # disjoint ...
    assert np.array_equal(np.sort(union), np.arange(n))  # ... and complete


def test_for_shards_rejects_bad_shards() -> None:
    s = compile_schedule(spike_profile(), 0)
    with pytest.raises(ValueError, match="outside"):
        s.for_shards([8], 8)
    with pytest.raises(ValueError, match="total_shards"):
        s.for_shards([0], 0)


def test_phase_of_and_phase_index() -> None:
    s = compile_schedule(spike_profile(), 0)
    assert s.phase_of(0.0) == "prequeue"
    assert s.phase_of(59.999) == "prequeue"
    assert s.phase_of(60.0) == "spike"
    assert s.phase_of(90.0) == "tail"
    assert s.phase_of(150.0) == "tail"  # the last phase owns the end
    idx = s.phase_index(s.offsets_ns)
    names = np.array(s.phase_names)[idx]
    in_spike = (s.offsets_ns >= 60 * NS_PER_S) & (s.offsets_ns < 90 * NS_PER_S)
    assert np.all((names == "spike") == in_spike)
    assert sum(s.phase_counts().values()) == len(s)


def test_many_arrivals_compile_with_exact_inversion() -> None:
    profile = spike_profile().scaled(Scale(time=1.0, crowd=200.0))  # ~340k arrivals
    s = compile_schedule(profile, 3)
    expected = profile.expected_arrivals()
    assert abs(len(s) - expected) < 5 * math.sqrt(expected)
    # Λ at the arrivals must be the sorted uniform targets: check its increments are >= 0
    # and that the last arrival's Λ is just under the total.
    cum = profile.cumulative_arrivals(s.offsets_ns[-1000:] / NS_PER_S)
    assert np.all(np.diff(cum) >= -1e-6)
    assert expected - 50 < cum[-1] <= expected + 1e-6


def test_negative_seed_is_bad_input() -> None:
    with pytest.raises(InputError, match="non-negative integer"):
        compile_schedule(spike_profile(), -1)


def test_too_many_arrivals_is_bad_input() -> None:
    huge = one_phase(ArrivalProcess.POISSON, 1000.0, Constant(0.0, 1000.0, 1e6))
    with pytest.raises(InputError, match="more than one schedule"):
        compile_schedule(huge, 0)
