"""The live board and its /metrics rendering: what a scrape and the page show for known rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadkit.profiles import Phase
from loadkit.runner.live_board import (
    ArrivalBatch,
    Arrivals,
    GateReading,
    Histogram,
    LiveBoard,
    RequestBatch,
    WorkerHealth,
)
from loadkit.runner.live_gates import LiveGates
from loadkit.runner.live_metrics import registry_for, render
from loadkit.runner.live_rows import RowReader
from loadkit.runner.recorder import Recorder


def samples(board: LiveBoard) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(registry_for(board)).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def requests(rows: list[tuple[str, str, int, float]], worker: int = 0) -> RequestBatch:
    return RequestBatch(
        worker=[worker] * len(rows),
        step=[r[0] for r in rows],
        outcome=[r[1] for r in rows],
        status=[r[2] for r in rows],
        response_ms=[r[3] for r in rows],
    )


def test_histogram_buckets_are_cumulative_with_le_bounds() -> None:
    import numpy as np

    h = Histogram((0.1, 1.0))
    h.add(np.array([0.05, 0.1, 0.5, 2.0]))
    assert h.cumulative() == [("0.1", 2.0), ("1", 3.0), ("+Inf", 4.0)]
    assert h.sum == pytest.approx(2.65)


def test_a_scrape_counts_requests_by_step_outcome_status_and_latency_of_ok_only() -> None:
    board = LiveBoard(run_id="r1", mode="local")
    board.add_requests(
        requests(
            [
                ("landing", "ok", 200, 20.0),
                ("landing", "ok", 200, 700.0),
                ("landing", "http_error", 503, 5.0),
                ("checkout", "timeout", 0, 10_000.0),
            ]
        )
    )
    board.arrivals = Arrivals(scheduled=10, started=8, dropped=1, in_flight=3)
    board.arrivals_by_worker = {0: board.arrivals}
    board.tick(1.0, 1000.0)
    got = samples(board)
    w0 = ("worker", "0")
    assert (
        got[
            (
                "loadkit_requests_total",
                (("outcome", "ok"), ("status", "200"), ("step", "landing"), w0),
            )
        ]
        == 2
    )
    assert (
        got[
            (
                "loadkit_requests_total",
                (("outcome", "http_error"), ("status", "503"), ("step", "landing"), w0),
            )
        ]
        == 1
    )
    # latency histograms hold ok requests only, in seconds
    assert got[("loadkit_response_time_seconds_count", (("step", "landing"),))] == 2
    assert (
        got[("loadkit_response_time_seconds_bucket", (("le", "0.025"), ("step", "landing")))] == 1
    )
    assert got[("loadkit_response_time_seconds_sum", (("step", "landing"),))] == pytest.approx(0.72)
    assert ("loadkit_response_time_seconds_count", (("step", "checkout"),)) not in got
    assert got[("loadkit_arrivals_scheduled_total", ())] == 10
    assert got[("loadkit_arrivals_started_total", (w0,))] == 8
    assert got[("loadkit_arrivals_dropped_total", (w0,))] == 1
    assert got[("loadkit_visitors_in_flight", (w0,))] == 3
    snap = board.snapshot()
    json.dumps(snap, allow_nan=False)
    assert snap["errors_total"] == {"HTTP 503": 1, "timeout": 1}
    (landing,) = [s for s in snap["steps"] if s["step"] == "landing"]
    assert (landing["ok"], landing["p50"], landing["p99"]) == (2, 20.0, 700.0)


def test_funnel_outcomes_and_leave_reasons_come_from_ended_arrivals() -> None:
    board = LiveBoard(run_id="r1", mode="master")
    batch = ArrivalBatch(
        worker=[0, 0, 1, 1],
        outcome=["completed", "abandoned", "dropped", "gave_up"],
        reason=[None, "left the queue", "in-flight cap of 5 was full", "poll deadline"],
        lateness_ms=[1.0, 2.0, None, 30.0],
        joined=[True, True, False, True],
        admitted=[True, False, False, False],
        held=[True, False, False, False],
        paid=[True, False, False, False],
    )
    board.add_arrivals(batch, lateness=True)
    board.tick(2.0, 1000.0)
    got = samples(board)
    funnel = {
        s: got[("loadkit_funnel_visitors_total", (("stage", s),))]
        for s in ("arrived", "joined", "admitted", "held", "paid")
    }
    assert funnel == {"arrived": 3, "joined": 3, "admitted": 1, "held": 1, "paid": 1}
    assert got[("loadkit_arrivals_ended_total", (("outcome", "dropped"), ("worker", "1")))] == 1
    assert (
        got[
            (
                "loadkit_leave_reasons_total",
                (("outcome", "abandoned"), ("reason", "left the queue")),
            )
        ]
        == 1
    )
    assert (
        "loadkit_leave_reasons_total",
        (("outcome", "dropped"), ("reason", "in-flight cap of 5 was full")),
    ) not in got
    assert got[("loadkit_arrival_lateness_seconds_count", ())] == 3
    assert board.snapshot()["arrivals"]["lateness_p99_ms"] == 30.0


def test_the_last_minute_forgets_older_ticks_but_totals_do_not() -> None:
    board = LiveBoard(run_id="r1", mode="local")
    board.add_requests(requests([("landing", "ok", 200, 900.0)]))
    board.tick(1.0, 1.0)
    board.add_requests(requests([("landing", "ok", 200, 10.0)]))
    board.tick(62.0, 62.0)
    (landing,) = board.snapshot()["steps"]
    assert (landing["ok"], landing["p99"]) == (1, 10.0)
    assert board.snapshot()["requests"] == 2
    assert [round(p.requests_per_s, 3) for p in board.series] == [round(1 / 61, 3)]


def test_gates_show_pass_breach_countdown_and_after_run() -> None:
    gates = LiveGates(
        [
            "error_rate < 10% over 5s, abort after 3s",
            "p(95){step=landing} < 100ms",
            "invariant(no_oversell)",
        ],
        phases=[Phase("main", 0.0, 60.0)],
        onsale_offset_s=0.0,
    )
    assert gates.columns[:3] == ("outcome", "response_ms", "service_ms") and "step" in gates.columns

    def frame(ok: int, bad: int, ms: float) -> pd.DataFrame:
        n = ok + bad
        return pd.DataFrame(
            {
                "outcome": ["ok"] * ok + ["http_error"] * bad,
                "response_ms": [ms] * n,
                "service_ms": [ms] * n,
                "step": ["landing"] * n,
            }
        )

    first = gates.update(1.0, frame(100, 0, 50.0))
    assert [g.state for g in first] == ["pass", "pass", "after_run"]
    assert [g.colour for g in first] == ["green", "green", "grey"]
    breach = gates.update(2.0, frame(100, 100, 500.0))
    assert breach[0].state == "breach" and breach[0].colour == "amber"
    assert breach[0].abort_in_s == pytest.approx(3.0)
    assert breach[1].state == "breach" and breach[1].colour == "red"  # no abort: red at once
    assert (breach[1].shown, breach[0].shown) == ("500ms", "33.3%")  # 100 errors of 300 over 5 s
    later = gates.update(4.0, frame(100, 100, 500.0))
    assert later[0].abort_in_s == pytest.approx(1.0)
    tripped = gates.update(5.0, frame(100, 100, 500.0))
    assert tripped[0].state == "tripped" and tripped[0].colour == "red"
    board = LiveBoard(run_id="r", mode="local", gates=tripped)
    got = samples(board)
    text = "error_rate < 10% over 5s, abort after 3s"
    assert got[("loadkit_gate_state", (("gate", text), ("state", "tripped")))] == 1
    assert got[("loadkit_gate_state", (("gate", text), ("state", "pass")))] == 0


def test_row_reader_sees_rows_a_flush_took_before_it_looked_exactly_once() -> None:
    recorder = Recorder()
    reader = RowReader(recorder, "arrivals")
    recorder.arrivals.append(("a",))
    assert reader.read() == [("a",)]
    recorder.arrivals.append(("b",))
    recorder.arrivals.append(("c",))
    recorder.take()  # a flush swaps the list before the reader's next look
    recorder.arrivals.append(("d",))
    assert reader.read() == [("b",), ("c",), ("d",)]
    assert reader.read() == []


def test_workers_health_is_exported() -> None:
    board = LiveBoard(
        run_id="r",
        mode="master",
        workers=(
            WorkerHealth(0, "gen-a", "running", True, cpu_percent=55.0, last_heard_s=0.4),
            WorkerHealth(1, "gen-b", "lost", False, last_heard_s=7.0),
        ),
        gates=(GateReading("x < 1", "no_data"),),
    )
    got = samples(board)
    assert got[("loadkit_worker_up", (("fate", "lost"), ("host", "gen-b"), ("worker", "1")))] == 0
    assert got[("loadkit_worker_cpu_percent", (("worker", "0"),))] == 55.0
    assert got[("loadkit_worker_last_heard_seconds", (("worker", "1"),))] == 7.0


def test_gates_follow_steps_that_appear_later_in_the_run() -> None:
    gates = LiveGates(["error_rate{step=b} < 10%"], phases=[], onsale_offset_s=0.0)

    def frame(steps: list[str], outcome: str) -> pd.DataFrame:
        n = len(steps)
        cols = {"outcome": [outcome] * n, "response_ms": [1.0] * n, "service_ms": [1.0] * n}
        return pd.DataFrame({**cols, "step": steps})

    assert gates.update(-0.5, frame([], "ok"))[0].state == "no_data"  # the warm-up tick
    assert gates.update(1.0, frame(["a"] * 200, "ok"))[0].state == "no_data"
    second = gates.update(2.0, frame(["b"] * 200, "http_error"))[0]
    assert (second.state, second.value, second.samples) == ("breach", 1.0, 200)
    third = gates.update(3.0, frame(["c"] * 10 + ["b"] * 1800, "ok"))[0]
    assert third.samples == 2000 and third.value == pytest.approx(0.1)
