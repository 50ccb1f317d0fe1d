"""Live ``abort after`` thresholds: the rolling buffer of recent rows and the guard's ticks."""

from __future__ import annotations

from typing import Any

import pytest

from loadkit.errors import InputError
from loadkit.profiles import Phase
from loadkit.runner.guard import DEFAULT_SPAN_S, RecentRequests, ThresholdGuard
from loadkit.runner.recorder import Recorder, Row


def _row(response_ms: float, step: str = "checkout", outcome: str = "ok") -> Row:
    """A REQUEST_SCHEMA row as a visitor records it."""
    return (7, 0, "fan", step, "/buy", "GET", 1, 2, response_ms, response_ms, 200, outcome, None,
            5, 1, 1, 0, None)  # fmt: skip


def _record(recorder: Recorder, n: int, response_ms: float, **kw: Any) -> None:
    for _ in range(n):
        recorder.requests.append(_row(response_ms, **kw))


def test_rows_are_collected_once_even_when_a_flush_takes_them_between_ticks() -> None:
    recorder = Recorder()
    recent = RecentRequests(recorder, span_s=3.0, columns=["step"])
    _record(recorder, 4, 10.0)
    assert recent.collect(1.0) == 4
    _record(recorder, 2, 20.0)
    recorder.take()  # a flush: 6 rows leave, 2 of them not seen yet
    _record(recorder, 3, 30.0)
    recorder.take()  # a second flush before the guard looks again
    _record(recorder, 1, 40.0)
    assert recent.collect(2.0) == 6
    assert recent.collect(3.0) == 0
    frame = recent.recent(3.0, 3.0)
    assert sorted(frame["response_ms"]) == [10.0] * 4 + [20.0] * 2 + [30.0] * 3 + [40.0]
    assert list(frame.columns) == ["outcome", "response_ms", "service_ms", "step"]


def test_the_buffer_keeps_only_the_last_span() -> None:
    recorder = Recorder()
    recent = RecentRequests(recorder, span_s=2.0, columns=[])
    for tick in range(1, 6):
        _record(recorder, tick, float(tick))
        recent.collect(float(tick))
    assert len(recent) == 4 + 5  # ticks 4 and 5; older ticks were dropped
    assert sorted(set(recent.recent(5.0, 1.0)["response_ms"])) == [5.0]
    assert len(recent.recent(5.0, 2.0)) == 9
    assert len(recent.recent(5.0, 10.0)) == 9
    assert len(recent.recent(100.0, 1.0)) == 0


def test_guard_trips_after_the_breach_lasts_abort_after() -> None:
    recorder = Recorder()
    text = "p(95){step=checkout} < 50ms over 1s, abort after 3s"
    guard = ThresholdGuard([text, "error_rate < 1%"], recorder)
    assert guard.active and len(guard.watches) == 1
    answers = []
    for tick in range(1, 8):
        _record(recorder, 10, 200.0)  # slow checkouts
        _record(recorder, 10, 1.0, step="landing")  # fast, but not selected
        answers.append(guard.check(float(tick)))
    assert answers == [None, None, None, text, text, text, text]  # breached from t=1 to t=4


def test_guard_recovers_and_thin_ticks_do_not_count() -> None:
    recorder = Recorder()
    guard = ThresholdGuard(["p(95) < 50ms over 1s, abort after 2s"], recorder)
    for tick, (n, ms) in enumerate([(10, 200.0), (10, 200.0), (10, 5.0), (10, 200.0)], 1):
        _record(recorder, n, ms)
        assert guard.check(float(tick)) is None  # the fast tick reset the breach
    _record(recorder, 2, 200.0)  # 2 samples: too few to judge, neither extends nor resets
    assert guard.check(5.0) is None
    _record(recorder, 10, 200.0)
    assert guard.check(6.0) is not None  # breached since t=4, for 2 s


def test_guard_lists_what_it_cannot_judge_live_and_refuses_bad_text() -> None:
    recorder = Recorder()
    guard = ThresholdGuard(
        ["drops == 0, abort after 1s", "invariant(no_oversell), abort after 1s", "p95 < 1s"],
        recorder,
        phases=[Phase("spike", 0.0, 10.0)],
    )
    assert not guard.active
    assert [text for text, _ in guard.skipped] == [
        "drops == 0, abort after 1s",
        "invariant(no_oversell), abort after 1s",
    ]
    assert guard.recent.span_s == DEFAULT_SPAN_S
    with pytest.raises(InputError):
        ThresholdGuard(["p95x < 1s, abort after 1s"], recorder)


def test_guard_refuses_a_phase_the_run_does_not_have_before_any_load() -> None:
    with pytest.raises(InputError, match="Phases: spike, drain") as info:
        ThresholdGuard(
            ["p95 < 1s during nope, abort after 1s"], Recorder(), phases=[Phase("spike", 0, 10)]
        )
    assert "\n    p95 < 1s during nope, abort after 1s\n                    ^" in str(info.value)


def test_guard_watches_the_drain_after_the_last_phase() -> None:
    recorder = Recorder()
    text = "p(95) < 50ms over 1s during drain, abort after 1s"
    guard = ThresholdGuard([text], recorder, phases=[Phase("spike", 0.0, 3.0)])
    answers = []
    for tick in range(1, 7):
        _record(recorder, 10, 200.0)
        answers.append(guard.check(float(tick)))
    assert answers == [None, None, None, text, text, text]  # drain from t=3: aborts 1 s later
