"""Progress lines and the phase shown in them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from loadkit.runner.progress import (
    CpuMeter,
    Progress,
    format_progress,
    percentile,
    phase_at,
    process_cpu_s,
)


@dataclass(frozen=True)
class _Phase:
    name: str
    start_s: float
    end_s: float


PHASES = [_Phase("prequeue", 0, 10), _Phase("spike", 10, 20)]


def test_phase_at_covers_before_during_and_after() -> None:
    assert phase_at(PHASES, -1.0) == "start"
    assert phase_at(PHASES, 0.0) == "prequeue"
    assert phase_at(PHASES, 12.0) == "spike"
    assert phase_at(PHASES, 25.0) == "drain"
    assert phase_at([], 3.0) == "start"


def test_progress_line_has_every_figure() -> None:
    line = format_progress(Progress(12.0, "spike", 355, 340, 15, 42, 310.4, 3, 1.23))
    assert line == (
        "[  12.0s spike] arrivals 340/355 started, 15 dropped, 42 in flight, 310 req/s, "
        "3 errors, lateness p99 1.2ms"
    )
    assert "lateness p99 -" in format_progress(Progress(0.5, "start", 0, 0, 0, 0, 0.0, 0, None))


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) is None
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([5.0], 99) == 5.0


def test_progress_line_shows_cpu_when_measured() -> None:
    p = Progress(3.0, "spike", 10, 10, 0, 1, 5.0, 0, 1.0, cpu_percent=43.4)
    assert format_progress(p).endswith("lateness p99 1.0ms, cpu 43%")


class _FakeTimes:
    """Wall and CPU clocks a test moves by hand."""

    def __init__(self) -> None:
        self.wall_s = 100.0
        self.cpu_s = 7.0

    def advance(self, wall_s: float, cpu_s: float) -> None:
        self.wall_s += wall_s
        self.cpu_s += cpu_s


def test_cpu_meter_is_cpu_seconds_per_wall_second() -> None:
    t = _FakeTimes()
    meter = CpuMeter(wall_s=lambda: t.wall_s, cpu_s=lambda: t.cpu_s)
    assert meter.summary() == {}
    t.advance(1.0, 0.43)
    assert meter.sample() == pytest.approx(43.0)
    assert meter.sample() is None  # no wall time passed: no sample
    for busy_s in [0.2] * 18 + [1.0]:  # one saturated second among twenty
        t.advance(1.0, busy_s)
        meter.sample()
    t.advance(2.0, 0.5)  # samples cover the time since the previous one, however long
    assert meter.sample() == pytest.approx(25.0)
    assert len(meter.samples) == 21
    assert meter.summary() == {"cpu_percent_max": 100.0, "cpu_percent_p95": 43.0}


def test_cpu_meter_measures_this_process() -> None:
    meter = CpuMeter()
    start_s, deadline_s = process_cpu_s(), time.monotonic() + 5.0
    while process_cpu_s() - start_s < 0.05 and time.monotonic() < deadline_s:
        pass  # busy until the OS has counted some CPU time
    percent = meter.sample()
    assert percent is not None and percent > 0.0
