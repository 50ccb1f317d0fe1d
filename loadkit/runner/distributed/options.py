"""Settings of the master and the worker processes, parsed once into frozen models.

The master reads its settings from the run spec's ``settings`` mapping (the CLI resolves them,
with their source, and the manifest records them): ``master_bind``, ``master_port``,
``expect_workers``, ``local_workers``, ``worker_wait_s``, ``dry_run``. The worker has no run
spec (its plan comes from the master); its settings are its command-line options.
No gevent here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadkit.errors import InputError
from loadkit.runner.distributed.auth import ClusterKey

DEFAULT_PORT = 5557  # Locust's own default master port
DEFAULT_WORKER_WAIT_S = 60.0
DEFAULT_CONNECT_TIMEOUT_S = 30.0
DEFAULT_MASTER_TIMEOUT_S = 5.0  # worker stops load this long after the master fell silent
DEFAULT_WORKER_LOST_S = 3.0  # master declares a silent worker lost after this long
DEFAULT_WORKER_DIR = "loadkit-workers"
HEARTBEAT_INTERVAL_S = 1.0  # Locust's worker heartbeat (locust.runners.HEARTBEAT_INTERVAL)


def parse_address(text: str, *, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` for IPv6) → (host, port). Raises InputError."""
    raw = text.strip()
    host, port_text = raw, ""
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise InputError(f"master address {text!r}: missing ']'")
        host, rest = raw[1:end], raw[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else rest
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    if not host:
        raise InputError(f"master address {text!r} has no host", hint="Use HOST[:PORT].")
    if not port_text:
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise InputError(f"master address {text!r}: port {port_text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise InputError(f"master address {text!r}: port {port} is outside 1..65535")
    return host, port


def _value(settings: Mapping[str, Any], name: str, default: Any) -> Any:
    entry = settings.get(name)
    if entry is None:
        return default
    if isinstance(entry, Mapping):
        return entry.get("value", default)
    return entry


@dataclass(frozen=True)
class MasterOptions:
    """How the master listens and whom it waits for.

    ``local_workers`` > 0 makes the master start that many worker processes itself on
    127.0.0.1 (``loadkit run --workers N``); it then binds 127.0.0.1 on a free port.
    """

    bind: str = "127.0.0.1"  # beyond loopback only when told, and then with a cluster key
    port: int = DEFAULT_PORT
    expect_workers: int = 1
    local_workers: int = 0
    worker_wait_s: float = DEFAULT_WORKER_WAIT_S
    worker_lost_s: float = DEFAULT_WORKER_LOST_S
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.expect_workers < 1:
            raise InputError(f"expect_workers must be >= 1, got {self.expect_workers}")
        if self.local_workers < 0:
            raise InputError(f"local_workers must be >= 0, got {self.local_workers}")
        if not 0 <= self.port <= 65535:
            raise InputError(f"master_port must be in 0..65535, got {self.port}")
        if self.worker_wait_s <= 0 or self.worker_lost_s <= HEARTBEAT_INTERVAL_S:
            raise InputError(
                "worker_wait_s must be > 0 and worker_lost_s above the 1 s heartbeat interval"
            )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> MasterOptions:
        """Read the options from a run spec's settings (``{name: {value, source}}``)."""
        local = int(_value(settings, "local_workers", 0))
        try:
            return cls(
                bind="127.0.0.1" if local else str(_value(settings, "master_bind", "127.0.0.1")),
                port=0 if local else int(_value(settings, "master_port", DEFAULT_PORT)),
                expect_workers=local or int(_value(settings, "expect_workers", 1)),
                local_workers=local,
                worker_wait_s=float(_value(settings, "worker_wait_s", DEFAULT_WORKER_WAIT_S)),
                worker_lost_s=float(_value(settings, "worker_lost_s", DEFAULT_WORKER_LOST_S)),
                dry_run=bool(_value(settings, "dry_run", False)),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad master setting in the run spec: {exc}") from None


@dataclass(frozen=True)
class WorkerOptions:
    """Where the master is and how long to wait for it."""

    master_host: str
    master_port: int = DEFAULT_PORT
    worker_dir: str = DEFAULT_WORKER_DIR  # each run goes into <worker_dir>/<run_id>-w<id>/
    expect_scenario_sha256: str | None = None
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    master_timeout_s: float = DEFAULT_MASTER_TIMEOUT_S
    key: ClusterKey | None = field(default=None, repr=False)  # proves this worker may join
    # where each value came from ({name: {value, source[, detail]}}), for worker.json
    sources: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.connect_timeout_s <= 0 or self.master_timeout_s <= HEARTBEAT_INTERVAL_S:
            raise InputError(
                "connect timeout must be > 0 and master timeout above the 1 s heartbeat interval"
            )

    @property
    def connect_retries(self) -> int:
        """Locust retries ``client_ready`` once a second; this many tries fill the timeout."""
        return max(1, math.ceil(self.connect_timeout_s))

    @property
    def address(self) -> str:
        return f"{self.master_host}:{self.master_port}"


__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MASTER_TIMEOUT_S",
    "DEFAULT_PORT",
    "DEFAULT_WORKER_DIR",
    "DEFAULT_WORKER_LOST_S",
    "DEFAULT_WORKER_WAIT_S",
    "MasterOptions",
    "WorkerOptions",
    "parse_address",
]
