"""HTTP servers nobody designed to fit loadkit: impolite but legal (and some illegal) behaviour.

Each server is a plain threaded socket server on 127.0.0.1 (port chosen by the OS) that runs
one *behaviour* per TCP connection: a function of a ``Conn`` that reads requests and writes
whatever bytes it likes (no HTTP library in between, so nothing tidies the answers up). The
server keeps its own truth, as ``truth_server`` does: every request head it read (``Seen``:
method, path, connection, receive time, body bytes read), so a test can compare loadkit's
records with what the target really lived, e.g. "the server saw this POST once".

Behaviours (each a function returning the per-connection function):

  ``keep_alive_then_close(n)``   answers n requests per connection, then closes it without
                                 ``Connection: close`` (a keep-alive limit, like nginx's
                                 ``keepalive_requests``); ``drop_next=True`` reads the next
                                 request before closing (the request crossed the close)
  ``close_delimited(...)``       an answer without Content-Length, ended by closing
  ``chunked(...)``               chunked answers: tiny chunks, chunk extensions, trailers
  ``trickle(...)``               a body sent one byte every ``interval_s``
  ``scripted(...)``              raw bytes per request (1xx, HEAD/204/304, bad status lines...)
  ``early_answer(...)``          answers (and closes) before reading the request body
  ``reset_mid_answer(...)``      sends part of an answer, then resets the connection (RST)

Times are epoch nanoseconds from ``time.time_ns()``, the epoch loadkit's records use.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    connection: int  # the TCP connection it came on (numbered from 1 by the server)
    received_ns: int  # its head was read
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, last value wins
    body_bytes: int = 0  # body bytes the server read (0 when it answered before reading it)
    answered_ns: int | None = None  # its answer was written (stamped by ``Conn.reply`` only)


class Conn:
    """One accepted connection, as a behaviour sees it."""

    def __init__(self, server: RudeServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self._buffer = b""

    def read_head(self) -> Seen | None:
        """Read one request's line and headers (not its body); None when the client closed."""
        while b"\r\n\r\n" not in self._buffer:
            data = self._recv()
            if not data:
                return None
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _version = line.split(" ", 2)
        headers = {}
        for text in lines:
            name, _, value = text.partition(":")
            headers[name.strip().lower()] = value.strip()
        seen = Seen(method, path, self.number, time.time_ns(), headers)
        with self.server.lock:
            self.server.seen.append(seen)
        return seen

    def read_body(self, seen: Seen) -> None:
        """Read the body the request's Content-Length announces (counted in ``seen``)."""
        want = int(seen.headers.get("content-length", "0"))
        while len(self._buffer) < want:
            data = self._recv()
            if not data:
                break
            self._buffer += data
        body, self._buffer = self._buffer[:want], self._buffer[want:]
        with self.server.lock:
            seen.body_bytes = len(body)

    def read_request(self) -> Seen | None:
        """Read one whole request (head and body); None when the client closed."""
        seen = self.read_head()
        if seen is not None:
            self.read_body(seen)
        return seen

    def send(self, data: bytes) -> bool:
        """Write ``data``; False when the client is gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def reply(self, seen: Seen, data: bytes) -> bool:
        """Write the answer to ``seen`` and stamp it answered; False when the client is gone."""
        writing_ns = time.time_ns()
        if not self.send(data):
            return False
        with self.server.lock:
            seen.answered_ns = writing_ns
        return True

    def reset(self) -> None:
        """Close with an RST instead of a FIN (SO_LINGER 0): the client sees ECONNRESET."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def linger_close(self, drain_s: float = 0.5) -> None:
        """Close as a careful server does after an early answer: stop writing (FIN), read and
        drop what the client still sends for up to ``drain_s``, then close. Closing at once with
        unread bytes would send an RST that can destroy the answer before the client reads it."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(0.05)
            end = time.monotonic() + drain_s
            while time.monotonic() < end and not self.server.stopping.is_set():
                try:
                    if not self.sock.recv(65536):
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass
        self.sock.close()

    def _recv(self) -> bytes:
        self.sock.settimeout(0.1)
        while not self.server.stopping.is_set():
            try:
                return self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return b""


Behaviour = Callable[[Conn], None]


class RudeServer:
    """A socket server running ``behaviour`` once per accepted connection, in its own thread."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._numbers = itertools.count(1)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def connections(self) -> int:
        """How many connections the server accepted."""
        with self.lock:
            return len(self._socks)

    def snapshot(self) -> list[Seen]:
        """Every request head read so far, in the order received."""
        with self.lock:
            return sorted(self.seen, key=lambda s: s.received_ns)

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(self, sock, next(self._numbers))
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            with self.lock:
                self._socks.append(sock)
                self._threads.append(thread)
            thread.start()

    def _run(self, conn: Conn) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass  # the client went away: that is its right
        finally:
            conn.sock.close()

    def stop(self) -> None:
        self.stopping.set()
        self._listener.close()
        with self.lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)


@contextmanager
def rude_server(behaviour: Behaviour) -> Iterator[RudeServer]:
    server = RudeServer(behaviour)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)


def answer(status: int = 200, body: bytes = b"", headers: str = "", reason: str = "OK") -> bytes:
    """An HTTP/1.1 answer with a Content-Length (``headers``: extra lines, each ending CRLF)."""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode()
        + body
    )


# ----------------------------------------------------------------------------- behaviours


def keep_alive_then_close(n: int, *, drop_next: bool | Callable[[Conn], bool] = False) -> Behaviour:
    """Answer ``n`` requests per connection (``ok <k>``), then close without saying so first.

    ``drop_next`` (or ``drop_next(conn)``): read the (n+1)-th request's head, then close
    without answering (the request met the server's close on the wire; the server never acts
    on it)."""

    def behave(conn: Conn) -> None:
        for k in range(1, n + 1):
            seen = conn.read_request()
            if seen is None:
                return
            conn.reply(seen, answer(200, f"ok {k}".encode()))
        if drop_next is True or (callable(drop_next) and drop_next(conn)):
            conn.read_head()

    return behave


def close_delimited(
    pieces: list[bytes], *, version: str = "HTTP/1.1", gap_s: float = 0.0
) -> Behaviour:
    """Answer one request with no Content-Length: the body is ``pieces``, then the close."""

    def behave(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(f"{version} 200 OK\r\nContent-Type: text/plain\r\n\r\n".encode())
        for piece in pieces:
            time.sleep(gap_s)
            if not conn.send(piece):
                return

    return behave


def chunked(body: bytes, *, size: int = 1, extension: str = "", trailers: str = "") -> Behaviour:
    """Answer every request with ``body`` in chunks of ``size`` bytes, one write per chunk.

    ``extension`` is appended to each chunk size line (e.g. ``;name=value``); ``trailers``
    are header lines (each ending CRLF) after the last chunk."""

    def behave(conn: Conn) -> None:
        while conn.read_request() is not None:
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            if trailers:
                head += b"Trailer: " + trailers.split(":", 1)[0].encode() + b"\r\n"
            conn.send(head + b"\r\n")
            for at in range(0, len(body), size):
                piece = body[at : at + size]
                conn.send(f"{len(piece):x}{extension}\r\n".encode() + piece + b"\r\n")
            conn.send(f"0{extension}\r\n{trailers}\r\n".encode())

    return behave


def trickle(total: int, interval_s: float, *, whole: bool = False) -> Behaviour:
    """Answer with a ``total``-byte Content-Length, then send one body byte every
    ``interval_s`` (the headers come at once; the answer is complete after total*interval_s).
    ``whole``: the status line and headers come one byte every ``interval_s`` too."""

    def behave(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode()
        if not whole:
            conn.send(head)
        for byte in (head if whole else b"") + b"x" * total:
            if conn.server.stopping.wait(interval_s) or not conn.send(bytes([byte])):
                return

    return behave


def scripted(replies: Callable[[Seen], bytes]) -> Behaviour:
    """Answer each request on a keep-alive connection with the raw bytes ``replies(request)``;
    an empty reply closes the connection."""

    def behave(conn: Conn) -> None:
        while (seen := conn.read_request()) is not None:
            data = replies(seen)
            if not data or not conn.send(data):
                return

    return behave


def early_answer(status: int, reason: str) -> Behaviour:
    """Answer ``status`` with ``Connection: close`` as soon as a request's head is read, never
    reading its body (a server refusing a large upload), then close carefully (lingering)."""

    def behave(conn: Conn) -> None:
        if conn.read_head() is None:
            return
        body = f"{status} {reason}".encode()
        conn.send(answer(status, body, "Connection: close\r\n", reason))
        conn.linger_close()

    return behave


def reset_mid_answer(head: bytes, sent_body: bytes) -> Behaviour:
    """Send ``head`` (status line and headers) and ``sent_body``, then reset the connection."""

    def behave(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        conn.send(head + sent_body)
        time.sleep(0.05)  # let the bytes reach the client before the RST
        conn.reset()

    return behave
