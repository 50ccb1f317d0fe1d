"""The HTTP client glue: one visitor's connection to one origin, and what a failed exchange is.

``VisitorClient`` is geventhttpclient's ``HTTPClient`` (one keep-alive connection, no socket
timeouts: the visitor's own deadline bounds each request) with loadkit's rules for sending a
request again. geventhttpclient sends a request again, up to twice more, whenever the
connection closes before any byte of the answer arrived and the method is idempotent, on a
brand-new connection too: a target that hung up on every request saw each GET three times
while loadkit recorded one. Here, as browsers do (and RFC 9110 9.2.2 allows), a request goes
again at most once, only when it went out on a *reused* keep-alive connection that closed
before any byte of the answer (the target may close idle connections just as a request
leaves) and only for an idempotent method: a POST is never sent twice. A kept connection that
the target closed while it was idle is dropped before a request is sent on it (the pool's
readable check), so a target's keep-alive limit costs no error and no resend at all.

An answer ends where its framing says (Content-Length, the last chunk, or the close), as in
browsers: bytes a target sends after a complete answer (a Content-Length counted in characters
rather than bytes, a stray body after a 204/304, an answer nobody asked for) are dropped with
the connection, instead of failing that complete answer as a parse error or, worse, being
appended to its body (geventhttpclient's parser read an unasked second answer into the
first one's body: ``FinalAnswer``).

A request a scenario sends with ``Expect: 100-continue`` waits at most ``CONTINUE_WAIT_S``
for the target's word before its body goes anyway (RFC 9110 10.1.1: a client SHOULD NOT wait
indefinitely; curl waits 1 s): geventhttpclient waited for ever, so a target that reads bodies
without sending 100 Continue (which it may) saw every such request time out.

``describe`` turns the client's parse errors into the error text a record keeps.
"""

from __future__ import annotations

from typing import Any, cast

import gevent.socket
import geventhttpclient.client
from geventhttpclient.client import HTTPClient
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.response import (
    HTTPConnectionClosed,
    HTTPParseError,
    HTTPResponse,
    HTTPSocketPoolResponse,
)

CONTINUE_WAIT_S = 1.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
NO_ANSWER = "the target closed the connection without answering"
_KEPT = (" (on a connection kept alive from an earlier request, which the target may have closed"
         " as this one left; a {method} is not sent again)")  # fmt: skip
CUT_SHORT = "the target closed the connection in the middle of its answer"


class _Unasked(Exception):
    """Raised by the parser's callback when bytes follow a complete final answer."""


class FinalAnswer(HTTPSocketPoolResponse):
    """geventhttpclient's socket response, ending at the end of the final (>= 200) answer.

    The parser reads every byte a ``recv`` brings; after a complete final answer, what follows
    is not part of it: a new message start (an unasked answer) is stopped at its first byte,
    garbage no longer fails the answer, and either way the connection is closed, not kept
    (as the client already does for a body after a HEAD answer). The connection is handed back
    after the ``feed`` that completed the answer, not inside the parser's callback (too early
    to know of trailing bytes).
    """

    _final_code = 0  # the final answer's status, once it is complete

    def _on_message_begin(self) -> None:
        if self._final_code:
            raise _Unasked
        super()._on_message_begin()

    def _on_message_complete(self) -> None:
        self.message_complete = True  # (not HTTPSocketResponse's: it hands the socket back)
        code = HTTPResponse.get_code(self)
        if code >= 200:  # an interim 1xx answer is followed by the final one
            self._final_code = code

    def should_close(self) -> bool:
        if not self._final_code:
            return True  # released before its answer was complete: the connection is spent
        return self._trailing_data_dropped or not HTTPResponse.should_keep_alive(self)

    def feed(self, data: str | bytes) -> None:
        try:
            super().feed(data)
        except (HTTPParseError, _Unasked):
            if not self._final_code:
                raise
            self._trailing_data_dropped = True
            self.message_complete = True
        if self._final_code:
            self.release()


# every HTTPClient.request builds its answer through this module-level name (no hook per
# client): loadkit's runner process uses geventhttpclient only through VisitorClient
geventhttpclient.client.HTTPSocketPoolResponse = FinalAnswer  # type: ignore[attr-defined,misc]


class VisitorPool(ConnectionPool):
    """geventhttpclient's pool of one connection, with the resend rule (module docstring).

    ``VisitorClient.exchange`` starts each request; the client's ``request`` then asks
    ``get_socket`` once per copy it sends, and a copy the rule forbids raises
    ``HTTPConnectionClosed``.
    """

    _addrinfo: list[Any] | None = None  # the run's resolved address (Target.resolve)
    _resend = False  # may the request being sent go again (idempotent, not yet resent)
    _sent = False  # has the request being sent gone out once already
    _fresh = True  # was the connection of the last copy opened for it (not kept alive)

    @property
    def reused(self) -> bool:
        """Whether the last copy went out on a kept-alive connection."""
        return not self._fresh

    def get_socket(self) -> gevent.socket.socket:
        if self._sent:  # the client wants to send this request again
            if self._fresh or not self._resend:
                raise HTTPConnectionClosed(NO_ANSWER)
            self._resend = False
        self._sent = True
        self._fresh = False
        return super().get_socket()

    def _create_socket(self) -> gevent.socket.socket:
        self._fresh = True
        return super()._create_socket()

    def _resolve(self) -> Any:
        # geventhttpclient resolves on every connect; a run resolves its target once
        return self._addrinfo if self._addrinfo is not None else super()._resolve()


class VisitorSSLPool(VisitorPool, SSLConnectionPool):
    """``VisitorPool`` for an https origin."""


class VisitorClient(HTTPClient):
    """One visitor's client for one origin (``exchange`` sends one request)."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        connect_timeout_s: float,
        user_agent: str,
        addrinfo: tuple[tuple[Any, ...], ...] | None = None,
    ) -> None:
        super().__init__(
            host,
            port=port,
            ssl=scheme == "https",
            insecure=True,
            concurrency=1,
            connection_timeout=connect_timeout_s,
            # no per-operation socket timeout: each would cost a gevent Timeout per recv/send;
            # the visitor's per-request deadline timer bounds the whole exchange instead
            network_timeout=None,  # type: ignore[arg-type]  # None = no socket timeout
            headers={"User-Agent": user_agent},
        )
        pool = self._connection_pool
        # HTTPClient builds its pool itself, with no say in the class: give that pool the
        # resend rule by making it our subclass (which adds only class-level defaults)
        pool.__class__ = VisitorSSLPool if isinstance(pool, SSLConnectionPool) else VisitorPool
        self.pool = cast(VisitorPool, pool)
        if addrinfo is not None:
            self.pool._addrinfo = list(addrinfo)

    def _wait_for_continue_response(
        self, sock: gevent.socket.socket, method: str
    ) -> tuple[bytes | None, bytes | None]:
        try:  # the target's first byte, or its silence for CONTINUE_WAIT_S
            gevent.socket.wait_read(sock.fileno(), timeout=CONTINUE_WAIT_S)
        except TimeoutError:
            return b"", None  # silence: send the body, as if told to continue
        return super()._wait_for_continue_response(sock, method)

    def exchange(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> HTTPSocketPoolResponse:
        """``request`` under the resend rule; raises what ``request`` raises."""
        pool = self.pool  # a new request: nothing sent yet; may go again if idempotent
        pool._sent = False
        pool._resend = method in IDEMPOTENT_METHODS
        return self.request(method, path, body=body, headers=headers)


def describe(exc: HTTPParseError, method: str, reused: bool) -> str:
    """The record's error text for an answer to ``method`` the client could not read (never
    a repr); ``reused``: the last copy went out on a kept-alive connection."""
    if isinstance(exc, HTTPConnectionClosed):
        if reused and method not in IDEMPOTENT_METHODS:
            return NO_ANSWER + _KEPT.format(method=method)
        return NO_ANSWER
    reason = exc.args[0] if exc.args else ""
    text = str(reason).strip().rstrip(".")
    if text == "Incomplete response":  # the parser's word for a close before the end
        return CUT_SHORT
    if text.startswith("connection closed"):  # before the end of the headers, after a 1xx
        return f"{CUT_SHORT} ({text})"
    return f"malformed HTTP answer from the target: {text or type(exc).__name__}"


__all__ = ["CUT_SHORT", "NO_ANSWER", "FinalAnswer", "VisitorClient", "VisitorPool", "describe"]
