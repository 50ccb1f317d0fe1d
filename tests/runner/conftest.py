"""Fixtures for the runner tests: a tiny threaded HTTP server on 127.0.0.1 and stand-in personas."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        if self.path.startswith("/fail"):
            status, body = 503, b"busy"
        elif self.path.startswith("/cookie/set"):
            status, body = 200, b"set"
        elif self.path.startswith("/echo-headers"):
            status, body = 200, str(self.headers).encode()
        elif self.path.startswith("/cookie/echo"):
            status, body = 200, (self.headers.get("Cookie") or "").encode()
        else:
            status, body = 200, b"hello"
        self.send_response(status)
        if self.path.startswith("/cookie/set"):
            self.send_header("Set-Cookie", "sid=abc123; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _reply
    do_POST = _reply


@dataclass
class TinyServer:
    url: str
    server: ThreadingHTTPServer


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield TinyServer(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
