"""A test target that keeps its own truth: every request it received, when, and what it sent.

A threaded stdlib HTTP/1.1 server on 127.0.0.1 (port chosen by the OS). Paths:

  GET /delay/<ms>?bytes=N&close=1&a=ID   wait <ms>, then answer 200 with an N-byte body
                                         (default 100); ``close=1`` answers with
                                         ``Connection: close`` and closes the connection
                                         (else it stays open: keep-alive)
  GET /never?a=ID                        read the request, never answer (until the client
                                         hangs up or the server stops)

``a=ID`` tags a request with the arrival that sent it (tests put ``{{ arrival_id }}`` there),
so records can be matched to what the server saw, arrival by arrival, in order. Times are epoch
nanoseconds from ``time.time_ns()``; the runner's records use the same epoch (monotonic-derived).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the server lived it."""

    path: str
    arrival: int | None
    connection: int  # the TCP connection it came on (numbered by the server)
    received_ns: int  # its request line and headers were read
    answered_ns: int | None = None  # its answer began to be written, and was (None: never)
    status: int = 0
    body_bytes: int = 0


class TruthServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a crowd connects at once: never drop a SYN (the stdlib has 5)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._connections = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_connection(self) -> int:
        with self.lock:
            return next(self._connections)

    def snapshot(self) -> list[Seen]:
        """Every request seen so far, in the order received."""
        with self.lock:
            return sorted(self.seen, key=lambda s: s.received_ns)

    @property
    def answered(self) -> int:
        return sum(1 for s in self.snapshot() if s.answered_ns is not None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TruthServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.next_connection()

    def do_GET(self) -> None:
        received_ns = time.time_ns()
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        arrival = int(query["a"]) if "a" in query else None
        seen = Seen(parts.path, arrival, self.connection_id, received_ns)
        with self.server.lock:
            self.server.seen.append(seen)
        segs = parts.path.strip("/").split("/")
        if segs[0] == "never":
            self._hang()
            return
        if segs[0] == "delay" and len(segs) == 2:
            if self.server.stopping.wait(int(segs[1]) / 1000):
                self.close_connection = True
                return
            self._answer(seen, int(query.get("bytes", 100)), close=query.get("close") == "1")
            return
        self._answer(seen, 0, close=False, status=404)

    def _answer(self, seen: Seen, size: int, *, close: bool, status: int = 200) -> None:
        # one write for head and body: two small writes on a keep-alive connection meet
        # Nagle's algorithm and the client's delayed ACK, adding ~40 ms to every answer
        head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
        head += f"Content-Length: {size}\r\n" + ("Connection: close\r\n" if close else "")
        self.close_connection = close
        # stamped before the write: the client cannot have the answer earlier, while a stamp
        # taken after it may come late when this thread is descheduled on a busy machine
        writing_ns = time.time_ns()
        try:
            self.wfile.write(head.encode() + b"\r\n" + b"x" * size)
            self.wfile.flush()
        except OSError:  # the client hung up first: not answered
            self.close_connection = True
            return
        with self.server.lock:
            seen.answered_ns, seen.status, seen.body_bytes = writing_ns, status, size

    def _hang(self) -> None:
        """Hold the connection without answering until the client closes it (or we stop)."""
        self.connection.settimeout(0.1)
        while not self.server.stopping.is_set():
            try:
                if not self.connection.recv(1024):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        self.close_connection = True


@contextmanager
def truth_server() -> Iterator[TruthServer]:
    server = TruthServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
