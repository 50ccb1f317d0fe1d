"""The host allow-list: the one check every part that talks to a host uses (load, probes).

Pure and stdlib-only, so the runner (load), the analysis (probes) and the CLI share it without
importing each other. Loopback (127.0.0.0/8, ::1, ``localhost``) is always allowed; entries of a
scenario's ``allow_hosts`` match a URL's host name (``shop.test``), its ``host:port``, or a
shell-style pattern (``*.staging.example``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from fnmatch import fnmatchcase
from urllib.parse import SplitResult, urlsplit, urlunsplit

from loadkit.errors import TargetError

LOOPBACK_NAMES = ("localhost",)
HTTP_SCHEMES = ("http", "https")


def is_loopback(hostname: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (brackets allowed)."""
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(hostname: str, port: int | None, allow_hosts: Sequence[str] = ()) -> bool:
    """True when ``hostname`` (on ``port``, if given) is loopback or matches ``allow_hosts``."""
    candidates = {hostname, f"{hostname}:{port}"} if port else {hostname}
    return is_loopback(hostname) or any(
        fnmatchcase(c.lower(), pattern.lower()) for pattern in allow_hosts for c in candidates
    )


def check_url(url: str, allow_hosts: Sequence[str] = (), *, what: str = "target") -> SplitResult:
    """Split an absolute http(s) URL whose host is allowed; ``what`` names it in messages.

    Raises TargetError (exit 2) for another scheme, no host, a bad port or a host not on the
    allow-list. Nothing is resolved or connected.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in HTTP_SCHEMES or not parts.hostname:
        raise TargetError(
            f"{what} {url!r} is not an http(s) URL", hint="Use e.g. http://127.0.0.1:8080."
        )
    try:
        port = parts.port
    except ValueError:
        raise TargetError(f"{what} {url!r} has a bad port") from None
    if not host_allowed(parts.hostname, port, allow_hosts):
        listed = ", ".join(allow_hosts) or "loopback only"
        raise TargetError(
            f"{what} host {parts.hostname!r} is not on the scenario's allow-list ({listed})",
            hint="Add it to the scenario's allow_hosts if you own it.",
        )
    return parts


def check_target(host: str, allow_hosts: Sequence[str] = ()) -> str:
    """Check a target base URL against the allow-list; return it without credentials.

    Raises TargetError for a bad URL or a host not on the list (see ``check_url``).
    """
    parts = check_url(host, allow_hosts, what="target")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


__all__ = [
    "HTTP_SCHEMES",
    "LOOPBACK_NAMES",
    "check_target",
    "check_url",
    "host_allowed",
    "is_loopback",
]
