"""Where a run's visitors send requests: the target's base URL, timeouts and resolved address.

``Target`` is built once per run, before the load (``Target.from_url``, then ``resolve``: the
host name is looked up once, not per connection); visitors then turn each request's path or
same-origin URL into its request target (``path_of``). ``split_origin`` splits an absolute
URL for a redirect hop. No gevent here.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from loadkit.errors import TargetError
from loadkit.runner.defaults import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_REQUEST_TIMEOUT_S


@dataclass(frozen=True)
class Target:
    """Where visitors send requests: a parsed base URL plus the timeouts, in seconds."""

    scheme: str
    host: str
    port: int
    base_path: str
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    # getaddrinfo() result, resolved once per run (``resolve``): through gevent's thread-pool
    # resolver every new connection would cost ~0.2 ms and a thread hop per arrival
    addrinfo: tuple[tuple[Any, ...], ...] | None = None

    def resolve(self) -> Target:
        """This target with its address resolved now (blocking; call before the load starts).

        Raises TargetError when the host name does not resolve.
        """
        try:
            info = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM, socket.SOL_TCP)
        except OSError as exc:
            raise TargetError(f"cannot resolve target host {self.host!r}: {exc}") from None
        return dataclasses.replace(self, addrinfo=tuple(info))

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"target {url!r} is not an http(s) base URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(
            parts.scheme,
            parts.hostname,
            port,
            parts.path.rstrip("/"),
            request_timeout_s,
            connect_timeout_s,
        )

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def path_of(self, url_or_path: str) -> str:
        """The request target for a path (joined to the base path) or a same-origin URL.

        Raises TargetError for an absolute URL on another origin (the allow-list covers the base
        URL only).
        """
        if url_or_path.startswith(("http://", "https://")):
            origin, path = split_origin(url_or_path)
            if origin != (self.scheme, self.host, self.port):
                raise TargetError(f"refusing a request to {url_or_path.split('/', 3)[2]!r}")
            return path
        if not url_or_path.startswith("/"):
            url_or_path = "/" + url_or_path
        return self.base_path + url_or_path

    def url_of(self, url_or_path: str) -> str:
        """The absolute URL of a request path or URL (for resolving a redirect's Location)."""
        if url_or_path.startswith(("http://", "https://")):
            return url_or_path
        return self.origin + self.path_of(url_or_path)


Origin = tuple[str, str, int]  # (scheme, host, port)


def split_origin(url: str) -> tuple[Origin, str]:
    """``((scheme, host, port), request target)`` of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    return (scheme, parts.hostname or "", port), f"{path}?{parts.query}" if parts.query else path


__all__ = ["Origin", "Target", "split_origin"]
