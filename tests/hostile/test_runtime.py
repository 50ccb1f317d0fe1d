"""Expression budgets at run time: the journey ends ``failed`` with the reason, quickly.

Values that only exist when a visitor runs (a variable squared forty times, a text times a
variable) cannot be folded by ``validate``; the budget stops them when they are made.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from loadkit.results.schema import ArrivalOutcome
from loadkit.runner.journey import ArrivalFacts, HttpResult, compile_scenario
from loadkit.scenario import load_scenario
from tests.hostile.harness import FORBIDDEN, run_loadkit

SCENARIO = """\
variables:
  n: 10000000000
personas:
  squarer:
    steps:
      - set: {x: 3}
      - repeat: {times: 40, steps: [{set: {x: "{{ x * x }}"}}]}
      - request: GET /never
  grower:
    steps:
      - set: {s: "{{ 'ab' * n }}"}
      - request: GET /never
  doubler:
    steps:
      - set: {s: "ab"}
      - repeat: {times: 40, steps: [{set: {s: "{{ s + s }}"}}]}
      - request: GET /never
  sharer:
    steps:
      - set: {l: [1, 2]}
      - repeat: {times: 40, steps: [{set: {l: "{{ [l, l] }}"}}]}
      - set: {t: "{{ l }} as text"}
      - request: GET /never
"""
REASONS = {
    "squarer": "'*' would make a number of over 4,096 bits",
    "grower": "'*' would make a text of 20,000,000,000 characters",
    "doubler": "'+' would make a text of",
    "sharer": "a list would make a list of",
}


class _Visitor:
    """The visitor protocol without a network; counts the requests it is asked to send."""

    def __init__(self) -> None:
        self.arrival_id, self.persona, self.rng = 0, "p", random.Random(0)
        self.facts, self.vars, self.sent = ArrivalFacts(), {}, 0
        self.now = 0
        self.scheduled_ns = 0

    def http(self, method: str, url_or_path: str, **kw: Any) -> HttpResult:
        self.sent += 1
        return HttpResult(status=200, content=b"{}", intended_ns=0, start_ns=0, end_ns=1)

    def record(self, *args: Any) -> None:
        pass

    def sleep(self, seconds: float) -> None:
        pass

    def now_ns(self) -> int:
        return self.now


def test_an_over_budget_value_fails_the_journey_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    compiled = compile_scenario(load_scenario(tmp_path / "s.yaml"), seed=1)
    for persona in compiled.personas:
        visitor = _Visitor()
        end = persona.run(visitor)
        assert end.outcome is ArrivalOutcome.FAILED, persona.name
        assert REASONS[persona.name] in (end.reason or ""), end.reason
        assert visitor.sent == 0  # the journey stopped at the over-budget step


def test_loadkit_try_shows_the_same_reason_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    # No request is ever sent: every journey fails before its first one.
    outcome = run_loadkit(["try", "s.yaml", "--host", "http://127.0.0.1:9"], tmp_path)
    assert outcome.code == 1, outcome.text[-2000:]
    for word in FORBIDDEN:
        assert word not in outcome.text, outcome.text[-2000:]
    for reason in REASONS.values():
        assert f"failed: start: {reason}" in outcome.out, outcome.out


class _Breaks:
    name = "breaks"

    def run(self, visitor: Any) -> Any:
        raise MemoryError("out of memory while rendering")


class _Compiled:
    personas = (_Breaks(),)


def test_try_reports_a_journey_that_breaks_as_failed_like_a_run() -> None:
    import io

    from loadkit.runner.trial import run_trial

    out = io.StringIO()
    ends = run_trial(_Compiled(), lambda _i, _p: _Visitor(), out)  # type: ignore[arg-type]
    assert ends[0][1].outcome is ArrivalOutcome.FAILED
    assert "→ failed: MemoryError: out of memory while rendering" in out.getvalue()
