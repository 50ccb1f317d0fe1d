"""A closed cluster: workers prove they hold the shared cluster key before they get anything.

The key comes from a file (``--key-file``) or ``LOADKIT_CLUSTER_KEY``, never from a command
line argument (argv is visible to every user of the machine) and is never logged or written
into the run folder. A master that listens beyond loopback refuses to start without one.

A worker's ``lk_hello`` carries a proof: HMAC-SHA256 of the key over the hello's identity, a
random nonce and the worker's clock. The master accepts a proof once (nonces are remembered)
and only within ``PROOF_WINDOW_S`` of its own clock, so a captured hello cannot be replayed to
join later. A worker without a valid proof gets ``lk_refuse`` and nothing else: no plan, no
scenario, no feeder files. The key authenticates workers; it does not encrypt the link (the
plan travels in clear over ZeroMQ): keep the master's port on a private network.
No gevent here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadkit.errors import InputError

KEY_ENV = "LOADKIT_CLUSTER_KEY"
MIN_KEY_CHARS = 16
PROOF_WINDOW_S = 300.0  # clocks of machines in one cluster agree better than this
_MAKE_KEY = "openssl rand -hex 32"


@dataclass(frozen=True)
class ClusterKey:
    """The shared secret and where it came from (``secret`` is never shown)."""

    secret: bytes = field(repr=False)
    source: str  # "--key-file PATH" or "LOADKIT_CLUSTER_KEY"


def load_cluster_key(
    key_file: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> ClusterKey | None:
    """The key from ``key_file`` (first) or ``LOADKIT_CLUSTER_KEY``; None when neither is set.

    Raises InputError (exit 2) for an unreadable file or a key shorter than 16 characters.
    """
    environ = os.environ if environ is None else environ
    if key_file is not None:
        where = f"--key-file {key_file}"
        try:
            text = Path(key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read the cluster key file {key_file}: {exc}",
                hint=f"Create it with e.g. `{_MAKE_KEY} > {key_file}`.",
            ) from None
    elif environ.get(KEY_ENV) is not None:
        where, text = KEY_ENV, environ[KEY_ENV].strip()
    else:
        return None
    if len(text) < MIN_KEY_CHARS:
        raise InputError(
            f"the cluster key from {where} is {'empty' if not text else 'too short'} "
            f"(at least {MIN_KEY_CHARS} characters).",
            hint=f"Make one with `{_MAKE_KEY}` and give the same key to the master and every "
            "worker.",
        )
    return ClusterKey(text.encode("utf-8"), where)


def is_loopback_bind(bind: str) -> bool:
    """Whether a master listening on ``bind`` is reachable from this machine only."""
    if bind.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:  # "*", a host name: reachable from elsewhere
        return False


def require_key_beyond_loopback(bind: str, key: ClusterKey | None) -> None:
    """Raise InputError when a master would listen beyond loopback without a cluster key."""
    if key is None and not is_loopback_bind(bind):
        raise InputError(
            f"loadkit master would listen on {bind} without a cluster key: any host that "
            "reaches its port could join and receive the scenario and its feeder files.",
            hint=f"Pass --key-file FILE or set {KEY_ENV} (the same key on every worker; make one "
            f"with `{_MAKE_KEY}`), or listen on loopback only (--bind 127.0.0.1).",
        )


def _message(hello: Mapping[str, Any], nonce: str, time_ns: int) -> bytes:
    parts = [
        "loadkit-join",
        str(hello.get("protocol")),
        str(hello.get("loadkit_version")),
        str(hello.get("host")),
        str(hello.get("pid")),
        str(hello.get("expect_scenario_sha256")),
        nonce,
        str(time_ns),
    ]
    return "\n".join(parts).encode("utf-8")


def make_proof(key: ClusterKey, hello: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's proof of the key for the hello fields in ``hello`` (``to_wire(Hello)``)."""
    nonce, now_ns = secrets.token_hex(16), time.time_ns()
    mac = hmac.new(key.secret, _message(hello, nonce, now_ns), hashlib.sha256).hexdigest()
    return {"nonce": nonce, "time_ns": now_ns, "mac": mac}


class ProofChecker:
    """The master's side: ``check(hello)`` returns why a worker may not join, or None."""

    def __init__(self, key: ClusterKey | None, window_s: float = PROOF_WINDOW_S) -> None:
        self.key = key
        self.window_s = window_s
        self._seen: set[str] = set()

    def check(self, hello: Mapping[str, Any], now_ns: int | None = None) -> str | None:
        if self.key is None:
            return None
        proof = hello.get("proof")
        if not isinstance(proof, Mapping):
            return f"this master requires the cluster key (--key-file or {KEY_ENV})"
        nonce, stamp, mac = proof.get("nonce"), proof.get("time_ns"), proof.get("mac")
        if not (isinstance(nonce, str) and isinstance(stamp, int) and isinstance(mac, str)):
            return "malformed cluster key proof"
        expected = hmac.new(self.key.secret, _message(hello, nonce, stamp), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), mac):
            return "wrong cluster key"
        now_ns = time.time_ns() if now_ns is None else now_ns
        if abs(now_ns - stamp) > self.window_s * 1e9:
            return (
                f"cluster key proof is {abs(now_ns - stamp) / 1e9:.0f} s off this master's "
                "clock (a replay, or a clock far off)"
            )
        if nonce in self._seen:
            return "cluster key proof was already used (a replay)"
        self._seen.add(nonce)
        return None


__all__ = [
    "KEY_ENV",
    "ClusterKey",
    "ProofChecker",
    "is_loopback_bind",
    "load_cluster_key",
    "make_proof",
    "require_key_beyond_loopback",
]
