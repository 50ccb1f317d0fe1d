"""The Visitor: one person's connection, cookies and randomness; errors become results, not raises."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from geventhttpclient.header import Headers

from loadkit.errors import TargetError
from loadkit.results.schema import REQUEST_SCHEMA, Outcome
from loadkit.runner.clock import Clock
from loadkit.runner.cookies import CookieJar
from loadkit.runner.journey import HttpResult
from loadkit.runner.journey import types as journey_types
from loadkit.runner.recorder import Recorder
from loadkit.runner.redact import redact
from loadkit.runner.visitor import RunState, Target, Visitor
from tests.runner.truth_server import truth_server

COL = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}


def _visitor(url: str, arrival_id: int = 5, recorder: Recorder | None = None, **kw: Any) -> Visitor:
    target = Target.from_url(url, **kw).resolve()
    return Visitor(
        arrival_id, "fan", seed=11, target=target, recorder=recorder or Recorder(),
        clock=Clock.measure(), worker_id=2,
    )  # fmt: skip


def test_http_then_record_appends_one_full_row(tiny_server: Any) -> None:
    rec = Recorder()
    v = _visitor(tiny_server.url, recorder=rec)
    result = v.http(
        "GET",
        "/hello",
        name="GET /hello",
        step="landing",
        intended_ns=v.now_ns() - 5_000_000,
        attempt=2,
    )
    v.record(result, Outcome.OK)
    v.close()
    assert result.status == 200 and result.content == b"hello" and result.error_kind is None
    assert result.response_ms >= result.service_ms + 4.9
    (row,) = rec.requests
    assert len(row) == len(REQUEST_SCHEMA)
    assert row[COL["arrival_id"]] == 5 and row[COL["worker"]] == 2
    assert (row[COL["persona"]], row[COL["step"]], row[COL["name"]]) == (
        "fan",
        "landing",
        "GET /hello",
    )
    assert (row[COL["method"]], row[COL["status"]], row[COL["outcome"]]) == ("GET", 200, "ok")
    assert row[COL["error"]] is None and row[COL["bytes"]] == 5 and row[COL["attempt"]] == 2
    assert v.requests == 1 and v.errors == 0


def test_cookies_are_kept_per_visitor(tiny_server: Any) -> None:
    a, b = _visitor(tiny_server.url, 1), _visitor(tiny_server.url, 2)
    a.http("GET", "/cookie/set", name="set", step="s")
    assert a.http("GET", "/cookie/echo", name="echo", step="s").content == b"sid=abc123"
    assert b.http("GET", "/cookie/echo", name="echo", step="s").content == b""
    assert a.cookie("sid") == "abc123"
    a.clear_cookies()
    assert a.http("GET", "/cookie/echo", name="echo", step="s").content == b""
    a.close()
    b.close()


def test_unreachable_target_is_a_connection_error_result(closed_port_url: str) -> None:
    rec = Recorder()
    v = _visitor(closed_port_url, recorder=rec)
    result = v.http("POST", "/x", name="x", step="s", body=b"{}")
    v.record(result, Outcome.CONNECTION_ERROR)
    assert (result.status, result.error_kind) == (0, "connection_error")
    assert "refused" in (result.error or "").lower()
    assert rec.requests[0][COL["outcome"]] == "connection_error"
    assert rec.error_count == 1 and v.errors == 1


def test_slow_response_times_out(tiny_server: Any) -> None:
    v = _visitor(tiny_server.url)
    result = v.http("GET", "/slow", name="slow", step="s", timeout_s=0.1)
    assert (result.status, result.error_kind) == (0, "timeout")
    # the next request gets a fresh connection and works
    assert v.http("GET", "/", name="root", step="s").status == 200
    v.close()


def test_stored_error_text_is_redacted(tiny_server: Any) -> None:
    rec = Recorder()
    v = _visitor(tiny_server.url, recorder=rec)
    result = v.http("GET", "/fail", name="fail", step="s")
    v.record(result, Outcome.HTTP_ERROR, "503 for Authorization: Bearer eyJabc.def.ghi")
    error = rec.requests[0][COL["error"]]
    assert "eyJ" not in error and "Bearer eyJ" not in error and "503" in error
    v.close()


def test_rng_is_seeded_per_arrival(tiny_server: Any) -> None:
    draws = [_visitor(tiny_server.url, 9).rng.random() for _ in range(2)]
    assert draws[0] == draws[1]
    assert _visitor(tiny_server.url, 10).rng.random() != draws[0]


def test_paths_join_the_base_path_and_other_origins_are_refused() -> None:
    t = Target.from_url("http://127.0.0.1:8080/api/")
    assert t.path_of("/events/1") == "/api/events/1"
    assert t.path_of("events/1") == "/api/events/1"
    assert t.path_of("http://127.0.0.1:8080/x?a=1") == "/x?a=1"
    with pytest.raises(TargetError, match="refusing"):
        t.path_of("http://evil.example/x")


def test_cookie_jar_honours_path_and_deletion() -> None:
    jar = CookieJar()
    jar.update(["a=1; Path=/", "b=2; Path=/shop", "c=3; Max-Age=0"], "/")
    assert jar.header_for("/") == "a=1"
    assert jar.header_for("/shop/cart") == "a=1; b=2"
    jar.update(["a=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT"], "/")
    assert jar.header_for("/") is None


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{"access_token": "s3cr3t-value"}', "s3cr3t-value"),
        ("Cookie: sid=abc; other=1", "sid=abc"),
        ("GET http://bob:hunter2@shop/x", "hunter2"),
        ("token=abcdef&x=1", "abcdef"),
    ],
)
def test_redact_removes_credentials(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "[redacted]" in redact(text)


def test_a_stopping_run_ends_the_journey_at_its_next_request(tiny_server: Any) -> None:
    import gevent

    state = RunState()
    v = Visitor(1, "fan", seed=1, target=Target.from_url(tiny_server.url), recorder=Recorder(),
                clock=Clock.measure(), state=state)  # fmt: skip
    assert v.http("GET", "/", name="a", step="s").status == 200
    state.stopping = True
    with pytest.raises(gevent.GreenletExit):
        v.http("GET", "/", name="a", step="s")
    with pytest.raises(gevent.GreenletExit):
        v.sleep(0.01)
    v.close()


def test_an_absolute_url_to_the_targets_host_on_another_port_is_refused() -> None:
    t = Target.from_url("http://127.0.0.1:8080")
    with pytest.raises(TargetError, match="refusing"):
        t.path_of("http://127.0.0.1:9999/admin")
    with pytest.raises(TargetError, match="refusing"):
        t.path_of("https://127.0.0.1:8080/x")  # another scheme is another origin
    assert Target.from_url("http://shop.test").path_of("http://shop.test:80/x") == "/x"


def test_every_request_gets_its_full_timeout_however_many_came_before() -> None:
    # three 0.6 s answers with a 1 s timeout: each fits its own timeout (a shared budget,
    # the old behaviour, timed the second out after 0.4 s and the third at once)
    with truth_server() as server:
        rec = Recorder()
        v = _visitor(server.url, recorder=rec, request_timeout_s=1.0)
        results = [v.http("GET", "/delay/600?a=5", name="slow", step="s") for _ in range(3)]
        v.close()
        seen = server.snapshot()
    assert [r.status for r in results] == [200, 200, 200]
    assert [r.error_kind for r in results] == [None, None, None]
    assert all(r.service_ms >= 600 for r in results)
    assert len(seen) == 3 and all(s.answered_ns is not None for s in seen)
    assert len({s.connection for s in seen}) == 1  # one keep-alive connection


def test_a_request_that_outlives_its_timeout_ends_as_timeout_at_its_deadline() -> None:
    with truth_server() as server:
        rec = Recorder()
        v = _visitor(server.url, recorder=rec, request_timeout_s=0.5)
        before = [v.http("GET", "/delay/300", name="ok", step="s") for _ in range(2)]
        hung = v.http("GET", "/never", name="never", step="s")
        v.record(hung, Outcome.TIMEOUT)
        after = v.http("GET", "/delay/10", name="ok", step="s")  # on a new connection
        v.close()
        seen = server.snapshot()
    assert [r.status for r in before] == [200, 200]
    assert (hung.status, hung.error_kind) == (0, "timeout")
    assert 500 <= hung.service_ms <= 550  # the request's own 0.5 s, not what was left
    assert rec.requests[0][COL["outcome"]] == "timeout"
    assert after.status == 200
    assert [s.path for s in seen] == ["/delay/300", "/delay/300", "/never", "/delay/10"]
    assert seen[3].connection != seen[2].connection


def test_a_step_timeout_overrides_the_targets_for_that_request_only() -> None:
    with truth_server() as server:
        v = _visitor(server.url, request_timeout_s=1.0)
        short = v.http("GET", "/delay/400", name="s", step="s", timeout_s=0.2)
        full = v.http("GET", "/delay/400", name="s", step="s")
        v.close()
    assert short.error_kind == "timeout" and 200 <= short.service_ms <= 250
    assert full.status == 200


def test_connect_timeout_bounds_opening_a_connection() -> None:
    # a listener whose accept queue is full: Linux drops further SYNs, so connecting hangs
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        try:
            v = _visitor(f"http://127.0.0.1:{port}", request_timeout_s=5.0, connect_timeout_s=0.3)
            result = v.http("GET", "/", name="root", step="s")
            v.close()
        finally:
            for s in fillers:
                s.close()
    assert (result.status, result.error_kind) == (0, "timeout")
    assert 300 <= result.service_ms <= 1000  # the connect timeout, far below the 5 s request one


def test_a_zero_timeout_times_out_at_once_instead_of_never() -> None:
    with truth_server() as server:
        v = _visitor(server.url)
        result = v.http("GET", "/never", name="n", step="s", timeout_s=0.0)
        v.close()
    assert result.error_kind == "timeout" and result.service_ms < 100


def test_answer_headers_are_read_in_any_case_first_value_first(tiny_server: Any) -> None:
    v = _visitor(tiny_server.url)
    result = v.http("GET", "/cookie/set", name="set", step="set")
    v.close()
    assert result.header("set-cookie") == result.header("SET-COOKIE") == "sid=abc123; Path=/"
    assert result.header("Content-Length") == "3" and result.header("Location") is None
    # a repeated header, as the client stores it
    headers = Headers()
    for name, value in [("Set-Cookie", "a=1"), ("X-Id", "7"), ("set-cookie", "b=2")]:
        headers.add(name, value)
    headers["X-Empty"] = []
    r = HttpResult(status=200, headers=headers)
    assert (r.header("set-cookie"), r.header("x-id"), r.header("x-other")) == ("a=1", "7", None)
    assert r.header("x-empty") is None
    assert r.header_list("Set-Cookie") == ["a=1", "b=2"]
    # the client's headers are read with one lookup (a client storing them otherwise would not)
    assert journey_types._ClientHeaders is Headers
