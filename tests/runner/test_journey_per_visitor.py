"""Request parts rendered once per journey (``per_visitor``): what may be kept — templates that
read only values fixed when the journey starts — and what must be rendered on every request:
captured values, counters set in a loop, loop indexes, ``now()``, ``uuid()``, a reassigned
builtin or scenario variable."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.runner.journey import ArrivalFacts, HttpResult, compile_scenario
from loadkit.runner.journey.per_visitor import journey_constants
from loadkit.scenario import load_scenario


class Recorder:
    """A network-free visitor that keeps what each request sent; every answer is ``body``."""

    def __init__(self, arrival_id: int, body: bytes = b"token=t0", pause_s: float = 0.0) -> None:
        self.arrival_id, self.persona = arrival_id, "p"
        self.rng = random.Random(arrival_id)
        self.facts, self.vars = ArrivalFacts(), {}
        self.scheduled_ns = self.now = 1_000_000_000
        self.body, self.pause_s, self.n = body, pause_s, 0
        self.sent: list[dict[str, Any]] = []
        self.outcomes: list[Outcome] = []

    def http(self, method: str, url_or_path: str, **kw: Any) -> HttpResult:
        if self.pause_s:
            time.sleep(self.pause_s)  # now() must move between two requests
        self.sent.append({"url": url_or_path, "headers": dict(kw["headers"] or {}),
                          "body": kw["body"]})  # fmt: skip
        self.n += 1
        self.now += 1_000_000
        body = self.body.replace(b"t0", f"t{self.n}".encode())  # each answer its own token
        return HttpResult(status=200, content=body, intended_ns=self.now, start_ns=self.now,
                          end_ns=self.now + 1)  # fmt: skip

    def record(self, result: Any, outcome: Outcome, error: Any = None, label: Any = None) -> None:
        self.outcomes.append(outcome)

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)

    def now_ns(self) -> int:
        return self.now

    def cookie(self, name: str) -> None:
        return None

    def clear_cookies(self) -> None:
        pass


def _persona(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return compile_scenario(load_scenario(path), seed=1).personas[0]


def _headers(v: Recorder, name: str) -> list[str]:
    return [s["headers"].get(name) for s in v.sent]


LOOP = """\
variables: {{tag: first}}
personas:
  p:
    steps:
      - name: loop
        repeat:
          times: 3
          as: i
          steps:
{body}
"""


def test_a_value_fixed_for_the_journey_is_the_visitors_own(tmp_path: Path) -> None:
    persona = _persona(tmp_path, LOOP.format(body="""\
            - request:
                path: "/v/{{ arrival_id }}"
                headers: {X-Visitor: "v{{ arrival_id }}-{{ persona }}-{{ tag }}"}
                json: {who: "{{ arrival_id }}"}
"""))  # fmt: skip
    a, b = Recorder(7), Recorder(8)
    # interleaved journeys of two visitors through one compiled persona
    assert persona.run(a).outcome is ArrivalOutcome.COMPLETED
    assert persona.run(b).outcome is ArrivalOutcome.COMPLETED
    assert persona.run(Recorder(9)).outcome is ArrivalOutcome.COMPLETED
    assert _headers(a, "X-Visitor") == ["v7-p-first"] * 3
    assert _headers(b, "X-Visitor") == ["v8-p-first"] * 3
    assert [s["url"] for s in b.sent] == ["/v/8"] * 3
    assert [s["body"] for s in b.sent] == [b'{"who":8}'] * 3


# fmt: off
CHANGING = [
    # a value captured from the previous answer
    ("""\
            - request: {path: /a}
              capture: {token: {regex: 'token=(\\w+)'}}
            - request: {path: /b, headers: {X-Token: "tok-{{ token }}"}}
""", "X-Token", ["tok-t1", "tok-t3", "tok-t5"]),
    # a counter set in the loop
    ("""\
            - set: {n: "{{ i * 10 }}"}
            - request: {path: /a, headers: {X-N: "n{{ n }}"}}
""", "X-N", ["n0", "n10", "n20"]),
    # the loop index
    ("""\
            - request: {path: /a, headers: {X-I: "i{{ i }}"}}
""", "X-I", ["i0", "i1", "i2"]),
    # a scenario variable a step sets again
    ("""\
            - request: {path: /a, headers: {X-Tag: "{{ tag }}!"}}
            - set: {tag: "{{ tag }}+"}
""", "X-Tag", ["first!", "first+!", "first++!"]),
    # a builtin a step sets again
    ("""\
            - request: {path: /a, headers: {X-Id: "v{{ arrival_id }}"}}
            - set: {arrival_id: "{{ arrival_id + 1 }}"}
""", "X-Id", ["v7", "v8", "v9"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("steps", "header", "expected"),
    CHANGING,
    ids=["captured", "counter", "loop-index", "reassigned-variable", "reassigned-builtin"],
)
def test_values_that_change_during_the_journey_are_rendered_per_request(
    tmp_path: Path, steps: str, header: str, expected: list[str]
) -> None:
    persona = _persona(tmp_path, LOOP.format(body=steps))
    v = Recorder(7)
    assert persona.run(v).outcome is ArrivalOutcome.COMPLETED
    assert [h for h in _headers(v, header) if h is not None] == expected


def test_now_and_uuid_are_rendered_per_request(tmp_path: Path) -> None:
    persona = _persona(tmp_path, LOOP.format(body="""\
            - request:
                path: "/a/{{ uuid() }}"
                headers: {X-Now: "{{ now() }}", X-Key: "k-{{ uuid() }}", X-Id: "{{ arrival_id }}"}
                form: {at: "{{ now() }}"}
"""))  # fmt: skip
    v = Recorder(7, pause_s=0.002)
    assert persona.run(v).outcome is ArrivalOutcome.COMPLETED
    assert len(set(_headers(v, "X-Now"))) == 3
    assert len(set(_headers(v, "X-Key"))) == 3
    assert len({s["url"] for s in v.sent}) == 3
    assert len({s["body"] for s in v.sent}) == 3


def test_journey_constants_leave_out_every_name_a_step_assigns(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("""\
env: {HOST: x}
variables: {a: "1", b: "2", c: "3", d: "4", e: "{{ uuid() }}"}
personas:
  p:
    steps:
      - if: "a == '1'"
        then: [{set: {b: "9"}}]
        else:
          - choice:
              - {weight: 1, steps: [{request: {path: /x}, capture: {c: {header: X-C}}}]}
      - poll:
          interval: 1s
          until: "true"
          steps: [{repeat: {times: 2, as: k, steps: [{request: {path: "/{{ k }}"}}]}}]
      - request: {path: "/{{ b }}/{{ c }}/{{ d }}/{{ e }}/{{ env.HOST }}"}
""")  # fmt: skip
    constants = journey_constants(load_scenario(path))
    assert {"a", "d", "e", "arrival_id", "persona", "env.HOST"} <= constants
    assert not {"b", "c", "k", "status", "outcome"} & constants
