"""The live server's routes and who may press Stop (the WSGI app called directly)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from loadkit.runner.live_address import LiveAddress
from loadkit.runner.live_board import LiveBoard
from loadkit.runner.live_server import LiveServer

KEY = "correct-horse-battery"


@pytest.fixture
def stops() -> list[str]:
    return []


def _server(host: str, stops: list[str], key: str | None = None) -> Iterator[LiveServer]:
    board = LiveBoard(run_id="r1", mode="local")
    board.tick(0.5, 1.0)
    server = LiveServer(LiveAddress(host, 0), board, stops.append, key=key)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def loopback(stops: list[str]) -> Iterator[LiveServer]:
    yield from _server("127.0.0.1", stops)


@pytest.fixture
def public(stops: list[str]) -> Iterator[LiveServer]:
    yield from _server("0.0.0.0", stops, key=KEY)


def call(
    server: LiveServer, method: str, path: str, remote: str = "127.0.0.1", **headers: str
) -> tuple[str, dict[str, str], bytes]:
    got: dict[str, Any] = {}

    def start_response(status: str, header_list: list[tuple[str, str]]) -> None:
        got["status"], got["headers"] = status, dict(header_list)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "REMOTE_ADDR": remote,
        "wsgi.input": io.BytesIO(b""),
        **{"HTTP_" + k.upper(): v for k, v in headers.items()},
    }
    body = b"".join(server.app(environ, start_response))
    return got["status"], got["headers"], body


def test_routes_answer_the_page_the_metrics_and_the_json(loopback: LiveServer) -> None:
    status, headers, body = call(loopback, "GET", "/")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/html")
    assert b"<script" in body and b"src=" not in body  # self-contained: no external scripts
    status, headers, body = call(loopback, "GET", "/metrics")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain")
    assert b'loadkit_run_info{mode="local"' in body
    status, _, body = call(loopback, "GET", "/live.json")
    data = json.loads(body)
    assert (data["run_id"], data["stop_needs_key"]) == ("r1", False)
    assert call(loopback, "GET", "/nope")[0] == "404 Not Found"
    assert call(loopback, "PUT", "/stop")[0] == "405 Method Not Allowed"


def test_stop_from_loopback_needs_only_the_header_and_stops_once(
    loopback: LiveServer, stops: list[str]
) -> None:
    assert call(loopback, "POST", "/stop")[0] == "400 Bad Request"  # a plain form post
    assert stops == []
    assert call(loopback, "POST", "/stop", remote="10.1.2.3", x_loadkit_stop="1")[0] == (
        "403 Forbidden"
    )
    assert call(loopback, "POST", "/stop", x_loadkit_stop="1")[0] == "202 Accepted"
    assert call(loopback, "POST", "/stop", x_loadkit_stop="1")[0] == "202 Accepted"
    assert stops == ["stopped from the live page (127.0.0.1)"]


def test_stop_beyond_loopback_needs_the_key(public: LiveServer, stops: list[str]) -> None:
    data = json.loads(call(public, "GET", "/live.json", remote="10.0.0.9")[2])
    assert data["stop_needs_key"] is True
    for remote in ("127.0.0.1", "10.0.0.9"):
        assert call(public, "POST", "/stop", remote=remote, x_loadkit_stop="1")[0] == (
            "403 Forbidden"
        )
        assert call(public, "POST", "/stop", remote=remote, x_loadkit_stop="wrong-key-x")[0] == (
            "403 Forbidden"
        )
    assert stops == []
    assert call(public, "POST", "/stop", remote="10.0.0.9", x_loadkit_stop=KEY)[0] == "202 Accepted"
    assert stops == ["stopped from the live page (10.0.0.9)"]


def test_a_failing_route_answers_500_and_leaves_the_run_alone(
    loopback: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, object]:
        raise ValueError("boom")

    monkeypatch.setattr(loopback.board, "snapshot", broken)
    status, _, body = call(loopback, "GET", "/live.json")
    assert status == "500 Internal Server Error" and b"ValueError: boom" in body
    assert call(loopback, "GET", "/metrics")[0] == "200 OK"
