"""The made-up shop ``scenarios/template-real-site.yaml`` describes, as a tiny stdlib server on
127.0.0.1 (random port), so ``loadkit try`` can run the template as written.

HTML pages with forms beside a JSON API, as docs/own-site.md says:
  GET  /login                      the login form (hidden ``csrf_token``, a new one per page)
  POST /login                      right CSRF token and password: 302 → /account with a session
                                   cookie; a wrong password: 200 "Invalid email or password"
  GET  /account                    "Sign out" with the session cookie, else 302 → /login
  GET  /events/summer-2026         the event page, or "This event is sold out" (``sold_out``)
  POST /api/queue/summer-2026/join {"success": true, "ticket", "position"} (session required)
  GET  /api/queue/summer-2026/status?ticket=T   ``waiting`` once (Retry-After: 1), then admitted
  POST /api/holds                  201 with two seat ids
  POST /api/orders                 201 ``paid`` with an Idempotency-Key and the test card, else 402
  GET  /api/events/summer-2026/seats   401 (the bot is refused)
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TEST_CARD = "4000000000000077"
TICKET = "tkt-8f3a2c91d4e67b05aa17"  # secret: `try` must never show it


class ShopStub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.sold_out = False
        self.csrf_served: set[str] = set()
        self.polls = 0
        self.orders: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ShopStub

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        html = isinstance(body, str)
        data = body.encode() if html else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8" if html else "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:  # one branch per page of the made-up shop
        parts = urlsplit(self.path)
        logged_in = "sess=s-1" in (self.headers.get("Cookie") or "")
        route = (self.command, parts.path)
        if route == ("GET", "/login"):
            token = secrets.token_hex(16)
            with self.server.lock:
                self.server.csrf_served.add(token)
            self._send(200, '<form method="post"><input type="hidden" name="csrf_token" '
                       f'value="{token}"><input name="email"><input name="password"></form>')  # fmt: skip
        elif route == ("POST", "/login"):
            form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
            if form.get("csrf_token") not in self.server.csrf_served:
                self._send(403, "<p>CSRF token missing or wrong</p>")
            elif not form.get("password", "").startswith("change-me-"):
                self._send(200, "<p>Invalid email or password</p>")
            else:
                self._send(302, "", {"Location": "/account", "Set-Cookie": "sess=s-1; Path=/"})
        elif route == ("GET", "/account"):
            if logged_in:
                self._send(200, '<a href="/logout">Sign out</a>')
            else:
                self._send(302, "", {"Location": "/login"})
        elif route == ("GET", "/events/summer-2026"):
            self._send(200, "<p>This event is sold out</p>" if self.server.sold_out
                       else "<p>Zone A: Sold out</p><p>Zone B: 40 left</p>")  # fmt: skip
        elif not parts.path.startswith("/api/"):
            self._send(404, "<p>Not found</p>")
        elif parts.path == "/api/events/summer-2026/seats":
            self._send(200 if logged_in else 401, {"seats": []})
        elif not logged_in:
            self._send(401, {"error": "login required"})
        else:
            self._api(parts.path, parse_qs(parts.query))

    def _api(self, path: str, query: dict[str, list[str]]) -> None:
        body = self._body()
        doc = json.loads(body) if body else {}
        if path == "/api/queue/summer-2026/join":
            self._send(201, {"success": True, "ticket": TICKET, "position": 7})
        elif path == "/api/queue/summer-2026/status":
            with self.server.lock:
                self.server.polls += 1
                first = self.server.polls % 2 == 1
            if query.get("ticket") != [TICKET]:
                self._send(403, {"error": "bad ticket"})
            elif first:
                self._send(200, {"state": "waiting", "refreshSeconds": 5}, {"Retry-After": "1"})
            else:
                self._send(200, {"state": "admitted"})
        elif path == "/api/holds":
            quantity = doc["best_available"]["quantity"]
            self._send(201, {"id": "h-1", "seats": [{"id": f"B-{i}"} for i in range(quantity)]})
        elif path == "/api/orders":
            key = self.headers.get("Idempotency-Key") or ""
            paid = len(key) >= 32 and doc.get("card") == TEST_CARD and doc.get("hold") == "h-1"
            with self.server.lock:
                self.server.orders.append({"key": key, "paid": paid})
            if paid:
                self._send(201, {"id": "o-1", "status": "paid"})
            else:
                self._send(402, {"status": "declined"})
        else:
            self._send(404, {"error": "not found"})

    do_GET = _handle
    do_POST = _handle
