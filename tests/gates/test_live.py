"""AbortWatch: the runner's live evaluator of 'abort after D' thresholds."""

from __future__ import annotations

import pandas as pd
import pytest

from loadkit.gates import AbortWatch, NotLive, parse_threshold
from loadkit.profiles import Phase


def _tick(ms: float, n: int = 20, step: str = "checkout", outcome: str = "ok") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": [step] * n,
            "outcome": [outcome] * n,
            "response_ms": [ms] * n,
            "service_ms": [ms] * n,
        }
    )


def test_aborts_only_after_the_breach_lasts() -> None:
    watch = AbortWatch(parse_threshold("p(95){step=checkout} < 1s, abort after 10s"))
    answers = [watch.update(float(t), _tick(2000.0), 1.0) for t in range(12)]
    assert answers.index(True) == 10
    assert watch.last is not None and watch.last.breached and watch.last.value == 2000.0


def test_a_passing_tick_resets_and_thin_ticks_do_not_count() -> None:
    watch = AbortWatch(parse_threshold("p(95){step=checkout} < 1s, abort after 5s"))
    for t in range(4):
        assert not watch.update(float(t), _tick(2000.0), 1.0)
    assert not watch.update(4.0, _tick(100.0), 1.0)  # recovered: reset
    assert not watch.update(5.0, _tick(2000.0, n=2), 1.0)  # 2 samples: neither
    assert watch.last is not None and watch.last.breached is None


def test_error_rate_and_phase_range() -> None:
    th = parse_threshold("error_rate < 10% during spike, abort after 2s")
    watch = AbortWatch(th, phases=[Phase("spike", 30.0, 60.0)])
    errors = _tick(10.0, outcome="http_error")
    assert not watch.update(10.0, errors, 1.0)  # outside the phase
    assert [watch.update(t, errors, 1.0) for t in (30.0, 31.0, 32.0)] == [False, False, True]


def test_arrival_stats_are_refused() -> None:
    with pytest.raises(NotLive, match="request stats only"):
        AbortWatch(parse_threshold("drops == 0, abort after 1s"))
