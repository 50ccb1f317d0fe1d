"""loadkit's records against HTTP servers nobody here designed to fit (tests/runner/rude_servers.py).

Each test drives a ``Visitor`` (or one journey) against a server with impolite but legal, or
plainly illegal, HTTP behaviour and compares what loadkit recorded (status, outcome, bytes,
timing, error text) with what the server really did (the requests it read, per connection).
A few requests each: the whole file runs in a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from loadkit.results.schema import REQUEST_SCHEMA, ArrivalOutcome, Outcome
from loadkit.runner.clock import Clock
from loadkit.runner.journey import HttpResult
from loadkit.runner.recorder import Recorder
from loadkit.runner.visitor import Target, Visitor
from tests.runner import rude_servers as rude
from tests.runner.rude_servers import Seen, answer
from tests.runner.test_journey_steps import run

COL = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}


def _visitor(url: str, **kw: Any) -> Visitor:
    target = Target.from_url(url, **kw).resolve()
    return Visitor(1, "fan", seed=1, target=target, recorder=Recorder(), clock=Clock.measure())


def send(v: Visitor, method: str, path: str, body: bytes | None = None) -> HttpResult:
    """One request, recorded as a journey would (an error class, http_error for >= 400)."""
    r = v.http(method, path, name=f"{method} {path}", step="s", body=body)
    if r.error_kind is not None:
        outcome = Outcome(r.error_kind)
    else:
        outcome = Outcome.OK if r.status < 400 else Outcome.HTTP_ERROR
    v.record(r, outcome)
    return r


def rows(v: Visitor) -> list[dict[str, Any]]:
    return [dict(zip(COL, row, strict=True)) for row in v._recorder.requests]


def heads(seen: list[Seen]) -> list[tuple[str, str, int]]:
    """(method, path, connection) of every request head the server read."""
    return [(s.method, s.path, s.connection) for s in seen]


# ----------------------------------------------------------------- 1. keep-alive limits


def test_a_keep_alive_limit_costs_no_error_and_sends_each_request_once() -> None:
    # the server closes each connection after 2 answers without "Connection: close" (like an
    # idle or request-count limit); a person thinks between requests, so the close arrives
    # before the next one (the close crossing a request is the next tests' case)
    with rude.rude_server(rude.keep_alive_then_close(2)) as server:
        v = _visitor(server.url)
        results = []
        for method in ["GET"] * 3 + ["POST"] * 3:
            results.append(send(v, method, "/x", b"n=1" if method == "POST" else None))
            time.sleep(0.05)
        v.close()
        seen = server.snapshot()
    assert [r.status for r in results] == [200] * 6
    assert [r.content for r in results] == [b"ok 1", b"ok 2"] * 3
    assert [row["outcome"] for row in rows(v)] == ["ok"] * 6
    assert [row["bytes"] for row in rows(v)] == [4] * 6
    assert [s.method for s in seen] == ["GET"] * 3 + ["POST"] * 3  # each sent exactly once
    assert [s.connection for s in seen] == [1, 1, 2, 2, 3, 3]


def test_a_post_that_crosses_the_targets_close_is_an_error_and_never_sent_twice() -> None:
    # the third POST reaches the server as it closes the connection (it reads the request and
    # hangs up): nothing came back, the server may or may not have acted on it, so a POST
    # must not be sent again behind the user's back
    with rude.rude_server(rude.keep_alive_then_close(2, drop_next=True)) as server:
        v = _visitor(server.url)
        results = [send(v, "POST", f"/buy/{k}", b"seat=A1") for k in range(1, 5)]
        v.close()
        seen = server.snapshot()
    assert [r.status for r in results] == [200, 200, 0, 200]
    third = rows(v)[2]
    assert (third["outcome"], third["status"], third["bytes"]) == ("connection_error", 0, 0)
    assert "closed the connection without answering" in third["error"]
    assert "kept alive" in third["error"] and "not sent again" in third["error"]
    assert heads(seen) == [
        ("POST", "/buy/1", 1),
        ("POST", "/buy/2", 1),
        ("POST", "/buy/3", 1),  # once, on the old connection: never resent
        ("POST", "/buy/4", 2),
    ]


def test_a_get_that_crosses_the_close_is_sent_again_once_on_a_new_connection() -> None:
    # what browsers do: an idempotent request that got nothing back on a reused connection
    # goes again, once, on a fresh one
    with rude.rude_server(rude.keep_alive_then_close(2, drop_next=True)) as server:
        v = _visitor(server.url)
        results = [send(v, "GET", f"/page/{k}") for k in range(1, 4)]
        v.close()
        seen = server.snapshot()
    assert [(r.status, r.content) for r in results] == [
        (200, b"ok 1"),
        (200, b"ok 2"),
        (200, b"ok 1"),
    ]
    assert [row["outcome"] for row in rows(v)] == ["ok"] * 3
    assert heads(seen) == [
        ("GET", "/page/1", 1),
        ("GET", "/page/2", 1),
        ("GET", "/page/3", 1),  # dropped by the server's close
        ("GET", "/page/3", 2),  # sent again on a new connection, answered
    ]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_new_connection_closed_without_an_answer_is_one_error_and_one_request(
    method: str,
) -> None:
    # a target that hangs up on every request: a GET used to go out three times (two silent
    # resends) while one row was recorded; the server must see what the records say
    with rude.rude_server(rude.keep_alive_then_close(0, drop_next=True)) as server:
        v = _visitor(server.url)
        r = send(v, method, "/x", b"a=1" if method == "POST" else None)
        v.close()
        seen = server.snapshot()
    assert (r.status, r.error_kind) == (0, "connection_error")
    assert "closed the connection without answering" in (r.error or "")
    assert heads(seen) == [(method, "/x", 1)]


# ----------------------------------------------------------------- 2. how an answer ends


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_an_answer_ended_by_closing_the_connection_is_whole(version: str) -> None:
    behaviour = rude.close_delimited([b"abc", b"def", b"g" * 5000], version=version, gap_s=0.02)
    with rude.rude_server(behaviour) as server:
        v = _visitor(server.url)
        first, second = send(v, "GET", "/a"), send(v, "GET", "/b")
        v.close()
        seen = server.snapshot()
    assert (first.status, first.content) == (200, b"abcdef" + b"g" * 5000)
    assert second.content == first.content  # the closed connection was not reused
    assert [row["bytes"] for row in rows(v)] == [5006, 5006]
    assert [row["outcome"] for row in rows(v)] == ["ok", "ok"]
    assert heads(seen) == [("GET", "/a", 1), ("GET", "/b", 2)]


@pytest.mark.parametrize(
    ("size", "extension", "trailers"),
    [(1, "", ""), (7, ';name="v a";x', ""), (4, "", "X-Checksum: 42\r\nX-Other: 1\r\n")],
    ids=["one-byte-chunks", "chunk-extensions", "trailers"],
)
def test_chunked_answers_are_whole_and_keep_the_connection(
    size: int, extension: str, trailers: str
) -> None:
    body = bytes(range(256)) * 8  # 2 KiB, every byte value
    with rude.rude_server(
        rude.chunked(body, size=size, extension=extension, trailers=trailers)
    ) as server:
        v = _visitor(server.url)
        results = [send(v, "GET", f"/c/{k}") for k in range(3)]
        v.close()
        seen = server.snapshot()
    assert [r.content for r in results] == [body] * 3  # no chunk sizes, extensions or trailers
    assert [row["bytes"] for row in rows(v)] == [len(body)] * 3
    assert {s.connection for s in seen} == {1}  # the chunked framing ended each answer exactly


# ----------------------------------------------------------------- 3. a trickled body


@pytest.mark.parametrize("whole", [False, True], ids=["body", "status-line-and-headers"])
def test_a_trickled_answer_times_out_at_the_request_timeout_not_when_the_trickle_ends(
    whole: bool,
) -> None:
    # one byte every 300 ms for 6 s or more (the body only, or the whole answer): the request
    # owns 1 s, and every byte that arrives must not push its deadline back
    with rude.rude_server(rude.trickle(20, 0.3, whole=whole)) as server:
        v = _visitor(server.url, request_timeout_s=1.0)
        r = send(v, "GET", "/slow")
        v.close()
    assert (r.status, r.error_kind) == (0, "timeout")
    assert 1000 <= r.service_ms <= 1050
    row = rows(v)[0]
    assert (row["outcome"], row["bytes"]) == ("timeout", 0)
    assert row["error"] == "timeout: no complete response in time"


# ----------------------------------------------------------------- 4. answers without bodies


def _bodyless(seen: Seen) -> bytes:
    if seen.method == "HEAD":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    if seen.path == "/204":
        return b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
    if seen.path == "/304":
        return b'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: "v1"\r\n\r\n'
    if seen.path == "/103":
        hints = b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"
        return hints + answer(200, b"final", "X-Final: 1\r\n")
    if seen.path == "/100-103":
        interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        return interim + answer(201, b"made")
    return answer(200, b"hello")


def test_head_204_and_304_have_no_body_even_with_a_content_length_and_keep_the_connection() -> None:
    with rude.rude_server(rude.scripted(_bodyless)) as server:
        v = _visitor(server.url, request_timeout_s=2.0)
        results = [
            send(v, m, p)
            for m, p in [("HEAD", "/"), ("GET", "/"), ("GET", "/204"), ("GET", "/"),
                         ("GET", "/304"), ("GET", "/")]
        ]  # fmt: skip
        v.close()
        seen = server.snapshot()
    assert [(r.status, r.content) for r in results] == [
        (200, b""), (200, b"hello"), (204, b""), (200, b"hello"), (304, b""), (200, b"hello")
    ]  # fmt: skip
    assert [row["bytes"] for row in rows(v)] == [0, 5, 0, 5, 0, 5]
    assert all(r.service_ms < 500 for r in results)  # nobody waited for the 5 announced bytes
    assert {s.connection for s in seen} == {1}


def test_interim_1xx_answers_are_skipped_for_the_final_answer() -> None:
    with rude.rude_server(rude.scripted(_bodyless)) as server:
        v = _visitor(server.url, request_timeout_s=2.0)
        hints, both, after = (
            send(v, "GET", "/103"),
            send(v, "POST", "/100-103", b"x"),
            send(v, "GET", "/"),
        )
        v.close()
        seen = server.snapshot()
    assert (hints.status, hints.content, hints.header("x-final")) == (200, b"final", "1")
    assert hints.header("link") is None  # the hint's headers are not the answer's
    assert (both.status, both.content) == (201, b"made")
    assert (after.status, after.content) == (200, b"hello")
    assert [row["status"] for row in rows(v)] == [200, 201, 200]
    assert len(seen) == 3 and {s.connection for s in seen} == {1}


def test_a_head_answer_with_an_illegal_body_is_ok_and_the_stray_body_is_never_an_answer() -> None:
    def replies(seen: Seen) -> bytes:
        return answer(200, b"stray" if seen.method == "HEAD" else b"hello")  # a body for HEAD!

    with rude.rude_server(rude.scripted(replies)) as server:
        v = _visitor(server.url, request_timeout_s=2.0)
        results = [send(v, m, "/") for m in ["HEAD", "GET", "HEAD", "GET"]]
        v.close()
        seen = server.snapshot()
    assert [(r.status, r.content) for r in results] == [(200, b""), (200, b"hello")] * 2
    assert [row["outcome"] for row in rows(v)] == ["ok"] * 4
    assert [s.method for s in seen] == ["HEAD", "GET", "HEAD", "GET"]


@pytest.mark.parametrize("says_continue", [False, True], ids=["silent", "100-continue"])
def test_expect_100_continue_sends_the_body_at_the_word_or_after_a_second_of_silence(
    says_continue: bool,
) -> None:
    # a target may read the body without ever sending 100 Continue; a client that asked for
    # one must not wait for ever (RFC 9110 10.1.1; curl waits 1 s): it used to time out
    def behave(conn: rude.Conn) -> None:
        seen = conn.read_head()
        if seen is None:
            return
        if says_continue:
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.read_body(seen)
        conn.reply(seen, answer(201, f"got {seen.body_bytes}".encode()))

    with rude.rude_server(behave) as server:
        v = _visitor(server.url, request_timeout_s=3.0)
        r = v.http("POST", "/up", name="up", step="s", body=b"x" * 100,
                   headers={"Expect": "100-continue"})  # fmt: skip
        v.close()
        seen = server.snapshot()
    assert (r.status, r.content, r.error_kind) == (201, b"got 100", None)
    if says_continue:
        assert r.service_ms < 500
    else:
        assert 1000 <= r.service_ms <= 1500
    assert len(seen) == 1 and seen[0].body_bytes == 100


# ----------------------------------------------------------------- 5. early answers


@pytest.mark.parametrize(("status", "reason", "size"), [(413, "Payload Too Large", 8 << 20),
                                                       (401, "Unauthorized", 100)])  # fmt: skip
def test_an_answer_sent_before_the_body_was_read_is_recorded(
    status: int, reason: str, size: int
) -> None:
    with rude.rude_server(rude.early_answer(status, reason)) as server:
        v = _visitor(server.url, request_timeout_s=5.0)
        r = send(v, "POST", "/upload", b"x" * size)
        after = send(v, "GET", "/next")  # a new connection: the server closed that one
        v.close()
        seen = server.snapshot()
    assert (r.status, r.content, r.error_kind) == (status, f"{status} {reason}".encode(), None)
    row = rows(v)[0]
    assert (row["outcome"], row["status"], row["bytes"]) == ("http_error", status, len(r.content))
    assert r.service_ms < 3000  # the answer, not the request timeout
    assert after.status == status
    assert heads(seen) == [("POST", "/upload", 1), ("GET", "/next", 2)]
    assert seen[0].body_bytes == 0  # sent once, never resent, its body never read


# ----------------------------------------------------------------- 6. broken answers


def test_a_reset_in_the_middle_of_an_answer_is_a_connection_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    with rude.rude_server(rude.reset_mid_answer(head, b"x" * 300)) as server:
        v = _visitor(server.url, request_timeout_s=5.0)
        r = send(v, "GET", "/x")
        v.close()
        seen = server.snapshot()
    assert (r.status, r.error_kind, r.content) == (0, "connection_error", b"")
    assert "reset" in (r.error or "").lower()
    assert r.service_ms < 2000  # at the reset, not at the timeout
    assert len(seen) == 1  # a GET that got part of an answer is not sent again


@pytest.mark.parametrize(
    ("status_line", "reason"),
    [(b"HTTP/1.1 OK", "invalid status code"), (b"HTTP/1.1 2000 OK", "invalid response status"),
     (b"HELLO", "expected http/")],
)  # fmt: skip
def test_a_malformed_status_line_is_a_connection_error_that_says_so(
    status_line: bytes, reason: str
) -> None:
    def replies(seen: Seen) -> bytes:
        if seen.path == "/bad":
            return status_line + b"\r\nContent-Length: 2\r\n\r\nhi"
        return answer(200, b"fine")

    with rude.rude_server(rude.scripted(replies)) as server:
        v = _visitor(server.url, request_timeout_s=2.0)
        bad, good = send(v, "GET", "/bad"), send(v, "GET", "/good")
        v.close()
    error = rows(v)[0]["error"]
    assert (bad.status, rows(v)[0]["outcome"]) == (0, "connection_error")
    assert error.startswith("malformed HTTP answer from the target: ") and reason in error.lower()
    assert "(" not in error  # not a tuple's repr
    assert (good.status, good.content) == (200, b"fine")


def test_an_answer_shorter_than_its_content_length_then_closed_is_cut_short_at_once() -> None:
    def behave(conn: rude.Conn) -> None:
        if conn.read_request() is not None:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")

    with rude.rude_server(behave) as server:
        v = _visitor(server.url, request_timeout_s=5.0)
        r = send(v, "GET", "/x")
        v.close()
        seen = server.snapshot()
    assert (r.status, r.error_kind) == (0, "connection_error")
    assert r.error == "the target closed the connection in the middle of its answer"
    assert r.service_ms < 2000
    assert len(seen) == 1


def _overlong(seen: Seen) -> bytes:
    if seen.path == "/chars":  # Content-Length counted in characters: "café" is 5 bytes
        return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ncaf\xc3\xa9"
    if seen.path == "/unasked":  # a second answer nobody asked for, in the same write
        return answer(201, b"first", "X-A: 1\r\n") + answer(200, b"unasked", "X-B: 2\r\n")
    if seen.path == "/204":  # a body after a 204 (illegal)
        return b"HTTP/1.1 204 No Content\r\n\r\nstray body"
    return answer(200, b"fine")


@pytest.mark.parametrize(
    ("path", "status", "content"),
    [("/chars", 200, b"caf\xc3"), ("/unasked", 201, b"first"), ("/204", 204, b"")],
)
def test_bytes_after_a_complete_answer_are_not_part_of_it_and_the_connection_goes(
    path: str, status: int, content: bytes
) -> None:
    # a browser ends an answer where its framing says and drops the dirty connection; the
    # client used to fail the complete answer (a parse error) or, for an unasked second
    # answer, append its body to the first ("firstunasked", 12 bytes for a 5-byte answer)
    with rude.rude_server(rude.scripted(_overlong)) as server:
        v = _visitor(server.url, request_timeout_s=2.0)
        r, after = send(v, "GET", path), send(v, "GET", "/next")
        v.close()
        seen = server.snapshot()
    assert (r.status, r.content, r.error_kind) == (status, content, None)
    assert rows(v)[0]["bytes"] == len(content) and rows(v)[0]["outcome"] == "ok"
    if path == "/unasked":
        assert (r.header("x-a"), r.header("x-b")) == ("1", None)
    assert (after.status, after.content) == (200, b"fine")
    assert heads(seen) == [("GET", path, 1), ("GET", "/next", 2)]


def test_connection_close_is_honoured_even_when_the_server_is_slow_to_close() -> None:
    # "Connection: close", then the server keeps the socket open for a while: the client must
    # not send its next request there (it would wait on a connection nobody reads)
    def behave(conn: rude.Conn) -> None:
        seen = conn.read_request()
        if seen is not None:
            conn.reply(seen, answer(200, b"bye", "Connection: close\r\n"))
            conn.server.stopping.wait(1.0)

    with rude.rude_server(behave) as server:
        v = _visitor(server.url, request_timeout_s=3.0)
        results = [send(v, "GET", f"/{k}") for k in range(3)]
        v.close()
        seen = server.snapshot()
    assert [(r.status, r.content) for r in results] == [(200, b"bye")] * 3
    assert all(r.service_ms < 500 for r in results)
    assert heads(seen) == [("GET", "/0", 1), ("GET", "/1", 2), ("GET", "/2", 3)]


# ----------------------------------------------------------------- 7. big headers, Location


def _cookies(seen: Seen) -> bytes:
    if seen.path == "/big":
        return answer(200, b"big", "Set-Cookie: big=" + "v" * 65536 + "; Path=/\r\n")
    if seen.path == "/many":
        lines = "".join(f"Set-Cookie: c{i}=v{i}; Path=/\r\n" for i in range(300))
        return answer(200, b"many", lines + "Set-Cookie: sid=s1; Path=/\r\n")
    return answer(200, seen.headers.get("cookie", "").encode())


def test_a_64_kib_set_cookie_is_read_and_ignored_as_browsers_do() -> None:
    # RFC 6265bis 5.7: a cookie whose name and value exceed 4096 bytes is ignored; keeping it
    # made every later request carry a 64 KiB Cookie header no browser would send
    with rude.rude_server(rude.scripted(_cookies)) as server:
        v = _visitor(server.url)
        big, echo = send(v, "GET", "/big"), send(v, "GET", "/echo")
        v.close()
        seen = server.snapshot()
    assert (big.status, big.content, len(big.header("set-cookie") or "")) == (200, b"big", 65548)
    assert v.cookie("big") is None
    assert echo.content == b"" and "cookie" not in seen[1].headers


def test_many_set_cookie_headers_are_all_kept() -> None:
    with rude.rude_server(rude.scripted(_cookies)) as server:
        v = _visitor(server.url)
        many, echo = send(v, "GET", "/many"), send(v, "GET", "/echo")
        v.close()
    assert (many.status, len(many.header_list("set-cookie"))) == (200, 301)
    sent = echo.content.decode().split("; ")
    assert len(sent) == 301 and sent[0] == "c0=v0" and "sid=s1" in sent


def _redirects(seen: Seen) -> bytes:
    where = {
        "/from/rel/x": "../to/up",
        "/from/query": "?page=2",
        "/from/space": "/to/a b?q=x y",
        "/from/pct": "/to/a%20b",
        "/from/scheme-relative": "//{host}/to/net",
    }
    if seen.path in where:
        location = where[seen.path].format(host=seen.headers["host"])
        return answer(302, b"", f"Location: {location}\r\n")
    if seen.path == "/from/unicode":  # UTF-8 bytes as the server wrote them
        return b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: /to/caf\xc3\xa9?q=\xe2\x82\xac\r\n\r\n"
    return answer(200, seen.path.encode())


@pytest.mark.parametrize(
    ("start", "hop_path"),
    [
        ("/from/rel/x", "/from/to/up"),
        ("/from/query", "/from/query?page=2"),
        ("/from/space", "/to/a%20b?q=x%20y"),
        ("/from/pct", "/to/a%20b"),
        ("/from/unicode", "/to/caf%C3%A9?q=%E2%82%AC"),
        ("/from/scheme-relative", "/to/net"),
    ],
)
def test_a_redirect_location_is_resolved_and_encoded_as_a_browser_does(
    tmp_path: Path, start: str, hop_path: str
) -> None:
    with rude.rude_server(rude.scripted(_redirects)) as server:
        ran = run(tmp_path, server, f"      - request: GET {start}\n")  # type: ignore[arg-type]
        seen = server.snapshot()
    assert ran.end.outcome is ArrivalOutcome.COMPLETED, ran.end.reason
    assert [row[COL["status"]] for row in ran.rows] == [302, 200]
    assert [row[COL["hop"]] for row in ran.rows] == [0, 1]
    assert [s.path for s in seen] == [start, hop_path]


# ----------------------------------------------------------------- the whole path: loadkit run


def _run_scenario(url: str) -> str:
    """Buyers send 5 POSTs, browsers 5 GETs, each tagged with its arrival and number."""
    steps = {
        method: "".join(
            f"      - name: s{k}\n"
            f"        request: {{method: {method}, path: /{method.lower()}/{k},"
            f' query: {{a: "{{{{ arrival_id }}}}"}}{", form: {seat: A1}" if method == "POST" else ""}}}\n'
            "        on_error: continue\n"
            for k in range(1, 6)
        )
        for method in ("POST", "GET")
    }
    return (
        f"name: rude\nhost: {url}\nsettings: {{request_timeout: 2s}}\npersonas:\n"
        f"  buyer:\n    weight: 1\n    steps:\n{steps['POST']}"
        f"  browser:\n    weight: 1\n    steps:\n{steps['GET']}"
        "thresholds:\n  - error_rate < 50%\n"
    )


def _key(path: str) -> tuple[int, int]:
    """(arrival, request number) of a path ``/<method>/<k>?a=<arrival>``."""
    where, _, query = path.partition("?a=")
    return int(query), int(where.rsplit("/", 1)[1])


@pytest.mark.integration
def test_a_run_against_a_keep_alive_limit_sends_every_post_once(tmp_path: Path) -> None:
    # every connection answers 2 requests; on odd ones the server then closes (the next
    # request finds the connection closed, or meets the close on the wire), on even ones it
    # reads the 3rd request and closes (the request crosses the close). In the runner's
    # gevent-patched process, records must say what the server lived: a POST at most once,
    # a GET at most once more, and only after nothing came back
    from tests.test_truth_e2e import _loadkit, _only_run, _profile, _table

    behaviour = rude.keep_alive_then_close(2, drop_next=lambda conn: conn.number % 2 == 0)
    with rude.rude_server(behaviour) as server:
        scenario = tmp_path / "rude.yaml"
        scenario.write_text(_run_scenario(server.url))
        done = _loadkit(tmp_path, "run", str(scenario), "-p", str(_profile(tmp_path, 1.0, "8/s")),
                        "--out", str(tmp_path / "out"))  # fmt: skip
        seen = server.snapshot()
    assert done.returncode == 0, done.stdout + done.stderr
    records = _table(_only_run(tmp_path / "out"), "requests")
    assert len(records) == 8 * 5
    by_key: dict[tuple[int, int], list[Seen]] = {}
    for s in seen:
        by_key.setdefault(_key(s.path), []).append(s)
    assert set(by_key) <= {(r["arrival_id"], int(r["step"][1:])) for r in records}
    lost = {"POST": 0, "GET": 0}
    for rec in records:
        got = by_key.get((rec["arrival_id"], int(rec["step"][1:])), [])
        answered = [s for s in got if s.answered_ns is not None]
        lost[rec["method"]] += len(got) - len(answered)
        if rec["method"] == "POST":
            assert len(got) <= 1, (rec, got)  # never sent twice
            if answered:
                assert (rec["status"], rec["outcome"], rec["bytes"]) == (200, "ok", 4)
                assert answered[0].body_bytes == len(b"seat=A1")
            else:  # the server closed instead of answering (it may not even have read it)
                assert (rec["status"], rec["outcome"]) == (0, "connection_error"), (rec, got)
                assert "closed the connection without answering" in rec["error"]
        else:
            assert (rec["status"], rec["outcome"]) == (200, "ok"), (rec, got)
            assert len(answered) == 1 and len(got) <= 2, (rec, got)  # at most one resend
            assert got[-1] is answered[0]  # the one answered is the last sent
    assert lost["POST"] >= 1 and lost["GET"] >= 1  # both crossings happened


def test_an_https_target_gets_the_same_client_rules(closed_port_url: str) -> None:
    from loadkit.runner.http_client import VisitorClient, VisitorPool

    url = closed_port_url.replace("http://", "https://")
    client = VisitorClient("https", "127.0.0.1", int(url.rsplit(":", 1)[1]),
                           connect_timeout_s=1.0, user_agent="t")  # fmt: skip
    assert isinstance(client.pool, VisitorPool) and client.pool.ssl_context is not None
    client.close()
    v = _visitor(url)
    r = send(v, "GET", "/")
    v.close()
    assert (r.status, r.error_kind) == (0, "connection_error") and "refused" in (r.error or "")
