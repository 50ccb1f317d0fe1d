"""Each step kind, run by the real Visitor against a local threaded test server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadkit.results.schema import ArrivalOutcome
from loadkit.runner.clock import Clock
from loadkit.runner.journey import JourneyEnd, compile_scenario
from loadkit.runner.recorder import Recorder
from loadkit.runner.visitor import Target, Visitor
from loadkit.scenario import load_scenario
from tests.runner.journey_server import JourneyServer, serve

# REQUEST_SCHEMA column order of a recorded row
STEP, NAME, METHOD, INTENDED, START, SERVICE, RESPONSE, STATUS, OUTCOME, ERROR, ATTEMPT = (
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14,
)  # fmt: skip


@dataclass
class Ran:
    end: JourneyEnd
    visitor: Visitor
    rows: list[tuple[Any, ...]]

    @property
    def vars(self) -> dict[str, Any]:
        return self.visitor.vars

    def column(self, index: int) -> list[Any]:
        return [row[index] for row in self.rows]


@pytest.fixture(scope="module")
def server() -> Iterator[JourneyServer]:
    with serve() as s:
        yield s


def run(
    tmp_path: Path,
    server: JourneyServer,
    steps_yaml: str,
    *,
    head: str = "",
    arrival_id: int = 0,
    environ: Mapping[str, str] | None = None,
) -> Ran:
    """Run a one-persona scenario whose steps are ``steps_yaml`` (indented 6 spaces)."""
    text = f"name: t\n{head}personas:\n  p:\n    steps:\n{steps_yaml}"
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    compiled = compile_scenario(load_scenario(path), seed=7, environ=environ or {})
    recorder = Recorder()
    visitor = Visitor(arrival_id, "p", seed=7, target=Target.from_url(server.url),
                      recorder=recorder, clock=Clock.measure())  # fmt: skip
    try:
        end = compiled.personas[0].run(visitor)
    finally:
        visitor.close()
    return Ran(end, visitor, recorder.requests)


def test_request_sends_method_query_headers_and_json_body(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - name: send
        request:
          method: PUT
          path: /echo
          query: {q: "{{ 1 + 1 }}", who: fan}
          headers: {X-Custom: "v-{{ persona }}"}
          json: {seats: "{{ [1, 2] }}", note: "n{{ arrival_id }}"}
        capture:
          method: $.method
          q: $.query.q
          custom: $.headers.x-custom
          body: $.body
      - set: {summary: "{{ method }} {{ q }} {{ custom }} {{ body }}"}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED
    assert ran.vars["summary"] == 'PUT 2 v-p {"seats":[1,2],"note":"n0"}'
    assert ran.rows[0][STEP] == "send" and ran.rows[0][NAME] == "PUT /echo"


def test_csrf_form_field_and_cookie_capture_then_form_post(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /form
        capture:
          csrf: {form_field: csrf_token}
          note: {form_field: note}
          sid: {cookie: sid}
      - request: {method: POST, path: /login, form: {csrf_token: "{{ csrf }}", user: "{{ sid }}"}}
        expect: {status: 200, json: {$.ok: true}}
      - set: {seen: "{{ note }}"}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED, ran.end.reason
    assert ran.vars["csrf"] == "tok&123"
    assert ran.vars["sid"] == "s-42"
    assert ran.vars["seen"] == "hello <you>"
    assert ran.column(STATUS) == [200, 200]


def test_regex_header_and_filtered_jsonpath_captures(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
        capture:
          free: "$.items[?(@.state == 'free')].id"
          first: $.items[0].id
          last: $.items[-1].id
          trace: {header: x-trace}
          rid: {regex: '"request_id": "([^"]+)"'}
          missing: {json: $.nope, default: none}
      - set: {all: "{{ free }} {{ first }} {{ last }} {{ trace }} {{ rid }} {{ missing }}"}
""")  # fmt: skip
    assert ran.vars["all"] == "['A1', 'B1'] A1 B1 trace-9 r-1 none"


def test_business_outcome_is_ok_and_branchable(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /status/409
        name: hold
        expect: {status: 201, outcomes: {409: seat_taken}}
      - if: "outcome == 'seat_taken'"
        then:
          - leave: "seat taken ({{ status }})"
""")  # fmt: skip
    assert ran.column(OUTCOME) == ["ok"]
    assert ran.end == JourneyEnd(ArrivalOutcome.ABANDONED, "seat taken (409)", "hold")


def test_undeclared_status_fails_the_journey_but_is_recorded(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /status/500
        name: pay
      - think: 1ms
""")  # fmt: skip
    assert ran.column(OUTCOME) == ["http_error"]
    assert ran.end.outcome is ArrivalOutcome.FAILED
    assert ran.end.reason == "pay: unexpected status 500"
    assert ran.end.last_step == "pay"


def test_on_error_continue_exposes_status(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /status/503
        on_error: continue
      - set: {seen: "{{ status }}/{{ outcome }}"}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED
    assert ran.vars["seen"] == "503/http_error"


def test_failed_capture_fails_journey_and_marks_request(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
        capture: {token: $.access_token}
      - set: {x: "{{ token }}"}
""")  # fmt: skip
    assert ran.column(OUTCOME) == ["expectation_failed"]
    assert ran.end.outcome is ArrivalOutcome.FAILED
    assert "capture 'token'" in (ran.end.reason or "")


def test_expect_json_mismatch_is_expectation_failed(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
        expect: {json: {$.n: 4}}
""")  # fmt: skip
    assert ran.column(OUTCOME) == ["expectation_failed"]
    assert "expected $.n == 4, got 3" in (ran.end.reason or "")


def test_unrenderable_template_fails_only_this_journey(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
        capture: {items: $.items}
      - request: GET /echo/{{ items[7].id }}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.FAILED
    assert "7 not found" in (ran.end.reason or "")
    assert len(ran.rows) == 1


def test_a_captured_line_break_in_a_header_fails_the_journey_without_showing_the_value(
    tmp_path: Path, server: JourneyServer
) -> None:
    """A header carrying CR/LF would be a second header (an injection): never sent, and the
    message does not show the value, which is often a token."""
    ran = run(tmp_path, server, """\
      - set: {tok: "secret-123\\r\\nX-Evil: 1"}
      - name: pay
        request: {method: GET, path: /json, headers: {Authorization: "Bearer {{ tok }}"}}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.FAILED
    assert ran.end.reason is not None and ran.end.reason.startswith("pay: header 'Authorization'")
    assert "line break" in ran.end.reason and "secret-123" not in ran.end.reason
    assert ran.rows == []  # nothing was sent


def test_a_rendered_path_is_percent_encoded_as_a_browser_sends_it(
    tmp_path: Path, server: JourneyServer
) -> None:
    """A space, a CR/LF (which would end the request line: an injected header or request),
    non-ASCII letters and the marks a browser encodes (< { } >) in a path rendered from data
    go percent-encoded; %XX stays."""
    ran = run(tmp_path, server, """\
      - set: {p: "a b\\r\\nX-Evil: 1/\u00e9/%41/<{x}>"}
      - request: GET /echo/{{ p }}
        capture: {_path: $.path, _evil: {json: "$.headers['x-evil']", default: none}}
      - request: {method: GET, path: "/echo/{{ p }}", query: {q: "{{ p }}"}}
        capture: {_path2: $.path}
      - request: "GET /echo/{{ marks }}"
        capture: {_path3: $.path}
""", head='variables: {marks: "<{x}>"}\n')  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED, ran.end
    assert (
        ran.vars["_path"]
        == ran.vars["_path2"]
        == ("/echo/a%20b%0D%0AX-Evil:%201/%C3%A9/%41/%3C%7Bx%7D%3E")
    )
    assert ran.vars["_evil"] == "none"
    assert ran.vars["_path3"] == "/echo/%3C%7Bx%7D%3E"  # encoded alone too, as quote() would


def test_request_after_think_is_intended_at_the_think_due_time(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
      - think: 20ms
      - request: GET /json
""")  # fmt: skip
    first, second = ran.rows
    # the first request is intended at the arrival's scheduled start; later ones at the
    # previous request's end plus the think
    assert first[INTENDED] == ran.visitor.scheduled_ns <= first[START]
    first_end_ns = first[START] + round(first[SERVICE] * 1e6)
    assert abs(second[INTENDED] - (first_end_ns + 20_000_000)) < 2
    assert second[RESPONSE] >= second[SERVICE]


def test_poll_follows_retry_after_until_admitted_and_records_facts(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - name: queue.join
        request: GET /poll/a?n=99
        capture: {position: $.position}
        record: {joined: true, queue_position: "{{ position }}"}
      - name: queue.poll
        poll:
          until: "state == 'admitted'"
          interval: {header: Retry-After, fallback: 5s}
          deadline: 10s
          steps:
            - request: GET /poll/b?n=3
              capture: {state: $.state}
              record: {admitted: "{{ state == 'admitted' }}"}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED
    assert ran.column(STEP) == ["queue.join"] + ["queue.poll"] * 3
    facts = ran.visitor.facts
    assert facts.queue_position == 9
    assert facts.joined_ns is not None and facts.admitted_ns is not None
    assert facts.admitted_ns > facts.joined_ns


def test_poll_waits_what_the_json_asks_when_there_is_no_header(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - name: wait
        poll:
          until: "state == 'admitted'"
          interval: {header: Retry-After, json: $.refresh, fallback: 30s}
          steps:
            - request: GET /poll/e?n=2&quiet=1
              capture: {state: $.state}
""")  # fmt: skip
    first, second = ran.rows
    gap_s = (second[INTENDED] - first[START]) / 1e9
    assert 0.02 <= gap_s < 10  # the JSON's 20 ms, not the 30 s fallback
    assert ran.end.outcome is ArrivalOutcome.COMPLETED


def test_poll_gives_up_after_max_polls(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - poll:
          until: "state == 'admitted'"
          interval: 1ms
          max_polls: 2
          steps:
            - request: GET /poll/c?n=99
              capture: {state: $.state}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.GAVE_UP
    assert len(ran.rows) == 2


def test_poll_abandonment_hazard_leaves(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - name: wait
        poll:
          until: "state == 'admitted'"
          interval: 1ms
          abandon: 99.99%/1ms
          steps:
            - request: GET /poll/d?n=99
              capture: {state: $.state}
""")  # fmt: skip
    assert ran.end == JourneyEnd(ArrivalOutcome.ABANDONED, "wait: gave up waiting", "wait")


def test_retry_reuses_the_idempotency_key_and_counts_attempts(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - set: {key: "{{ uuid() }}"}
      - name: pay
        retry:
          when: [5xx, timeout]
          attempts: 4
          backoff: [1ms, 2ms]
          jitter: 10%
          steps:
            - request:
                method: POST
                path: /flaky/k1?fail=2
                headers: {Idempotency-Key: "{{ key }}"}
              expect: {status: 201}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED
    assert ran.column(STATUS) == [503, 503, 201]
    assert ran.column(ATTEMPT) == [1, 2, 3]
    keys = server.keys["k1"]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0] == ran.vars["key"]


def test_retry_gives_up_after_its_attempts(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - name: pay
        retry:
          when: [503]
          attempts: 2
          backoff: {base: 1ms, factor: 2, max: 5ms}
          steps:
            - request: POST /flaky/k2?fail=9
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.GAVE_UP
    assert ran.end.reason == "pay: gave up after 2 attempts (unexpected status 503)"
    assert ran.column(OUTCOME) == ["http_error", "http_error"]


def test_choice_repeat_and_if(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - set: {picked: [], total: 0}
      - repeat:
          times: 5
          as: i
          until: "total >= 6"
          steps:
            - choice:
                - weight: 0
                  steps: [{set: {picked: "{{ picked + ['never'] }}"}}]
                - weight: 1
                  steps: [{set: {picked: "{{ picked + [i] }}"}}]
            - set: {total: "{{ total + i }}"}
      - if: "len(picked) == 4"
        then: [{set: {verdict: four}}]
        else: [{set: {verdict: other}}]
""")  # fmt: skip
    assert ran.vars["picked"] == [0, 1, 2, 3]
    assert ran.vars["verdict"] == "four"


def test_leave_records_reason_and_custom_outcome(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - set: {n: 3}
      - leave: {reason: "sold out after {{ n }} tries", outcome: gave_up}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.GAVE_UP
    assert ran.end.reason == "sold out after 3 tries"


def test_record_facts_for_invariants(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
        capture: {free: "$.items[?(@.state == 'free')].id"}
        record: {seats_held: "{{ free }}", token_id: "jti-1"}
      - record: {seats_bought: "{{ free }}", order_id: "o-{{ len(free) }}", shop_ok_without_token: true}
""")  # fmt: skip
    f = ran.visitor.facts
    assert (f.seats_held, f.seats_bought) == (["A1", "B1"], ["A1", "B1"])
    assert (f.token_id, f.order_id, f.shop_ok_without_token) == ("jti-1", "o-2", 1)


def test_clear_cookies_loses_the_session(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /form
        capture: {csrf: {form_field: csrf_token}}
      - clear_cookies: true
      - request: {method: POST, path: /login, form: {csrf_token: "{{ csrf }}"}}
        expect: {outcomes: {403: no_session}}
""")  # fmt: skip
    assert ran.vars["outcome"] == "no_session"


def test_env_and_variables_with_defaults(tmp_path: Path, server: JourneyServer) -> None:
    head = 'env: {TOKEN: dflt, REGION: eu}\nvariables:\n  tag: "{{ env.TOKEN }}-{{ env.REGION }}"\n'
    steps = '      - set: {seen: "{{ tag }}"}\n'
    assert run(tmp_path, server, steps, head=head).vars["seen"] == "dflt-eu"
    ran = run(tmp_path, server, steps, head=head, environ={"TOKEN": "real"})
    assert ran.vars["seen"] == "real-eu"
