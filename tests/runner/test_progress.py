"""Progress lines and the phase shown in them."""

from __future__ import annotations

from dataclasses import dataclass

from loadkit.runner.progress import Progress, format_progress, percentile, phase_at


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
