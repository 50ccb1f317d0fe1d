"""The engine: arrivals start on schedule, all are accounted for, caps drop, errors are rows."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from loadkit.results.schema import ArrivalOutcome, RunStatus
from loadkit.results.writer import SegmentWriter
from loadkit.runner.clock import Clock
from loadkit.runner.core import Arrivals, Engine, EngineOptions, EngineResult, PersonaLike
from loadkit.runner.flusher import Flusher
from loadkit.runner.journey import compile_scenario
from loadkit.runner.recorder import Recorder
from loadkit.runner.visitor import Target
from loadkit.scenario import load_scenario
from tests.runner.standins import GetLoop, Sleeper
from tests.runner.truth_server import truth_server


def _arrivals(offsets_s: list[float], persona_index: list[int] | None = None) -> Arrivals:
    n = len(offsets_s)
    return Arrivals(
        ids=np.arange(n, dtype=np.int64),
        offsets_ns=(np.asarray(offsets_s) * 1e9).astype(np.int64),
        persona_index=np.asarray(persona_index or [0] * n),
    )


def _run(
    tmp_path: Path,
    url: str,
    arrivals: Arrivals,
    personas: list[PersonaLike],
    **options: Any,
) -> tuple[EngineResult, Engine]:
    clock = Clock.measure()
    flusher = Flusher(Recorder(), SegmentWriter(tmp_path, 0), interval_s=0.2)
    engine = Engine(
        arrivals,
        personas,
        target=Target.from_url(url, request_timeout_s=2.0, connect_timeout_s=1.0),
        flusher=flusher,
        clock=clock,
        t0_ns=clock.now_ns() + 50_000_000,
        options=EngineOptions(progress_interval_s=0.1, **options),
    )
    return engine.run(), engine


def _table(tmp_path: Path, kind: str) -> Any:
    files = sorted((tmp_path / "records").glob(f"{kind}-w0-*.parquet"))
    return pq.read_table(files).to_pandas() if files else None


def test_every_arrival_starts_near_its_time_and_is_recorded(
    tmp_path: Path, tiny_server: Any
) -> None:
    offsets = [0.0, 0.01, 0.02, 0.1, 0.1, 0.25]
    result, _ = _run(tmp_path, tiny_server.url, _arrivals(offsets), [GetLoop(repeat=2)])
    assert result.status is RunStatus.COMPLETED
    assert (result.scheduled, result.started, result.dropped) == (6, 6, 0)
    arrivals = _table(tmp_path, "arrivals").sort_values("arrival_id")
    assert list(arrivals["outcome"]) == ["completed"] * 6
    gaps_ns = arrivals["actual_ns"].to_numpy() - arrivals["scheduled_ns"].to_numpy()
    assert (gaps_ns >= 0).all()
    np.testing.assert_allclose(arrivals["lateness_ms"], gaps_ns / 1e6)
    sched = arrivals["scheduled_ns"].to_numpy() - arrivals["scheduled_ns"].min()
    np.testing.assert_array_equal(sched, (np.asarray(offsets) * 1e9).astype(np.int64))
    requests = _table(tmp_path, "requests")
    assert len(requests) == 12
    assert set(requests["status"]) == {200}
    assert set(requests["outcome"]) == {"ok"}
    assert (requests["bytes"] == 5).all()
    assert list(arrivals["requests"]) == [2] * 6
    # the manifest says which start timer ran (Linux: the precise one)
    assert result.start_timer == ("timerfd" if sys.platform.startswith("linux") else "libev")


def test_the_portable_start_timer_runs_the_same_schedule(tmp_path: Path, tiny_server: Any) -> None:
    offsets = [0.0, 0.003, 0.003, 0.02, 0.05]
    result, _ = _run(
        tmp_path, tiny_server.url, _arrivals(offsets), [GetLoop(repeat=1)], precise_timer=False
    )
    assert result.start_timer == "libev"
    assert (result.scheduled, result.started, result.dropped) == (5, 5, 0)
    arrivals = _table(tmp_path, "arrivals")
    assert (arrivals["actual_ns"] >= arrivals["scheduled_ns"]).all()
    assert list(arrivals["outcome"]) == ["completed"] * 5


def test_cap_turns_overflow_into_dropped_rows(tmp_path: Path, tiny_server: Any) -> None:
    arrivals = _arrivals([0.0, 0.0, 0.0, 0.01, 0.02])
    result, _ = _run(tmp_path, tiny_server.url, arrivals, [Sleeper(seconds=0.3)], max_in_flight=2)
    assert (result.scheduled, result.started, result.dropped) == (5, 2, 3)
    rows = _table(tmp_path, "arrivals")
    dropped = rows[rows["outcome"] == ArrivalOutcome.DROPPED.value]
    assert len(dropped) == 3
    assert dropped["actual_ns"].isna().all()
    assert dropped["lateness_ms"].isna().all()
    assert "in-flight cap" in dropped["reason"].iloc[0]


def test_unreachable_target_gives_connection_error_rows(
    tmp_path: Path, closed_port_url: str
) -> None:
    result, _ = _run(tmp_path, closed_port_url, _arrivals([0.0, 0.01]), [GetLoop(repeat=3)])
    assert result.status is RunStatus.COMPLETED
    assert result.errors == 6
    requests = _table(tmp_path, "requests")
    assert len(requests) == 6
    assert set(requests["outcome"]) == {"connection_error"}
    assert set(requests["status"]) == {0}
    assert requests["error"].str.contains("refused", case=False).all()


def test_stop_aborts_and_records_killed_journeys(tmp_path: Path, tiny_server: Any) -> None:
    import gevent

    clock = Clock.measure()
    flusher = Flusher(Recorder(), SegmentWriter(tmp_path, 0), interval_s=0.2)
    engine = Engine(
        _arrivals([0.0, 0.0, 5.0]),
        [Sleeper(seconds=30)],
        target=Target.from_url(tiny_server.url),
        flusher=flusher,
        clock=clock,
        t0_ns=clock.now_ns(),
        options=EngineOptions(),
    )
    gevent.spawn_later(0.2, engine.stop, "interrupted (test)")
    result = engine.run()
    assert result.status is RunStatus.ABORTED
    assert result.stop_reason == "interrupted (test)"
    rows = _table(tmp_path, "arrivals")
    assert len(rows) == 2  # the third was never due
    assert set(rows["outcome"]) == {"cut"}  # stopped by the user, not failed by the target
    assert rows["reason"].str.startswith("cut: the run was stopped").all()


def test_arrivals_must_be_sorted() -> None:
    with pytest.raises(ValueError, match="sorted"):
        _arrivals([0.2, 0.1])


def test_visitor_greenlets_are_reused_and_none_outlive_the_run(
    tmp_path: Path, tiny_server: Any
) -> None:
    # one after another: each journey ends before the next arrival, so one greenlet runs them all
    offsets = [i * 0.03 for i in range(12)]
    result, engine = _run(tmp_path, tiny_server.url, _arrivals(offsets), [GetLoop(repeat=2)])
    assert (result.started, result.dropped) == (12, 0)
    assert engine.runners_started <= 3
    arrivals = _table(tmp_path, "arrivals").sort_values("arrival_id")
    assert list(arrivals["arrival_id"]) == list(range(12))
    assert list(arrivals["outcome"]) == ["completed"] * 12
    assert list(arrivals["requests"]) == [2] * 12  # no visitor inherits another's counts
    requests = _table(tmp_path, "requests")
    assert requests.groupby("arrival_id").size().to_dict() == {i: 2 for i in range(12)}
    assert len(engine.group) == 0  # parked greenlets were ended with the run


def test_overlapping_visitors_each_get_their_own_greenlet(tmp_path: Path, tiny_server: Any) -> None:
    offsets = [0.0, 0.001, 0.002, 0.003, 0.2, 0.201]
    result, engine = _run(tmp_path, tiny_server.url, _arrivals(offsets), [Sleeper(seconds=0.1)])
    assert (result.started, result.dropped) == (6, 0)
    # four at once need four greenlets; the two later ones reuse parked ones
    assert engine.runners_started == 4
    arrivals = _table(tmp_path, "arrivals")
    assert list(arrivals["outcome"]) == ["completed"] * 6
    assert ((arrivals["end_ns"] - arrivals["actual_ns"]) >= 100_000_000).all()


class _SlowStart:
    """A compiled persona whose visitors first burn ``burn_s`` of CPU (a heavy journey start):
    enough arrivals at once push the engine past what one core can start on time."""

    def __init__(self, inner: Any, burn_s: float) -> None:
        self.inner, self.name, self.burn_s = inner, inner.name, burn_s

    def run(self, visitor: Any) -> Any:
        end = time.perf_counter() + self.burn_s
        while time.perf_counter() < end:
            pass
        return self.inner.run(visitor)


def test_requests_are_timed_from_the_schedule_when_the_generator_runs_late(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "late.yaml"
    scenario.write_text("""\
name: late
personas:
  p:
    steps:
      - {name: first, request: GET /delay/1}
      - think: 50ms
      - {name: second, request: GET /delay/1}
""")  # fmt: skip
    persona = compile_scenario(load_scenario(scenario), seed=1).personas[0]
    # 200 arrivals in 0.2 s, each with 4 ms of CPU before its first request: 0.8 s of work
    offsets = [i * 0.001 for i in range(200)]
    with truth_server() as server:
        result, _ = _run(tmp_path / "run", server.url, _arrivals(offsets),
                         [_SlowStart(persona, 0.004)])  # fmt: skip
    assert (result.started, result.dropped) == (200, 0)
    arrivals = _table(tmp_path / "run", "arrivals").set_index("arrival_id")
    assert arrivals["lateness_ms"].max() > 200  # lateness is visible: the test means something
    requests = _table(tmp_path / "run", "requests")
    assert set(requests["outcome"]) == {"ok"} and len(requests) == 400
    first = requests[requests["step"] == "first"].set_index("arrival_id").sort_index()
    second = requests[requests["step"] == "second"].set_index("arrival_id").sort_index()
    scheduled = arrivals["scheduled_ns"].astype("int64").sort_index()
    lateness_ms = arrivals["lateness_ms"].sort_index()
    # the first request is intended at the arrival's scheduled start, not when it got to run
    assert (first["intended_ns"] == scheduled).all()
    assert (first["response_ms"] >= first["service_ms"] + lateness_ms + 4.0).all()
    np.testing.assert_allclose(
        first["response_ms"] - first["service_ms"],
        (first["start_ns"] - first["intended_ns"]) / 1e6,
        atol=1e-6,
    )
    # the next one at the first one's end plus the 50 ms think
    first_end_ns = first["intended_ns"] + (first["response_ms"] * 1e6).round().astype("int64")
    gap_ns = second["intended_ns"] - first_end_ns
    assert (gap_ns - 50_000_000).abs().max() <= 1
    assert (second["response_ms"] >= second["service_ms"]).all()
    # each request is its own intent outside retry blocks
    assert (requests["intent_ns"] == requests["intended_ns"]).all()
