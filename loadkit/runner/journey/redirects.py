"""Following redirects like a browser, one recorded hop at a time.

A request step's answer with status 301, 302, 303, 307 or 308 and a ``Location`` is followed
(unless ``follow_redirects: false``): at most ``MAX_REDIRECTS`` hops, each its own request row
with the step, name, attempt and intent of the request that started the chain plus its ``hop``
number, sent at once when the previous hop ends (its ``intended_ns`` is that end). 301/302 turn
a POST into a GET without a body and 303 turns anything but HEAD into one; 307/308 keep the
method and body. Cookies set on any hop are carried by the visitor's jar. Every hop's host is
checked against the scenario's allow-list before it is sent; a refused hop or an 11th redirect
ends the chain with an error on the last 3xx answer (recorded as ``http_error``), never a hang.
A ``Location`` is resolved against the URL that answered (relative paths, ``?query``,
``//host/path``) and percent-encoded as a browser's URL parser does: spaces, control and
non-ASCII characters (the header's bytes, UTF-8 as servers write them) become ``%XX``, so the
hop goes out as a browser would send it instead of being refused by the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urljoin, urlsplit

from loadkit.hosts import host_allowed
from loadkit.results.schema import Outcome
from loadkit.runner.journey.types import HttpResult, VisitorProtocol

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-type", "content-length"})
_ORIGIN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# ASCII a browser leaves as it is in a URL (WHATWG URL: its path and query percent-encode sets
# hold C0 controls, space, '"', '<', '>', '`', '{', '}' and every non-ASCII byte)
URL_SAFE = "!#$%&'()*+,-./:;=?@[\\]^_|~"
_OK = Outcome.OK


class Redirects:
    """The redirect rules of one request step (its allow-list and identity)."""

    __slots__ = ("allow_hosts", "name", "step", "timeout_s")

    def __init__(
        self, allow_hosts: tuple[str, ...], *, name: str, step: str, timeout_s: float | None
    ) -> None:
        self.allow_hosts = allow_hosts
        self.name = name
        self.step = step
        self.timeout_s = timeout_s

    def follow(
        self,
        v: VisitorProtocol,
        r: HttpResult,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        attempt: int,
        intent_ns: int | None,
    ) -> tuple[HttpResult, str | None]:
        """Follow ``r`` (a redirect answer to ``method url``) to its final answer.

        Records every answer of the chain except the final one, which it returns with an error
        text when the chain ended on a refused hop or after too many hops (else None). Cost
        for a non-redirect answer: none (the caller checks the status first).
        """
        current = v.url_of(url)
        intent = r.intended_ns if intent_ns is None else intent_ns
        hop = 0
        while r.status in REDIRECT_STATUSES:
            location = r.header("location")
            if not location:
                return r, None  # a 3xx without a Location is an ordinary answer
            if hop == MAX_REDIRECTS:
                return r, (f"too many redirects: still {r.status} after {MAX_REDIRECTS} hops "
                           f"(a redirect loop?), last Location {_clip(location)!r}")  # fmt: skip
            target = urljoin(current, _as_browsers_send(location))
            refused = self._refused(target)
            if refused is not None:
                return r, refused
            v.record(r, _OK)  # this hop's own row; the chain goes on
            if (r.status == 303 and method != "HEAD") or (
                r.status in (301, 302) and method == "POST"
            ):
                method, body = "GET", None
                headers = _without(headers, _BODY_HEADERS)
            if _origin(target) != _origin(current):
                headers = _without(headers, _ORIGIN_HEADERS)  # credentials stay with their host
            current = target
            hop += 1
            r = v.http(method, target, name=self.name, step=self.step, headers=headers,
                       body=body, timeout_s=self.timeout_s, intended_ns=r.end_ns,
                       attempt=attempt, intent_ns=intent, hop=hop)  # fmt: skip
        return r, None

    def _refused(self, url: str) -> str | None:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return f"redirect to {_clip(url)!r} refused: bad port"
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return f"redirect to {_clip(url)!r} refused: not an http(s) URL"
        if not host_allowed(parts.hostname, port, self.allow_hosts):
            return (f"redirect to {parts.scheme}://{parts.netloc} refused: host "
                    f"{parts.hostname!r} is not on the scenario's allow-list (add it to "
                    "allow_hosts if you own it)")  # fmt: skip
        return None


# a character quote() would encode: anything but ASCII letters, digits and URL_SAFE
_ENCODED = re.compile(f"[^A-Za-z0-9{re.escape(URL_SAFE)}]")


def as_sent(target: str) -> str:
    """A path rendered from data as a browser sends it: spaces, control characters (a CR/LF
    would end the request line), non-ASCII letters (as UTF-8) and the few ASCII marks a
    browser encodes percent-encoded; the rest, ``%XX`` included, as written. One regex search
    when there is nothing to encode (the per-request cost)."""
    if _ENCODED.search(target) is None:
        return target
    return quote(target.encode("utf-8"), safe=URL_SAFE)


def _as_browsers_send(location: str) -> str:
    """A Location value as a browser turns it into a URL: trimmed, tabs and newlines removed,
    and what may not appear in a request line percent-encoded (an existing ``%XX`` stays)."""
    text = location.strip().replace("\t", "")
    try:
        raw = text.encode("latin-1")  # the header's own bytes (the client decoded them latin-1)
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    return quote(raw, safe=URL_SAFE)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or ""), port


def _without(headers: Mapping[str, str] | None, names: frozenset[str]) -> dict[str, str] | None:
    if not headers:
        return None
    return {k: v for k, v in headers.items() if k.lower() not in names}


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "Redirects", "as_sent"]
