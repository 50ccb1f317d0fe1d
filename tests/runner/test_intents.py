"""Retries per attempt and per intent: each attempt is a row, attempts of one intent are linked
(``intent_ns``), and ``open_run(...).intents`` shows each intent as the fan lived it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loadkit.results import open_run
from loadkit.results.schema import REQUEST_SCHEMA
from loadkit.results.writer import RecordKind, SegmentWriter, rows_to_table, write_manifest
from loadkit.runner.clock import Clock
from loadkit.runner.journey import compile_scenario
from loadkit.runner.recorder import Recorder
from loadkit.runner.visitor import Target, Visitor
from loadkit.scenario import load_scenario
from tests.runner.journey_server import JourneyServer, serve

COL = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}


@pytest.fixture(scope="module")
def server() -> Iterator[JourneyServer]:
    with serve() as s:
        yield s


def _journey_rows(tmp_path: Path, server: JourneyServer, steps_yaml: str) -> list[Any]:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: t\npersonas:\n  p:\n    steps:\n{steps_yaml}")
    persona = compile_scenario(load_scenario(path), seed=7).personas[0]
    recorder = Recorder()
    visitor = Visitor(3, "p", seed=7, target=Target.from_url(server.url), recorder=recorder,
                      clock=Clock.measure())  # fmt: skip
    try:
        persona.run(visitor)
    finally:
        visitor.close()
    return recorder.requests


def _open(tmp_path: Path, rows: list[Any], schema: pa.Schema = REQUEST_SCHEMA) -> Any:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if schema is REQUEST_SCHEMA:
        SegmentWriter(run_dir, 0).write_rows(RecordKind.REQUESTS, rows)
    else:  # an older run: rows without the columns the schema lacks
        (run_dir / "records").mkdir()
        table = rows_to_table([r[: len(schema)] for r in rows], schema)
        pq.write_table(table, run_dir / "records" / "requests-w0-000001.parquet")
    write_manifest(run_dir, {"schema_version": 1, "run_id": "r", "status": "completed",
                             "t0_ns": rows[0][COL["intended_ns"]]})  # fmt: skip
    return open_run(run_dir)


RETRIED = """\
      - {{name: landing, request: GET /json}}
      - name: pay
        retry:
          when: [503]
          attempts: 4
          backoff: [50ms, 100ms]
          steps:
            - {{name: pay, request: "POST /flaky/{key}?fail=2"}}
"""


def test_attempts_of_one_intent_are_linked_and_timed_from_the_backoff(
    tmp_path: Path, server: JourneyServer
) -> None:
    rows = _journey_rows(tmp_path, server, RETRIED.format(key="i1"))
    landing, *pay = rows
    assert [r[COL["attempt"]] for r in pay] == [1, 2, 3]
    assert [r[COL["status"]] for r in pay] == [503, 503, 201]
    first_intended = pay[0][COL["intended_ns"]]
    assert {r[COL["intent_ns"]] for r in pay} == {first_intended}
    assert landing[COL["intent_ns"]] == landing[COL["intended_ns"]]
    # each retry is intended at the failed attempt's end plus its backoff
    for before, after, backoff_ns in ((pay[0], pay[1], 50_000_000), (pay[1], pay[2], 100_000_000)):
        end_ns = before[COL["start_ns"]] + round(before[COL["service_ms"]] * 1e6)
        assert abs(after[COL["intended_ns"]] - (end_ns + backoff_ns)) <= 1


def test_the_intents_view_has_one_row_per_intent_as_the_fan_lived_it(
    tmp_path: Path, server: JourneyServer
) -> None:
    rows = _journey_rows(tmp_path, server, RETRIED.format(key="i2"))
    run = _open(tmp_path, rows)
    intents = run.intents
    assert list(intents["step"]) == ["landing", "pay"]
    assert list(intents["attempts"]) == [1, 3]
    assert list(intents["status"]) == [200, 201]
    assert list(intents["outcome"]) == ["ok", "ok"]
    pay = intents.iloc[1]
    requests = run.requests[run.requests["step"] == "pay"].sort_values("attempt")
    last = requests.iloc[-1]
    final_end_ns = last["intended_ns"] + round(last["response_ms"] * 1e6)
    assert pay["intended_ns"] == pay["intent_ns"] == requests["intended_ns"].iloc[0]
    assert pay["start_ns"] == requests["start_ns"].iloc[0]
    assert pay["end_ns"] == final_end_ns
    assert pay["response_ms"] == pytest.approx((final_end_ns - pay["intended_ns"]) / 1e6)
    assert pay["response_ms"] >= 150 + requests["service_ms"].sum() - 1e-6  # backoffs included
    assert pay["service_ms"] == last["service_ms"]
    # the frame speaks the requests frame's language: same names, same dtypes
    for column in ("arrival_id", "persona", "step", "name", "method", "outcome", "status"):
        assert intents[column].dtype == run.requests[column].dtype, column
    assert pay["t_s"] == pytest.approx((pay["intended_ns"] - run.t0_ns) / 1e9)


def test_an_intent_that_never_succeeded_ends_with_its_last_error(
    tmp_path: Path, server: JourneyServer
) -> None:
    rows = _journey_rows(tmp_path, server, """\
      - name: pay
        retry:
          when: [503]
          attempts: 2
          backoff: 1ms
          steps:
            - request: POST /flaky/i3?fail=9
""")  # fmt: skip
    (intent,) = _open(tmp_path, rows).intents.itertuples()
    assert (intent.attempts, intent.status, intent.outcome) == (2, 503, "http_error")
    assert intent.error == "unexpected status 503"


def test_runs_written_before_intent_ns_read_each_row_as_its_own_intent(
    tmp_path: Path, server: JourneyServer
) -> None:
    rows = _journey_rows(tmp_path, server, RETRIED.format(key="i4"))
    # the columns a run had before intent_ns (the later hop and label come after it)
    older = pa.schema(list(REQUEST_SCHEMA)[: COL["intent_ns"]])
    run = _open(tmp_path, rows, older)
    requests = run.requests
    assert (requests["intent_ns"] == requests["intended_ns"]).all()
    assert list(run.load_requests(["intent_ns"]).columns) == ["intent_ns"]
    assert len(run.intents) == len(rows) == 4
    assert not run.partial


def test_runs_written_before_redirect_hops_read_hop_0_and_no_label(
    tmp_path: Path, server: JourneyServer
) -> None:
    rows = _journey_rows(tmp_path, server, RETRIED.format(key="i6"))
    older = pa.schema(list(REQUEST_SCHEMA)[: COL["hop"]])
    requests = _open(tmp_path, rows, older).requests
    assert requests["hop"].tolist() == [0, 0, 0, 0]
    assert requests["label"].isna().all()


def test_a_run_without_requests_has_an_empty_intents_frame_with_every_column(
    tmp_path: Path, server: JourneyServer
) -> None:
    from loadkit.results.intents import intents

    run = _open(tmp_path, _journey_rows(tmp_path, server, RETRIED.format(key="i5")))
    empty = intents(run.requests.iloc[:0])
    assert empty.empty
    assert list(empty.columns) == list(run.intents.columns)
    assert (empty.dtypes == run.intents.dtypes).all()


def test_a_per_intent_gate_judges_the_retried_payment_as_the_fan_lived_it(
    tmp_path: Path, server: JourneyServer
) -> None:
    """Each attempt answered fast, so the per-request p(95) passes; the fan waited for two
    failures and 150 ms of backoff, so the same gate ``per=intent`` fails."""
    from loadkit.analysis import analyze
    from loadkit.gates import parse_threshold

    run = _open(tmp_path, _journey_rows(tmp_path, server, RETRIED.format(key="per-intent")))
    per_request = parse_threshold("max{step=pay} < 120ms min 1 samples")
    per_intent = parse_threshold("max{step=pay, per=intent} < 120ms min 1 samples")
    errors_per_intent = parse_threshold("error_rate{step=pay, per=intent} == 0% min 1 samples")
    gates = {g.text: g for g in analyze(run, [per_request, per_intent, errors_per_intent]).gates}
    assert gates[per_request.text].status.value == "passed"
    assert gates[per_request.text].samples == 1  # the one successful attempt
    assert gates[per_intent.text].status.value == "failed"
    assert gates[per_intent.text].observed is not None
    assert gates[per_intent.text].observed >= 150
    assert gates[errors_per_intent.text].status.value == "passed"  # the intent succeeded
    assert gates[errors_per_intent.text].samples == 1


def test_per_takes_request_or_intent_and_is_judged_after_the_run() -> None:
    from loadkit.errors import InputError
    from loadkit.gates import AbortWatch, NotLive, parse_threshold

    with pytest.raises(InputError, match=r"unknown per 'intents'.*Did you mean 'intent'"):
        parse_threshold("p(95){per=intents} < 1s")
    with pytest.raises(NotLive, match="per=intent"):
        AbortWatch(parse_threshold("p(95){per=intent} < 1s, abort after 5s"))
