"""Request head limits, enforced in the HTTP protocol before a request reaches the app.

httptools (under uvicorn) buffers a request's head without any limit: 10,000 headers or a
1 MB header would be parsed, held in memory and handed to the app. ``LimitedHttpProtocol``
(uvicorn's httptools protocol, subclassed) refuses a head with more than ``MAX_HEADERS``
fields, a header line over ``MAX_HEADER_LINE_BYTES``, a request target over
``MAX_TARGET_BYTES`` (414) or more than ``MAX_HEAD_BYTES`` in all (431), so memory stays
bounded whatever a client sends.

A refusal (and any head httptools cannot parse: 400 ``bad_request``) is a JSON error like
every other (``{"error": "headers_too_large", ...}``) with
``connection: close``; the server then reads and discards what the client is still sending
for up to ``LINGER_S`` (a "lingering close"), so the client sees the answer instead of a
connection reset.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADERS = 100
MAX_HEADER_LINE_BYTES = 8 * 1024  # "name: value", as nginx's large_client_header_buffers
MAX_TARGET_BYTES = 8 * 1024
MAX_HEAD_BYTES = 64 * 1024  # request line + every header line
LINGER_S = 2.0
LINGER_BYTES = 8 * 1024 * 1024


class _HeadRefused(Exception):
    """Raised from a parser callback: stops httptools parsing this connection."""


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head limits (see the module docstring)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._head_done = False
        self._head_bytes = 0
        self._header_count = 0
        self._target_bytes = 0
        self._refusal: tuple[int, str, str] | None = None
        self._discarded: int | None = None  # bytes dropped after a refusal; None = serving

    def data_received(self, data: bytes) -> None:
        if self._discarded is not None:  # refused: drain what the client still sends
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, "headers_too_large", f"request head over {MAX_HEAD_BYTES} bytes")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_done = False
        self._head_bytes = self._header_count = self._target_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._target_bytes += len(url)
        if self._target_bytes > MAX_TARGET_BYTES:
            self._refusal = (414, "uri_too_long", f"request target over {MAX_TARGET_BYTES} bytes")
            raise _HeadRefused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refusal = (431, "too_many_headers", f"more than {MAX_HEADERS} header fields")
            raise _HeadRefused
        if len(name) + len(value) + 2 > MAX_HEADER_LINE_BYTES:
            shown = name[:40].decode("latin-1")
            self._refusal = (
                431,
                "header_too_large",
                f"header {shown!r} over {MAX_HEADER_LINE_BYTES} bytes",
            )
            raise _HeadRefused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers a parser error (an unknown method, a malformed head) with a plain
        text 400; the shop's errors are JSON, and a limit we raised gets its own status."""
        self._refuse(*(self._refusal or (400, "bad_request", f"not valid HTTP/1.1: {msg}")))

    def _refuse(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": code, "message": message}).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self._discarded = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_S, self.transport.close)


__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_LINE_BYTES",
    "MAX_HEAD_BYTES",
    "MAX_TARGET_BYTES",
    "LimitedHttpProtocol",
]
