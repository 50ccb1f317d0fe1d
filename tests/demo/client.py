"""A small stdlib HTTP client for the demo shop tests: one visitor, with cookie and token."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

EVENT = "onsale-2026"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


def request(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Reply:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"content-type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        content = resp.read()
        ctype = resp.getheader("content-type", "")
        parsed = json.loads(content) if content and "json" in ctype else content.decode()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed)
    finally:
        conn.close()


@dataclass
class Visitor:
    url: str
    cookie: str | None = None
    request_id: str | None = None
    token: str | None = None
    token_id: str | None = None
    joined: Reply | None = None
    polls: list[Reply] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        hdrs = dict(headers or {})
        if self.cookie:
            hdrs["cookie"] = self.cookie
        if auth and self.token:
            hdrs["authorization"] = f"Bearer {self.token}"
        return request(self.url, method, path, body, hdrs, raw)

    def join(self) -> Reply:
        r = self.call("POST", "/wr/join", {"event_id": EVENT})
        assert r.status == 201, r
        self.cookie = r.headers["set-cookie"].split(";")[0]
        self.request_id = r["request_id"]
        self.joined = r
        return r

    def poll(self) -> Reply:
        r = self.call("GET", "/wr/status")
        self.polls.append(r)
        return r

    def wait_admitted(self, interval_s: float = 0.21, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(interval_s)
            r = self.poll()
            if r.status == 200 and r["state"] == "admitted":
                return
        raise AssertionError(f"not admitted within {timeout_s} s: {self.polls[-1:]}")

    def fetch_token(self) -> Reply:
        r = self.call("POST", "/wr/token", {"request_id": self.request_id})
        if r.status == 200:
            self.token, self.token_id = r["access_token"], r["token_id"]
        return r

    def admitted(self) -> Visitor:
        """Join, poll until admitted, fetch the token."""
        self.join()
        self.wait_admitted()
        r = self.fetch_token()
        assert r.status == 200, r
        return self

    def hold(
        self, seat_ids: list[str] | None = None, quantity: int = 0, zone: str | None = None
    ) -> Reply:
        if seat_ids is not None:
            return self.call("POST", "/holds", {"seat_ids": seat_ids})
        best: dict[str, Any] = {"quantity": quantity}
        if zone:
            best["zone"] = zone
        return self.call("POST", "/holds", {"best_available": best})

    def order(self, hold_id: str, key: str | None = None) -> Reply:
        return self.call(
            "POST",
            "/orders",
            {"hold_id": hold_id},
            headers={"idempotency-key": key or uuid.uuid4().hex},
        )


def admitted_visitors(url: str, n: int) -> list[Visitor]:
    """``n`` visitors, each joined, admitted and holding a token (in parallel)."""
    with ThreadPoolExecutor(max_workers=min(n, 32)) as pool:
        return list(pool.map(lambda _: Visitor(url).admitted(), range(n)))


def admin(url: str, key: str, method: str, path: str, body: Any = None) -> Reply:
    return request(url, method, path, body, {"x-admin-key": key})


def invariants(url: str, key: str) -> dict[str, Any]:
    r = admin(url, key, "GET", "/admin/invariants")
    assert r.status == 200, r
    return dict(r.body)


def failed_checks(url: str, key: str) -> set[str]:
    return {name for name, c in invariants(url, key)["checks"].items() if not c["ok"]}


def configure(shop: Any, faults: dict[str, Any] | None = None, **config: Any) -> None:
    """Change a running shop's config and/or faults through the admin API."""
    if config:
        r = admin(shop.url, shop.admin_key, "PUT", "/admin/config", config)
        assert r.status == 200, r
    if faults:
        r = admin(shop.url, shop.admin_key, "PUT", "/admin/faults", faults)
        assert r.status == 200, r
