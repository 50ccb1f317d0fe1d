"""Checks and captures a real page needs: body text and regex, JSON values, labels stored in
the records, captures from a variable, defaults for null, HTML helpers, wrong-kind bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadkit.errors import InputError, ValidationErrors
from loadkit.results.schema import REQUEST_SCHEMA, ArrivalOutcome
from loadkit.scenario import load_scenario
from tests.runner.journey_server import JourneyServer, serve
from tests.runner.test_journey_steps import Ran, run

COL = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}


@pytest.fixture(scope="module")
def server() -> Iterator[JourneyServer]:
    with serve() as s:
        yield s


def col(ran: Ran, name: str) -> list[Any]:
    return ran.column(COL[name])


def test_a_page_saying_sold_out_is_a_labelled_ok_stored_in_the_records(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /page/soldout
        expect:
          outcomes: {sold_out: {text: Sold out}, 404: gone}
      - if: "outcome == 'sold_out'"
        then: [{leave: sold out}]
""")  # fmt: skip
    assert col(ran, "outcome") == ["ok"] and col(ran, "label") == ["sold_out"]
    assert ran.end.outcome is ArrivalOutcome.ABANDONED and ran.end.reason == "sold out"


def test_a_status_outcome_label_is_stored_not_plain_ok(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /status/403
        expect: {outcomes: {403: csrf_refused}}
      - request: GET /json
""")  # fmt: skip
    assert col(ran, "outcome") == ["ok", "ok"]
    assert col(ran, "label") == ["csrf_refused", None]


def test_body_text_and_regex_checks_show_the_part_of_the_body_that_matters(
    tmp_path: Path, server: JourneyServer
) -> None:
    passed = run(tmp_path, server, """\
      - request: GET /page/shop
        expect: {text: [Buy, Events], not_text: Sold out, regex: 'event=[0-9]+'}
""")  # fmt: skip
    assert col(passed, "outcome") == ["ok"]
    failed = run(tmp_path, server, """\
      - request: GET /page/soldout
        expect: {not_text: Sold out}
""")  # fmt: skip
    assert col(failed, "outcome") == ["expectation_failed"]
    error = col(failed, "error")[0]
    assert "the body contains 'Sold out'" in error and "Sorry, Sold out!" in error
    missing = run(tmp_path, server, """\
      - request: GET /page/soldout
        expect: {regex: 'Order #[0-9]+'}
""")  # fmt: skip
    assert "expected the body to match 'Order #[0-9]+'" in col(missing, "error")[0]
    assert "<html><body><h1>Tickets" in col(missing, "error")[0]


def test_a_json_value_check_says_what_it_got_and_where(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /nulls
        expect: {json: {$.success: true}}
""")  # fmt: skip
    assert col(ran, "outcome") == ["expectation_failed"]
    error = col(ran, "error")[0]
    assert "expected $.success == True, got false" in error and '"b":1' in error


def test_a_json_check_or_capture_on_an_html_page_is_a_clear_per_request_error(
    tmp_path: Path, server: JourneyServer
) -> None:
    check = run(tmp_path, server, """\
      - request: GET /page/shop
        expect: {json: {$.ok: true}}
        on_error: continue
      - request: GET /page/shop
        capture: {_id: $.id}
""")  # fmt: skip
    assert col(check, "outcome") == ["expectation_failed", "expectation_failed"]
    for error in col(check, "error"):
        assert "response is not JSON (text/html)" in error and "<html>" in error
    assert check.end.outcome is ArrivalOutcome.FAILED


def test_an_html_helper_on_a_json_answer_is_a_clear_per_request_error(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /json
        capture: {_token: {csrf: true}}
""")  # fmt: skip
    assert col(ran, "outcome") == ["expectation_failed"]
    assert "capture '_token': response is not HTML (application/json)" in col(ran, "error")[0]


def test_html_helpers_capture_a_csrf_token_an_input_and_a_link(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /page/shop
        capture:
          _csrf: {csrf: true}
          _named: {csrf: _csrf}
          _qty: {form_field: qty}
          _buy: {link: buy tickets}
      - request: GET /form
        capture: {_note: {form_field: note}, _meta: {csrf: true}}
""")  # fmt: skip
    v = ran.vars
    assert (v["_csrf"], v["_named"], v["_qty"]) == ("form-tok", "form-tok", "2")
    assert v["_buy"] == "/buy?event=7&q=2"
    assert v["_note"] == "hello <you>" and v["_meta"] == "tok&123"


def test_a_form_post_is_two_lines(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /form
        capture: {csrf: {csrf: true}}
      - request: {method: POST, path: /login, form: {csrf_token: "{{ csrf }}"}}
""")  # fmt: skip
    assert col(ran, "status") == [200, 200] and ran.end.outcome is ArrivalOutcome.COMPLETED


def test_captures_from_a_variable_by_regex_and_jsonpath(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /nulls
        capture:
          inner: $.inner
          _n: {from: inner, json: $.n}
          _digit: {from: inner, regex: '([0-9]+)'}
""")  # fmt: skip
    assert ran.vars["_n"] == 5 and ran.vars["_digit"] == "5"


def test_default_applies_to_a_null_value_and_a_null_without_default_fails(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /nulls
        capture: {_a: {json: $.a, default: fallback}, _b: {json: $.b, default: 0}}
""")  # fmt: skip
    assert (ran.vars["_a"], ran.vars["_b"]) == ("fallback", 1)
    failed = run(tmp_path, server, """\
      - request: GET /nulls
        capture: {_a: $.a}
""")  # fmt: skip
    assert "capture '_a': json '$.a' found null" in col(failed, "error")[0]


def test_bad_checks_and_captures_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("""\
personas:
  p:
    steps:
      - request: GET /
        expect: {text: 3, outcomes: {sold_out: {colour: red}}}
        capture:
          _x: {header: X-A, from: nowhere}
          _y: {regex: 'a', from: 'not a name'}
""")  # fmt: skip
    with pytest.raises(ValidationErrors) as info:
        load_scenario(path)
    text = str(info.value)
    assert "s.yaml:5" in text and "expect.text is a text or a list of texts" in text
    assert "outcome 'sold_out' needs one of text, not_text, regex, json" in text
    assert "s.yaml:7" in text and "'from' works with json or regex, not header" in text
    assert "s.yaml:8" in text and "'from' names a variable" in text


def test_json_comparisons_as_lines(tmp_path: Path, server: JourneyServer) -> None:
    passed = run(tmp_path, server, """\
      - request: GET /nulls
        expect: {json: ["$.b > 0", "$.success == false", "$.a == null", '$.inner != "x"']}
""")  # fmt: skip
    assert col(passed, "outcome") == ["ok"]
    failed = run(tmp_path, server, """\
      - request: GET /json
        expect: {json: ["$.items[1].state == 'free'"]}
""")  # fmt: skip
    error = col(failed, "error")[0]
    assert "expected $.items[1].state == 'free', got \"taken\"" in error
    assert '"state":"taken"' in error  # the part of the body around the value


def test_a_bad_json_comparison_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("personas:\n  p:\n    steps:\n      - request: GET /\n"
                    "        expect: {json: ['$.ok is true']}\n")  # fmt: skip
    with pytest.raises(InputError, match=r"a JSON comparison is '\$\.path OP value'"):
        load_scenario(path)
