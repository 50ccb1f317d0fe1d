"""A scenario regex that backtracks catastrophically on a body fails that request, saying
why, instead of holding the process (every visitor, every flush) for minutes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from loadkit.results.schema import REQUEST_SCHEMA, ArrivalOutcome
from loadkit.runner.journey.captures import captures_fn
from loadkit.runner.journey.types import HttpResult
from loadkit.runner.redact import MAX_ERROR_CHARS, redact
from loadkit.scenario import load_scenario
from tests.runner.journey_server import JourneyServer, serve
from tests.runner.test_journey_steps import Ran, run

COL = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}
HEAD = "settings: {regex_timeout: 50ms}\n"
# the echo answers JSON holding the query: 60 a's, then more JSON, so (a|aa)+$ backtracks
# through ~10^12 ways to split the a's at every start (minutes in Python's re)
HOSTILE = "GET /echo?q=" + "a" * 60
SLOW = "'(a|aa)+$'"


@pytest.fixture(scope="module")
def server() -> Iterator[JourneyServer]:
    with serve() as s:
        yield s


def col(ran: Ran, name: str) -> list[Any]:
    return ran.column(COL[name])


def _says_timed_out(error: str, where: str = "the body") -> None:
    assert f"regex '(a|aa)+$' took longer than 50 ms on {where} (" in error
    assert "atomic group (?>...) or a possessive quantifier" in error


def test_an_expect_regex_that_runs_past_its_limit_fails_the_request(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, f"""\
      - request: {HOSTILE}
        expect: {{regex: {SLOW}}}
""", head=HEAD)  # fmt: skip
    assert col(ran, "outcome") == ["expectation_failed"]
    _says_timed_out(col(ran, "error")[0])
    assert ran.end.outcome is ArrivalOutcome.FAILED


def test_an_outcome_label_regex_past_its_limit_fails_the_request_not_skips_the_label(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, f"""\
      - request: {HOSTILE}
        expect: {{outcomes: {{sold_out: {{regex: {SLOW}}}}}}}
""", head=HEAD)  # fmt: skip
    assert col(ran, "outcome") == ["expectation_failed"]
    _says_timed_out(col(ran, "error")[0])


def test_a_capture_regex_past_its_limit_fails_even_with_a_default(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, f"""\
      - request: {HOSTILE}
        capture: {{_x: {{regex: {SLOW}, default: none}}}}
""", head=HEAD)  # fmt: skip
    assert col(ran, "outcome") == ["expectation_failed"]
    error = col(ran, "error")[0]
    assert error.startswith("capture '_x': regex")
    _says_timed_out(error)


def test_a_regex_on_a_variable_past_its_limit_names_the_variable(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, f"""\
      - request: {HOSTILE}
        capture:
          page: $.query.q
          _x: {{from: page, regex: '(a|aa)+!'}}
""", head=HEAD)  # fmt: skip
    assert col(ran, "outcome") == ["expectation_failed"]
    assert (
        "regex '(a|aa)+!' took longer than 50 ms on variable 'page' (60 characters)"
        in (col(ran, "error")[0])
    )


def test_a_quick_regex_still_passes_and_captures(tmp_path: Path, server: JourneyServer) -> None:
    ran = run(tmp_path, server, f"""\
      - request: {HOSTILE}
        expect: {{regex: '"q": ?"a+"'}}
        capture: {{n: {{regex: '"q": ?"(a{{3}})'}}}}
      - request: GET /echo?n={{{{ n }}}}
""", head=HEAD)  # fmt: skip
    assert col(ran, "outcome") == ["ok", "ok"]
    assert ran.vars["n"] == "aaa"


@pytest.mark.timeout(15)  # html.parser's close() takes ~25 s on this page (Python 3.11)
def test_an_unclosed_tag_in_a_big_page_does_not_stall_an_html_capture(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\npersonas:\n  p:\n    steps:\n      - request: GET /\n"
        "        capture: {_t: {csrf: true}}\n"
    )
    step = load_scenario(path).personas[0].steps[0]
    capture = captures_fn(step.captures)  # type: ignore[attr-defined]
    page = '<input type="hidden" name="csrf_token" value="t-1">' + "<a b" * 20_000
    r = HttpResult(status=200, headers={"content-type": "text/html"}, content=page.encode())
    ctx = SimpleNamespace(vars={}, secrets=None)
    assert capture(ctx, r) is None
    assert ctx.vars["_t"] == "t-1"


@pytest.mark.timeout(10)  # the URL rule took 14 s on 100,000 letters, quadratic in the word
def test_a_huge_reason_is_redacted_and_clipped_without_stalling() -> None:
    reason = "left: " + "a" * 200_000 + " token=s3cr3t-value https://u:pw@h/"
    shown = redact(reason)
    assert len(shown) == MAX_ERROR_CHARS and shown.endswith("…")
    assert redact("see token=" + "s" * 200_000) == "see token=[redacted]…"  # no part shown
