"""A tiny threaded stdlib HTTP server for the journey step tests (127.0.0.1, random port).

Endpoints:
  GET  /json                 a JSON document (ids, a list of items with states)
  GET  /form                 an HTML page with a CSRF form field, sets cookie ``sid``
  POST /login                checks the csrf form field and the sid cookie: 200 or 403
  any  /echo                 echoes method, path, query, headers and body as JSON
  GET  /status/<code>        answers that status
  GET  /poll/<key>?n=N       ``queued`` (Retry-After: 0 unless ?quiet, JSON refresh 0.02) N-1
                             times, then ``admitted``
  POST /flaky/<key>?fail=N   503 for the first N calls, then 201; remembers Idempotency-Keys
  any  /redirect/<code>?to=U  answers <code> with ``Location: U`` and sets cookie ``hop=<code>``
  any  /loop                 302 to /loop, for ever
  GET  /page/<kind>          HTML pages: ``shop`` (csrf meta + hidden input, links), ``soldout``
  GET  /nulls                JSON with a null, a false and a nested JSON text
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FORM_PAGE = """<html><body><form method="post" action="/login">
<input type="hidden" name="csrf_token" value="tok&amp;123">
<input name="user" type="text">
<textarea name="note">hello &lt;you&gt;</textarea>
</form></body></html>"""


PAGES = {
    "shop": """<html><head><meta name="csrf-token" content="meta-tok"></head><body>
<a href="/events">Events</a> <a href="/buy?event=7&amp;q=2">Buy
   tickets</a>
<form method="post" action="/buy"><input type="hidden" name="_csrf" value="form-tok">
<input name="qty" value="2"></form></body></html>""",
    "soldout": "<html><body><h1>Tickets</h1><p class=msg>Sorry, Sold out!</p></body></html>",
}


class JourneyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.calls: dict[str, int] = defaultdict(int)
        self.keys: dict[str, list[str]] = defaultdict(list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, key: str) -> int:
        with self.lock:
            self.calls[key] += 1
            return self.calls[key]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: JourneyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segs = parts.path.strip("/").split("/")
        head = segs[0]
        if head == "json":
            doc = {"request_id": "r-1", "n": 3, "items": [
                {"id": "A1", "state": "free"}, {"id": "A2", "state": "taken"},
                {"id": "B1", "state": "free"}]}  # fmt: skip
            self._send(200, doc, {"X-Trace": "trace-9"})
        elif head == "form":
            self._send(200, FORM_PAGE.encode(), {"Set-Cookie": "sid=s-42; Path=/"})
        elif head == "login":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            ok = form.get("csrf_token") == "tok&123" and "sid=s-42" in (
                self.headers["Cookie"] or ""
            )
            self._send(200 if ok else 403, {"ok": ok})
        elif head == "echo":
            self._send(200, {"method": self.command, "path": parts.path, "query": query,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": body.decode()})  # fmt: skip
        elif head == "status":
            self._send(int(segs[1]), {"code": int(segs[1])})
        elif head == "poll":
            n = self.server.count("poll/" + segs[1])
            if n < int(query.get("n", "3")):
                headers = {} if "quiet" in query else {"Retry-After": "0"}
                self._send(200, {"state": "queued", "position": 10 - n, "refresh": 0.02}, headers)
            else:
                self._send(200, {"state": "admitted", "position": 0})
        elif head == "flaky":
            key = segs[1]
            with self.server.lock:
                self.server.keys[key].append(self.headers.get("Idempotency-Key") or "")
            n = self.server.count("flaky/" + key)
            self._send(503 if n <= int(query.get("fail", "1")) else 201, {"call": n})
        elif head == "redirect":
            self.server.count("redirect")
            headers = {"Location": query.get("to", "/echo"), "Set-Cookie": f"hop={segs[1]}; Path=/"}
            self._send(int(segs[1]), {"moved": True}, headers)
        elif head == "page":
            self._send(200, PAGES[segs[1]].encode(), {"Content-Type": "text/html"})
        elif head == "nulls":
            self._send(200, {"a": None, "b": 1, "success": False, "inner": '{"n": 5}'})
        elif head == "loop":
            self.server.count("loop")
            self._send(302, b"", {"Location": "/loop"})
        else:
            self._send(404, {"error": "not found"})

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle


@contextmanager
def serve() -> Iterator[JourneyServer]:
    server = JourneyServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
