"""The live HTTP server: ``/`` the war-room page, ``/live.json`` its data, ``/metrics`` for
Prometheus, ``POST /stop`` the Stop button. gevent's WSGI server, in the runner's own loop.

Every answer is read from the ``LiveBoard`` (updated once a tick, see ``live_feed``), so a
request costs the same whatever the load; none touches the visitors' hot path.

Stop ends the rehearsal through the same call Ctrl-C makes (``Session.stop`` /
``Master.interrupt``): load stops, records are flushed, the manifest says aborted, exit 130.
It is allowed from a loopback client of a loopback-bound server, or with the key
(``X-Loadkit-Stop: KEY``). Either way the request must carry the ``X-Loadkit-Stop`` header,
which a page of another origin cannot send without a CORS preflight this server never grants.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from gevent.pywsgi import WSGIServer
from prometheus_client import CONTENT_TYPE_LATEST

from loadkit.runner.live_address import LiveAddress, bind_socket, is_loopback
from loadkit.runner.live_board import LiveBoard
from loadkit.runner.live_metrics import registry_for, render

PAGE = "live_page.html"
STOP_HEADER = "HTTP_X_LOADKIT_STOP"
StartResponse = Callable[..., Any]


def _page() -> bytes:
    return resources.files("loadkit.runner").joinpath(PAGE).read_bytes()


class LiveServer:
    """Binds at construction (``InputError`` naming the port when it is taken), serves after
    ``start``. ``stop(reason)`` is what the Stop button calls."""

    def __init__(
        self,
        address: LiveAddress,
        board: LiveBoard,
        stop: Callable[[str], None],
        *,
        key: str | None,
    ) -> None:
        self.address = address
        self.board = board
        self._stop = stop
        self._key = key or None
        self._registry = registry_for(board)
        self._page = _page()
        self.stop_requested_by: str | None = None
        self._socket = bind_socket(address)
        self.port = int(self._socket.getsockname()[1])
        self._server = WSGIServer(self._socket, self.app, log=None, error_log=None)

    @property
    def url(self) -> str:
        host = self.address.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def start(self) -> None:
        self._server.start()

    def close(self) -> None:
        self._server.stop(timeout=1.0)

    # -- the WSGI application ------------------------------------------------------------------

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application. A bug here answers 500 and never reaches the run."""
        try:
            return self._route(environ, start_response)
        except Exception as exc:
            body = f"live view error: {type(exc).__name__}: {exc}\n".encode()
            return _answer(start_response, "500 Internal Server Error", body)

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if method == "POST" and path == "/stop":
            return self._stop_request(environ, start_response)
        if method not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"GET or POST /stop\n")
        if path == "/metrics":
            return _answer(start_response, "200 OK", render(self._registry), CONTENT_TYPE_LATEST)
        if path == "/live.json":
            data = {**self.board.snapshot(), "stop_needs_key": self._needs_key(environ)}
            body = json.dumps(data, allow_nan=False, default=str).encode()
            return _answer(start_response, "200 OK", body, "application/json")
        if path in ("/", "/index.html"):
            return _answer(start_response, "200 OK", self._page, "text/html; charset=utf-8")
        return _answer(start_response, "404 Not Found", b"not found: try / or /metrics\n")

    def _needs_key(self, environ: dict[str, Any]) -> bool:
        local = self.address.loopback and is_loopback(environ.get("REMOTE_ADDR", ""))
        return not local

    def _stop_request(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        given = environ.get(STOP_HEADER)
        if given is None:
            return _answer(start_response, "400 Bad Request", b"send the X-Loadkit-Stop header\n")
        allowed = not self._needs_key(environ) or (
            self._key is not None and hmac.compare_digest(given.encode(), self._key.encode())
        )
        if not allowed:
            return _answer(start_response, "403 Forbidden", b"wrong or missing key\n")
        who = environ.get("REMOTE_ADDR", "?")
        if self.stop_requested_by is None:
            self.stop_requested_by = who
            self._stop(f"stopped from the live page ({who})")
        body = json.dumps({"stopping": True}).encode()
        return _answer(start_response, "202 Accepted", body, "application/json")


def _answer(
    start_response: StartResponse, status: str, body: bytes, ctype: str = "text/plain"
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


__all__ = ["PAGE", "LiveServer"]
