"""Redirects followed like a browser, one recorded hop each, every hop on the allow-list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadkit.results.schema import REQUEST_SCHEMA, ArrivalOutcome
from tests.runner.journey_server import JourneyServer, serve
from tests.runner.test_journey_steps import Ran, run

COL = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}


@pytest.fixture(scope="module")
def server() -> Iterator[JourneyServer]:
    with serve() as s:
        yield s


def col(ran: Ran, name: str) -> list[Any]:
    return ran.column(COL[name])


def test_a_post_answered_302_is_followed_as_a_get_with_cookies_and_one_row_per_hop(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - name: buy
        request:
          method: POST
          path: /redirect/302?to=/echo
          name: checkout
          form: {seat: A1}
        capture: {_echo: {json: $}}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED
    assert col(ran, "status") == [302, 200]
    assert col(ran, "hop") == [0, 1]
    assert col(ran, "method") == ["POST", "GET"]
    assert col(ran, "name") == ["checkout", "checkout"] and col(ran, "step") == ["buy", "buy"]
    assert col(ran, "outcome") == ["ok", "ok"]
    intent = col(ran, "intent_ns")
    assert intent[0] == intent[1] == col(ran, "intended_ns")[0]
    first = ran.rows[0]
    first_end = first[COL["start_ns"]] + first[COL["service_ms"]] * 1e6
    assert abs(col(ran, "intended_ns")[1] - first_end) < 1e6  # the hop goes out when hop 0 ends
    echo = ran.vars["_echo"]
    assert echo["method"] == "GET" and echo["body"] == ""
    assert "content-type" not in echo["headers"]
    assert "hop=302" in echo["headers"]["cookie"]  # the 302's Set-Cookie rode along


@pytest.mark.parametrize("code", [307, 308])
def test_307_and_308_keep_the_method_and_the_body(
    tmp_path: Path, server: JourneyServer, code: int
) -> None:
    ran = run(tmp_path, server, f"""\
      - request:
          method: POST
          path: /redirect/{code}?to=/echo
          json: {{seat: A1}}
        capture: {{_echo: {{json: $}}}}
""")  # fmt: skip
    assert col(ran, "method") == ["POST", "POST"]
    assert json.loads(ran.vars["_echo"]["body"]) == {"seat": "A1"}


def test_a_redirect_loop_fails_after_ten_hops_with_a_clear_error(
    tmp_path: Path, server: JourneyServer
) -> None:
    before = server.calls["loop"]
    ran = run(tmp_path, server, "      - request: GET /loop\n")
    assert server.calls["loop"] - before == 11  # the request and 10 redirects, then it stops
    assert col(ran, "hop") == list(range(11))
    assert col(ran, "outcome") == ["ok"] * 10 + ["http_error"]
    error = col(ran, "error")[-1]
    assert "too many redirects" in error and "10 hops" in error
    assert ran.end.outcome is ArrivalOutcome.FAILED and "too many redirects" in str(ran.end.reason)


def test_a_hop_to_a_host_off_the_allow_list_is_refused_and_never_sent(
    tmp_path: Path, server: JourneyServer
) -> None:
    ran = run(tmp_path, server, """\
      - request: GET /redirect/302?to=http://shop.example.com/steal
""")  # fmt: skip
    assert col(ran, "status") == [302] and col(ran, "outcome") == ["http_error"]
    error = col(ran, "error")[0]
    assert "refused" in error and "'shop.example.com'" in error and "allow_hosts" in error
    assert ran.end.outcome is ArrivalOutcome.FAILED


def test_a_hop_to_another_allowed_origin_gets_its_own_connection_and_cookies(
    tmp_path: Path, server: JourneyServer
) -> None:
    other = server.url.replace("127.0.0.1", "localhost")  # loopback: always allowed
    ran = run(tmp_path, server, f"""\
      - request: GET /redirect/302?to={other}/echo
        capture: {{_echo: {{json: $}}}}
      - request: GET /echo
        capture: {{_again: {{json: $}}}}
""")  # fmt: skip
    assert ran.end.outcome is ArrivalOutcome.COMPLETED
    assert col(ran, "status") == [302, 200, 200] and col(ran, "hop") == [0, 1, 0]
    assert "cookie" not in ran.vars["_echo"]["headers"]  # 127.0.0.1's cookie stays there
    assert "hop=302" in ran.vars["_again"]["headers"]["cookie"]


def test_follow_redirects_false_makes_a_3xx_an_ordinary_answer(
    tmp_path: Path, server: JourneyServer
) -> None:
    on_request = run(tmp_path, server, """\
      - request: {path: /redirect/303?to=/echo, follow_redirects: false}
        capture: {_where: {header: Location}}
""")  # fmt: skip
    in_settings = run(tmp_path, server, "      - request: GET /redirect/301?to=/echo\n",
                      head="settings: {follow_redirects: false}\n")  # fmt: skip
    assert col(on_request, "status") == [303] and on_request.vars["_where"] == "/echo"
    assert col(in_settings, "status") == [301] and col(in_settings, "outcome") == ["ok"]


def test_follow_redirects_must_be_true_or_false(tmp_path: Path) -> None:
    from loadkit.errors import ValidationErrors
    from loadkit.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text("personas:\n  p:\n    steps:\n      - request: {path: /, follow_redirects: 1}\n"
                    "settings: {follow_redirects: nope}\n")  # fmt: skip
    with pytest.raises(ValidationErrors) as info:
        load_scenario(path)
    text = str(info.value)
    assert "s.yaml:4" in text and "follow_redirects is true or false" in text
    assert "s.yaml:5" in text and "expected true or false" in text


def test_gates_address_hops_by_name_and_hop(tmp_path: Path, server: JourneyServer) -> None:
    from loadkit.analysis import analyze
    from loadkit.gates import parse_threshold
    from loadkit.results.reader import open_run
    from loadkit.results.writer import RecordKind, SegmentWriter, write_manifest

    ran = run(tmp_path, server, """\
      - request: {method: POST, path: /redirect/303?to=/echo, name: checkout}
""")  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    SegmentWriter(run_dir, 0).write_rows(RecordKind.REQUESTS, ran.rows)
    write_manifest(run_dir, {"schema_version": 1, "run_id": "r", "status": "completed",
                             "t0_ns": ran.rows[0][COL["intended_ns"]], "duration_s": 1.0})  # fmt: skip
    gates = ["count{name=checkout} == 2", "count{name=checkout,hop=0} == 1",
             "count{name=checkout,hop=1,method=GET} == 1"]  # fmt: skip
    result = analyze(open_run(run_dir), [parse_threshold(t) for t in gates])
    assert [g.observed for g in result.gates] == [2, 1, 1]
