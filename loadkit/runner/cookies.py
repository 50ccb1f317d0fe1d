"""A small per-visitor cookie jar for one origin.

A visitor talks to one target, so domain matching is not needed; path scoping, deletion
(``Max-Age<=0`` or an ``Expires`` in the past) and expiry are honoured, and a cookie whose
name and value exceed ``MAX_COOKIE_BYTES`` is ignored, as browsers do (RFC 6265bis 5.7): kept,
it would ride on every later request as a Cookie header no browser sends. This is far cheaper per
request than ``http.cookiejar`` (which needs urllib request adapters), and the hot path only
pays for it when the jar is non-empty or a response sets a cookie.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

MAX_COOKIE_BYTES = 4096  # name + value (header text is latin-1: one character, one byte)


def _parse_expiry(attrs: dict[str, str], now_s: float) -> float | None:
    """Epoch seconds when the cookie dies, or None for a session cookie."""
    if "max-age" in attrs:
        try:
            return now_s + int(attrs["max-age"])
        except ValueError:
            return None
    if "expires" in attrs:
        try:
            return parsedate_to_datetime(attrs["expires"]).timestamp()
        except (TypeError, ValueError, IndexError):
            return None
    return None


class CookieJar:
    """Cookies by name: ``(value, path, expires_epoch_s or None)``."""

    __slots__ = ("_cookies",)

    def __init__(self) -> None:
        self._cookies: dict[str, tuple[str, str, float | None]] = {}

    def __len__(self) -> int:
        return len(self._cookies)

    def clear(self) -> None:
        self._cookies.clear()

    def get(self, name: str) -> str | None:
        item = self._cookies.get(name)
        return item[0] if item else None

    def header_for(self, path: str) -> str | None:
        """The ``Cookie`` header value to send for a request path, or None."""
        if not self._cookies:
            return None
        now_s = time.time()
        parts = []
        for name, (value, cpath, expires) in list(self._cookies.items()):
            if expires is not None and expires <= now_s:
                del self._cookies[name]
            elif path.startswith(cpath):
                parts.append(f"{name}={value}")
        return "; ".join(parts) or None

    def update(self, set_cookie_values: list[str], request_path: str = "/") -> None:
        """Take the ``Set-Cookie`` values of one response."""
        now_s = time.time()
        for raw in set_cookie_values:
            first, _, rest = raw.partition(";")
            name, sep, value = first.partition("=")
            name = name.strip()
            if not sep or not name or len(name) + len(value.strip()) > MAX_COOKIE_BYTES:
                continue
            attrs = {}
            for item in rest.split(";"):
                key, _, val = item.partition("=")
                attrs[key.strip().lower()] = val.strip()
            expires = _parse_expiry(attrs, now_s)
            if expires is not None and expires <= now_s:
                self._cookies.pop(name, None)
                continue
            default_path = request_path.rsplit("/", 1)[0] or "/"
            path = attrs.get("path") or default_path
            self._cookies[name] = (value.strip().strip('"'), path, expires)


__all__ = ["MAX_COOKIE_BYTES", "CookieJar"]
