"""How a probe's GET is sent: http(s) only, no proxies, redirects only to allowed hosts.

A redirect to another origin (scheme, host or port) goes without the probe's own headers and
the secret ones (an admin key or ``Authorization`` never reaches another host); the answer is
read within the probe's timeout and up to ``MAX_ANSWER_BYTES``. ``loadkit.analysis.probes``
judges what comes back.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from typing import IO, Any
from urllib.parse import SplitResult, urlsplit

from loadkit.errors import TargetError
from loadkit.hosts import check_url

MAX_ANSWER_BYTES = 10 * 1024 * 1024  # a probe answer is a small JSON document
# Never sent across origins, whether or not the probe set them.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-admin-key"})


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class RedirectRefused(urllib.error.URLError):
    """A redirect to a URL the allow-list refuses (its reason says why)."""


class _AllowListRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to an allowed http(s) host; to another origin, without the
    probe's headers (its admin key, Authorization) and without cookies."""

    def __init__(self, allow_hosts: Sequence[str], header_names: Iterable[str]) -> None:
        self.allow_hosts = tuple(allow_hosts)
        self.dropped = _SECRET_HEADERS | {h.lower() for h in header_names}

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            parts = check_url(newurl, self.allow_hosts, what="redirect to")
        except TargetError as exc:
            fp.close()
            raise RedirectRefused(str(exc)) from None
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(parts) != _origin(urlsplit(req.full_url)):
            new.headers = {k: v for k, v in new.headers.items() if k.lower() not in self.dropped}
        return new


def _opener(
    header_names: Iterable[str], allow_hosts: Sequence[str]
) -> urllib.request.OpenerDirector:
    """http(s) and allow-listed redirects only: no file:, ftp:, data: handlers, no proxies."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _AllowListRedirects(allow_hosts, header_names),
    ):
        opener.add_handler(handler)
    return opener


def _read_capped(stream: Any, deadline: float) -> bytes | None:
    """The whole body, None when over ``MAX_ANSWER_BYTES``; TimeoutError past ``deadline``
    (each read returns what one receive got, so a server that drips bytes cannot hold on)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read1(65536):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took longer than the probe's timeout")
        chunks.append(chunk)
    return b"".join(chunks)


def fetch(
    url: str,
    headers: dict[str, str],
    header_names: Iterable[str],
    allow_hosts: Sequence[str],
    timeout_s: float,
) -> tuple[int, bytes | None]:
    """GET ``url``: its status and body (None when over ``MAX_ANSWER_BYTES``), within about
    ``timeout_s``; an error status is returned with its body. ``header_names`` (the probe's
    own) are dropped, with the secret ones, on a redirect to another origin.

    Raises ``RedirectRefused`` for a redirect off the allow-list, and ``URLError``,
    ``OSError`` (``TimeoutError``), ``ValueError`` or ``HTTPException`` when there is no answer.
    """
    deadline = time.monotonic() + timeout_s
    try:
        response = _opener(header_names, allow_hosts).open(
            urllib.request.Request(url, headers=headers), timeout=timeout_s
        )
    except RedirectRefused:
        raise
    except urllib.error.HTTPError as exc:  # an error status: its body is still checked
        response = exc
    with response:
        return int(response.getcode()), _read_capped(response, deadline)


__all__ = ["MAX_ANSWER_BYTES", "RedirectRefused", "fetch"]
