"""AbortWatch: the runner's live evaluator of 'abort after D' thresholds."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.gates import AbortWatch, NotLive, Records, evaluate_threshold, parse_threshold
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


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(0.0, 9.99),
            st.sampled_from(["checkout", "landing"]),
            st.sampled_from(["ok", "ok", "http_error", "timeout"]),
            st.sampled_from([3.0, 40.0, 800.0, 2500.0]),
        ),
        max_size=30,
    ),
    text=st.sampled_from(
        [
            "p(95){step=checkout} < 1s",
            "avg < 100ms min 1 samples",
            "error_rate{step=checkout} < 10%",
            "error_rate{outcome=timeout} < 5% min 0 samples",
            "count{step=landing} >= 3",
            "count < 20",
        ]
    ),
)
def test_a_live_tick_sees_what_the_analyzer_sees_on_the_same_rows(
    rows: list[tuple[float, str, str, float]], text: str
) -> None:
    frame = pd.DataFrame(rows, columns=["t_s", "step", "outcome", "response_ms"])
    frame["service_ms"] = frame["response_ms"]
    th = parse_threshold(f"{text} from t0 to t0+10s, abort after 0s")
    watch = AbortWatch(th)
    value, samples = watch.measure(10.0, frame, 10.0)
    arrivals = pd.DataFrame({"t_s": [0.0], "outcome": ["completed"], "persona": ["fan"]})
    offline = evaluate_threshold(th, Records(frame, arrivals, (), 0.0, 10.0))
    if offline.reason.startswith("no record has"):  # offline: a name no record of the run has;
        assert samples == 0  # live, the run is not over: a quiet step is 0 so far
        return
    if offline.observed is None:  # too few samples offline: the live tick does not judge either
        assert not watch.update(9.5, frame, 10.0)
        assert watch.last is not None and watch.last.breached is None
        return
    assert samples == offline.samples
    assert value == pytest.approx(offline.observed)
    assert watch.update(9.5, frame, 10.0) is (offline.status.value == "failed")
