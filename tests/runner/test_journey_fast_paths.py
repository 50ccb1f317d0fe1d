"""The request step's shortcuts for common shapes (one header capture, an ``expect`` of status
and one text, a ``while``-only ``repeat``) give exactly what the general path gives: the same
records, error texts, variables and journey ends."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from geventhttpclient.header import Headers

from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.runner.journey import ArrivalFacts, HttpResult, compile_scenario
from loadkit.scenario import load_scenario


class Answers:
    """A network-free visitor answering each request with the next of ``answers``
    (status, body, headers); it keeps every record as (outcome, error, label)."""

    def __init__(self, answers: list[tuple[int, bytes, dict[str, str]]]) -> None:
        self.arrival_id, self.persona = 3, "p"
        self.rng = random.Random(3)
        self.facts, self.vars = ArrivalFacts(), {}
        self.scheduled_ns = self.now = 1_000_000_000
        self.answers = answers
        self.records: list[tuple[str, str | None, str | None]] = []

    def http(self, method: str, url_or_path: str, **kw: Any) -> HttpResult:
        status, body, fields = self.answers[min(len(self.records), len(self.answers) - 1)]
        headers = Headers()
        for name, value in fields.items():
            headers.add(name, value)
        self.now += 1_000_000
        return HttpResult(status=status, headers=headers, content=body, intended_ns=self.now,
                          start_ns=self.now, end_ns=self.now + 1,
                          error_kind="timeout" if status == 0 else None,
                          error="timeout: no answer" if status == 0 else None)  # fmt: skip

    def record(self, result: Any, outcome: Outcome, error: Any = None, label: Any = None) -> None:
        self.records.append((outcome.value, error, label))

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)

    def now_ns(self) -> int:
        return self.now

    def cookie(self, name: str) -> None:
        return None

    def clear_cookies(self) -> None:
        pass


STEP = """\
personas:
  p:
    steps:
      - name: get
        request: {{path: /page}}
        expect: {{status: 200, text: Welcome}}
        capture: {{length: {capture}}}
      - set: {{seen: "{{{{ length }}}}"}}
"""


def _run(tmp_path: Path, text: str, answers: list[tuple[int, bytes, dict[str, str]]]) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    v = Answers(answers)
    end = compile_scenario(load_scenario(path), seed=1).personas[0].run(v)
    return v, end


# fmt: off
CASES = [
    # the header is there (any case)
    ("{header: content-length}", (200, b"Welcome!", {"Content-Length": "8"}),
     [("ok", None, None)], ArrivalOutcome.COMPLETED, "8"),
    # missing, with a default
    ("{header: X-Length, default: unknown}", (200, b"Welcome!", {}),
     [("ok", None, None)], ArrivalOutcome.COMPLETED, "unknown"),
    # missing, no default: the request fails its expectation, the journey fails
    ("{header: X-Length}", (200, b"Welcome!", {}),
     [("expectation_failed", "capture 'length': header 'X-Length' found nothing", None)],
     ArrivalOutcome.FAILED, None),
    # the text is not on the page: no capture is tried
    ("{header: content-length}", (200, b"Sold out", {"Content-Length": "8"}),
     [("expectation_failed",
       "expected the body to contain 'Welcome'; it starts 'Sold out'", None)],
     ArrivalOutcome.FAILED, None),
    # an unexpected status
    ("{header: content-length}", (503, b"Welcome!", {}),
     [("http_error", "unexpected status 503", None)], ArrivalOutcome.FAILED, None),
    # no answer at all
    ("{header: content-length}", (0, b"", {}),
     [("timeout", "timeout: no answer", None)], ArrivalOutcome.FAILED, None),
]
# fmt: on


@pytest.mark.parametrize(("capture", "answer", "records", "end", "seen"), CASES,
                         ids=["found", "default", "missing", "no-text", "status", "timeout"])  # fmt: skip
def test_one_header_capture_and_a_status_and_text_expect(
    tmp_path: Path,
    capture: str,
    answer: tuple[int, bytes, dict[str, str]],
    records: list[tuple[str, str | None, str | None]],
    end: ArrivalOutcome,
    seen: str | None,
) -> None:
    v, ended = _run(tmp_path, STEP.format(capture=capture), [answer])
    assert v.records == records
    assert ended.outcome is end and ended.last_step == "get"
    assert v.vars.get("seen") == seen
    assert v.vars["status"] == answer[0]
    assert v.vars["outcome"] == records[0][0]


def test_a_while_loop_runs_until_its_condition_turns_false(tmp_path: Path) -> None:
    v, ended = _run(tmp_path, """\
variables: {n: 0}
personas:
  p:
    steps:
      - name: loop
        repeat:
          while: "n < 3"
          steps:
            - name: poll
              request: {path: /poll}
            - set: {n: "{{ n + 1 }}"}
""", [(200, b"", {})])  # fmt: skip
    assert ended.outcome is ArrivalOutcome.COMPLETED
    assert v.records == [("ok", None, None)] * 3
    assert v.vars["n"] == 3
