"""A very small HTTP layer over ASGI: requests, JSON responses, errors and a path router.

No web framework: the shop has a dozen routes and its hottest one (``GET /wr/status``) must
stay cheap, so the whole request path is a dict lookup and a few attribute reads.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

JSON_HEADERS = [(b"content-type", b"application/json")]
MAX_BODY_BYTES = 1_000_000


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("cookie")
        if not raw:
            return None
        for part in raw.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; HttpError 400 if malformed, 422 if not an object."""
        if not self.body:
            raise HttpError(400, "malformed_json", "request body must be a JSON object")
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise HttpError(
                400, "malformed_json", f"request body is not valid JSON: {exc}"
            ) from exc
        if b"\\u" in self.body and _has_lone_surrogate(data):
            raise HttpError(
                400, "malformed_json", "request body holds a \\u escape that is not a character"
            )
        if not isinstance(data, dict):
            raise HttpError(422, "invalid_body", "request body must be a JSON object")
        return data


def _has_lone_surrogate(data: Any) -> bool:
    """True if a string in ``data`` holds half a surrogate pair (``"\\udc80"`` in JSON): it
    is not a character, cannot be stored as UTF-8, and no client means it."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        return True
    return False


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class HttpError(Exception):
    """An error answer: ``status`` with body ``{"error": code, "message": ..., **extra}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []
        self.extra = extra

    def response(self) -> Response:
        body = {"error": self.code, "message": self.message, **self.extra}
        return json_response(self.status, body, self.headers)


def json_response(
    status: int, data: Mapping[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, JSON_HEADERS + (headers or []))


def require_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise HttpError(422, "invalid_field", f"'{key}' must be a non-empty string", field=key)
    return value


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    segments: tuple[str, ...]  # "{x}" segments capture
    handler: Handler


class Router:
    """Matches ``(method, path)`` to a named route; raises HttpError 404/405."""

    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        self._paths: dict[str, set[str]] = {}

    def add(self, name: str, method: str, path: str, handler: Handler) -> None:
        segments = tuple(path.strip("/").split("/"))
        route = Route(name, method, segments, handler)
        if any(s.startswith("{") for s in segments):
            self._dynamic.append(route)
        else:
            self._static[(method, path)] = route
        self._paths.setdefault(path, set()).add(method)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        route = self._static.get((method, path))
        if route is not None:
            return route, {}
        parts = tuple(path.strip("/").split("/"))
        allowed: set[str] = set()
        for route in self._dynamic:
            params = _match_segments(route.segments, parts)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.add(route.method)
        allowed |= {m for (m, p) in self._static if p == path}
        if allowed:
            allow = ", ".join(sorted(allowed)).encode()
            raise HttpError(
                405,
                "method_not_allowed",
                f"{method} not allowed on {path}",
                headers=[(b"allow", allow)],
            )
        raise HttpError(404, "not_found", f"no such endpoint: {path}")


def _match_segments(pattern: tuple[str, ...], parts: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(parts):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


async def read_request(scope: Mapping[str, Any], receive: Callable[[], Awaitable[Any]]) -> Request:
    """Build a Request from an ASGI http scope, reading the whole body."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpError(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    raw_query = scope.get("query_string", b"")
    query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}
    return Request(scope["method"], scope["path"], query, headers, b"".join(chunks))


async def send_response(send: Callable[[Any], Awaitable[None]], response: Response) -> None:
    await send(
        {"type": "http.response.start", "status": response.status, "headers": response.headers}
    )
    await send({"type": "http.response.body", "body": response.body})
