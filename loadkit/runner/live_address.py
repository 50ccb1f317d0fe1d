"""Where the live view (``--live HOST:PORT``) listens, checked before any load is sent.

Pure (no gevent): the CLI imports it in-process to refuse bad input with exit 2 before it starts
the runner, and the runner imports it again to bind. Rules:

- ``--live :9646`` (no host) means loopback, 127.0.0.1;
- a non-loopback address needs a key (``--live-key`` or ``LOADKIT_LIVE_KEY``), because the page's
  Stop button ends the rehearsal; the key travels to the runner in its environment, never in
  the run folder;
- a port already taken is refused, naming it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from loadkit.errors import InputError

DEFAULT_LIVE_PORT = 9646
KEY_ENV = "LOADKIT_LIVE_KEY"
LOOPBACK = "127.0.0.1"
MIN_KEY_CHARS = 8


@dataclass(frozen=True)
class LiveAddress:
    """A host (name or IP literal, no brackets) and a TCP port (0 = any free port)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_live_address(text: str) -> LiveAddress:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[v6]:PORT`` → LiveAddress. Raises InputError."""
    raw = text.strip()
    host, port_text = "", raw
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or not raw[end + 1 :].startswith(":"):
            raise InputError(f"--live {text!r}: write an IPv6 address as [ADDR]:PORT")
        host, port_text = raw[1:end], raw[end + 2 :]
    elif ":" in raw:
        host, _, port_text = raw.rpartition(":")
        if ":" in host:
            raise InputError(f"--live {text!r}: write an IPv6 address as [ADDR]:PORT")
    try:
        port = int(port_text)
    except ValueError:
        raise InputError(
            f"--live {text!r}: port {port_text!r} is not a number",
            hint=f"Use HOST:PORT or :PORT, e.g. --live :{DEFAULT_LIVE_PORT}.",
        ) from None
    if not 0 <= port <= 65535:
        raise InputError(f"--live {text!r}: port {port} is outside 0..65535")
    return LiveAddress(host or LOOPBACK, port)


def check_live(address: LiveAddress, key: str | None) -> None:
    """Refuse a non-loopback address without a key (anyone who can reach it could press Stop)."""
    if address.loopback:
        return
    if not key:
        raise InputError(
            f"--live {address} listens beyond this machine, and its page can stop the run: "
            "refusing to serve it without a key.",
            hint=f"Pass --live-key (or set {KEY_ENV}) with a secret of {MIN_KEY_CHARS}+ "
            f"characters, or listen on loopback only (--live :{address.port}).",
        )
    if len(key) < MIN_KEY_CHARS:
        raise InputError(
            f"--live-key is {len(key)} characters long; use at least {MIN_KEY_CHARS}.",
        )


def bind_socket(address: LiveAddress) -> socket.socket:
    """A listening TCP socket on ``address``; InputError (exit 2) naming the port when it is
    taken or the host cannot be bound."""
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(
            f"--live {address}: cannot resolve host {address.host!r} ({exc})"
        ) from None
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        what = (
            "is already in use"
            if exc.errno == errno.EADDRINUSE
            else f"cannot be bound ({exc.strerror})"
        )
        raise InputError(
            f"--live port {address.port} on {address.host} {what}; no load was sent.",
            hint="Choose another port (--live :PORT) or stop what is listening there.",
        ) from None
    return sock


def check_port_free(address: LiveAddress) -> None:
    """Bind and release ``address`` now, so a taken port fails in the CLI (exit 2), before the
    runner starts. (The runner binds again; a port taken in between fails there, still before
    t0.)"""
    if address.port != 0:
        bind_socket(address).close()


def prepare_live(
    text: str | None, key_flag: str | None, environ: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """The CLI's check of ``--live`` (None: off) and ``--live-key`` (else ``LOADKIT_LIVE_KEY``
    in ``environ``): the address parsed, refused without a key beyond loopback, its port tried.
    Returns (the address for the run spec, the key for the runner's environment), or
    (None, None) when off. Raises InputError (exit 2)."""
    if text is None:
        if key_flag:
            raise InputError("--live-key is only used with --live HOST:PORT.")
        return None, None
    key = key_flag or environ.get(KEY_ENV) or None
    address = parse_live_address(text)
    check_live(address, key)
    check_port_free(address)
    return str(address), key


__all__ = [
    "DEFAULT_LIVE_PORT",
    "KEY_ENV",
    "LiveAddress",
    "bind_socket",
    "check_live",
    "check_port_free",
    "is_loopback",
    "parse_live_address",
    "prepare_live",
]
