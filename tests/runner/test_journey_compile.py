"""Compiling scenarios: persona assignment, feeders (unique across workers), env, failures
without a network (a fake visitor)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.errors import InputError, Location
from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.runner.journey import ArrivalFacts, HttpResult, JourneyEnd, compile_scenario
from loadkit.runner.journey.feeders import FeederState
from loadkit.scenario import load_scenario
from loadkit.scenario.models import Feeder, FeederMode


class FakeVisitor:
    """The Visitor protocol without a network: every request answers ``status`` with ``body``."""

    def __init__(self, arrival_id: int = 0, status: int = 200, body: bytes = b"{}") -> None:
        self.arrival_id = arrival_id
        self.persona = "p"
        self.rng = random.Random(arrival_id)
        self.facts = ArrivalFacts()
        self.vars: dict[str, Any] = {}
        self.status, self.body = status, body
        self.sent: list[tuple[str, str, bytes | None]] = []
        self.recorded: list[Outcome] = []
        self.now = 1_000_000_000
        self.scheduled_ns = self.now

    def http(self, method: str, url_or_path: str, **kw: Any) -> HttpResult:
        self.sent.append((method, url_or_path, kw.get("body")))
        self.now += 1_000_000
        return HttpResult(status=self.status, content=self.body, intended_ns=self.now,
                          start_ns=self.now, end_ns=self.now + 1)  # fmt: skip

    def record(
        self, result: HttpResult, outcome: Outcome, error: str | None = None, label: Any = None
    ) -> None:
        self.recorded.append(outcome)

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)

    def now_ns(self) -> int:
        return self.now

    def cookie(self, name: str) -> str | None:
        return None

    def clear_cookies(self) -> None:
        pass


def _scenario(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path)


def test_persona_assignment_is_seeded_and_weighted(tmp_path: Path) -> None:
    s = _scenario(tmp_path, """\
personas:
  fan: {weight: 97, steps: [{think: 1s}]}
  bot: {weight: 3, steps: [{think: 1s}]}
""")  # fmt: skip
    a = compile_scenario(s, seed=11).persona_for(20_000)
    b = compile_scenario(s, seed=11).persona_for(20_000)
    expected = np.random.default_rng([11, 1]).choice(2, size=20_000, p=[0.97, 0.03])
    assert np.array_equal(a, b) and np.array_equal(a, expected)
    assert 0.02 < float(np.mean(a == 1)) < 0.04
    ids = np.array([5, 0, 19_999])
    assert np.array_equal(compile_scenario(s, seed=11).persona_for(20_000, ids), a[ids])
    assert not np.array_equal(compile_scenario(s, seed=12).persona_for(20_000), a)


def _feeder(mode: FeederMode) -> Feeder:
    return Feeder("f", "unused.csv", mode, ("id",), Location("x"))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 300),
    shards=st.integers(1, 16),
    workers=st.integers(1, 4),
    askers=st.lists(st.integers(0, 5_000), max_size=400, unique=True),
)
def test_unique_rows_are_never_handed_out_twice_across_workers(
    rows: int, shards: int, workers: int, askers: list[int]
) -> None:
    table = [{"id": str(i)} for i in range(rows)]
    # each worker process has its own FeederState and runs the arrivals of its own shards
    states = [FeederState(_feeder(FeederMode.UNIQUE), table, shards) for _ in range(workers)]
    given_out: list[str] = []
    for arrival in askers:
        worker = (arrival % shards) % workers
        row = states[worker].take(arrival, random.Random(arrival))
        if row is not None:
            given_out.append(row["id"])
    assert len(given_out) == len(set(given_out))
    # rows only run out when the asking shard's slice is used up
    per_shard: dict[int, int] = {}
    for arrival in askers:
        per_shard[arrival % shards] = per_shard.get(arrival % shards, 0) + 1
    expected = sum(min(n, len(range(s, rows, shards))) for s, n in per_shard.items())
    assert len(given_out) == expected


def test_sequential_cyclic_and_random_feeders() -> None:
    table = [{"id": str(i)} for i in range(3)]
    rng = random.Random(1)
    seq = FeederState(_feeder(FeederMode.SEQUENTIAL), table, 4)
    assert [r and r["id"] for r in (seq.take(9, rng) for _ in range(4))] == ["0", "1", "2", None]
    cyc = FeederState(_feeder(FeederMode.CYCLIC), table, 4)
    assert [r["id"] for r in (cyc.take(9, rng) for _ in range(5)) if r] == list("01201")
    rnd = FeederState(_feeder(FeederMode.RANDOM), table, 4)
    assert {r["id"] for r in (rnd.take(9, rng) for _ in range(50)) if r} == {"0", "1", "2"}


def test_exhausted_feeder_ends_the_journey_with_its_outcome(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("id\n7\n")
    s = _scenario(tmp_path, """\
feeders: {rows: {file: rows.csv, mode: unique, on_exhausted: leave}}
personas:
  p: {steps: [{feed: rows}, {set: {got: "{{ rows.id }}"}}]}
""")  # fmt: skip
    persona = compile_scenario(s, seed=1, shards=4).personas[0]
    first, second = FakeVisitor(arrival_id=0), FakeVisitor(arrival_id=4)  # same shard
    assert persona.run(first).outcome is ArrivalOutcome.COMPLETED
    assert first.vars["got"] == "7"
    assert persona.run(second) == JourneyEnd(
        ArrivalOutcome.ABANDONED, "feeder 'rows' is exhausted", "feed rows"
    )


def test_required_env_must_be_set(tmp_path: Path) -> None:
    s = _scenario(
        tmp_path, "env: {KEY: null}\npersonas: {p: {steps: [{set: {k: '{{ env.KEY }}'}}]}}\n"
    )
    with pytest.raises(InputError, match="KEY must be set"):
        compile_scenario(s, seed=1, environ={})
    v = FakeVisitor()
    compile_scenario(s, seed=1, environ={"KEY": "x"}).personas[0].run(v)
    assert v.vars["k"] == "x"


def test_constant_bodies_are_encoded_once(tmp_path: Path) -> None:
    s = _scenario(tmp_path, """\
personas:
  p:
    steps:
      - request: {method: POST, path: /a, json: {event_id: e1, n: 2}}
      - request: {method: POST, path: /a, json: {event_id: e1, n: 2}}
""")  # fmt: skip
    v = FakeVisitor()
    compile_scenario(s, seed=1).personas[0].run(v)
    (_, _, body1), _ = v.sent
    assert body1 == b'{"event_id":"e1","n":2}'
    persona = compile_scenario(s, seed=1).personas[0]
    v1, v2 = FakeVisitor(), FakeVisitor()
    persona.run(v1)
    persona.run(v2)
    assert v1.sent[0][2] is v2.sent[0][2]  # the same bytes object: nothing rendered per request


def test_a_variable_that_cannot_render_fails_the_journey_at_start(tmp_path: Path) -> None:
    s = _scenario(tmp_path, """\
variables: {n: "{{ int('many') }}"}
personas: {p: {steps: [{request: "GET /{{ n }}"}]}}
""")  # fmt: skip
    v = FakeVisitor()
    end = compile_scenario(s, seed=1).personas[0].run(v)
    assert end.outcome is ArrivalOutcome.FAILED
    assert "int() failed" in (end.reason or "") and v.sent == []


def test_timeouts_and_connection_errors_are_classified(tmp_path: Path) -> None:
    s = _scenario(tmp_path, "personas: {p: {steps: [{request: GET /a, on_error: continue}]}}\n")
    persona = compile_scenario(s, seed=1).personas[0]
    v = FakeVisitor(status=0)
    v.http = lambda *a, **k: HttpResult(status=0, error_kind="timeout", error="timeout")  # type: ignore[method-assign]
    assert persona.run(v).outcome is ArrivalOutcome.COMPLETED
    assert v.recorded == [Outcome.TIMEOUT] and v.vars["outcome"] == "timeout"


def test_on_error_leave_and_expect_that(tmp_path: Path) -> None:
    s = _scenario(tmp_path, """\
personas:
  leaver: {steps: [{request: GET /a, on_error: leave, name: pay}]}
  checker:
    steps:
      - request: GET /b
        capture: {n: $.n}
        expect: {that: "n > 5"}
""")  # fmt: skip
    leaver, checker = compile_scenario(s, seed=1).personas
    assert leaver.run(FakeVisitor(status=503)) == JourneyEnd(
        ArrivalOutcome.ABANDONED, "pay: unexpected status 503", "pay"
    )
    v = FakeVisitor(body=b'{"n": 3}')
    end = checker.run(v)
    assert end.outcome is ArrivalOutcome.FAILED and "expectation failed: n > 5" in (
        end.reason or ""
    )
    assert v.recorded == [Outcome.EXPECTATION_FAILED]


def test_poll_deadline_can_carry_on_and_retry_deadline_gives_up(tmp_path: Path) -> None:
    s = _scenario(tmp_path, """\
personas:
  poller:
    steps:
      - poll:
          until: "state == 'done'"
          interval: 10s
          deadline: 25s
          on_deadline: continue
          steps: [{request: GET /s, capture: {state: $.state}}]
      - set: {after: "{{ state }}"}
  retrier:
    steps:
      - name: pay
        retry:
          when: [503]
          attempts: unlimited
          backoff: 1s
          deadline: 3500ms
          steps: [{request: GET /p}]
""")  # fmt: skip
    poller, retrier = compile_scenario(s, seed=1).personas
    v = FakeVisitor(body=b'{"state": "waiting"}')
    assert poller.run(v).outcome is ArrivalOutcome.COMPLETED
    assert len(v.sent) == 3 and v.vars["after"] == "waiting"  # polls at 0, 10 and 20 s
    v = FakeVisitor(status=503)
    end = retrier.run(v)
    assert end.outcome is ArrivalOutcome.GAVE_UP and len(v.sent) == 4  # 0, 1, 2, 3 s
