"""The master/worker protocol: Locust custom messages with msgpack-able payloads.

Every message travels as a Locust custom message (``runner.send_message(type, data)``) over
Locust's own ZeroMQ link; ``data`` is a plain dict built by ``to_wire`` below and parsed back by
``from_wire``, which raises ``ProtocolError`` on anything malformed. This module is pure: no
gevent, no locust, so every message can be tested in milliseconds.

Conversation (one worker; the master talks to each worker the same way)::

    worker                              master
      lk_hello (versions, host, pid,      key and version check
                key proof) ─▶             ─▶ lk_refuse (reason) | lk_welcome (id)
      ◀─ lk_ping (nonce, t1) ...          clock offset, NTP-style, several rounds
      lk_pong (nonce, t1, t2, t3) ─▶
      ◀─ lk_plan (shards, seed, scenario + profile content and sha256, run spec)
      lk_ready | lk_refuse (reason) ─▶    the worker has loaded and compiled everything
      ◀─ lk_start (t0)                    one absolute t0 for all, once every worker is ready
      lk_batch (kind, seq, Parquet) ─▶    written as records/<kind>-w<id>-<seq>.parquet
      lk_done (segments, rows, status) ─▶
      ◀─ lk_bye                           the worker may exit; its local segments stay
      ◀─ lk_stop (reason)                 any time: stop load, flush, send lk_done
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from loadkit.errors import LoadkitError

PROTOCOL_VERSION = 1


class MessageType(StrEnum):
    HELLO = "lk_hello"
    WELCOME = "lk_welcome"
    REFUSE = "lk_refuse"
    PING = "lk_ping"
    PONG = "lk_pong"
    PLAN = "lk_plan"
    READY = "lk_ready"
    START = "lk_start"
    BATCH = "lk_batch"
    DONE = "lk_done"
    STOP = "lk_stop"
    BYE = "lk_bye"


class ProtocolError(LoadkitError):
    """A peer sent a message that does not follow this protocol (exit 2)."""


@dataclass(frozen=True)
class Hello:
    """First words of a worker: who it is and what it runs."""

    loadkit_version: str
    locust_version: str
    python_version: str
    host: str
    pid: int
    protocol: int = PROTOCOL_VERSION
    # sha256 of the scenario the worker was told to expect (``--scenario-sha256``), if any
    expect_scenario_sha256: str | None = None
    # proof that the worker holds the cluster key (``auth.make_proof``): nonce, time_ns, mac
    proof: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Welcome:
    worker_id: int


@dataclass(frozen=True)
class Refuse:
    reason: str


@dataclass(frozen=True)
class Ping:
    nonce: int
    master_send_ns: int  # t1, master epoch clock


@dataclass(frozen=True)
class Pong:
    nonce: int
    master_send_ns: int  # t1 echoed back
    worker_recv_ns: int  # t2, worker epoch clock
    worker_send_ns: int  # t3, worker epoch clock


@dataclass(frozen=True)
class FilePayload:
    """A scenario or profile travels as content + sha256, so workers need no shared disk."""

    name: str  # the file's base name (for error messages and the worker's copy)
    content: bytes
    sha256: str

    @classmethod
    def of(cls, name: str, content: bytes) -> FilePayload:
        return cls(name=name, content=content, sha256=hashlib.sha256(content).hexdigest())

    def verify(self) -> None:
        """Raise ProtocolError when the content does not match its sha256."""
        actual = hashlib.sha256(self.content).hexdigest()
        if actual != self.sha256:
            raise ProtocolError(
                f"{self.name}: content sha256 {actual[:12]}… does not match {self.sha256[:12]}…"
            )


@dataclass(frozen=True)
class Plan:
    """What one worker runs: its shards of the seeded schedule, from one absolute t0."""

    worker_id: int
    run_id: str
    seed: int
    shards: tuple[int, ...]  # arrival k is this worker's when k % total_shards is in shards
    total_shards: int
    clock_offset_ns: int  # worker clock minus master clock, as the master measured it
    host: str  # target base URL
    scenario: FilePayload
    profile: FilePayload
    spec: Mapping[str, Any] = field(default_factory=dict)  # the run spec (RunSpec.to_dict())
    # files the scenario or profile refers to (feeder CSVs, traces), named by their path
    # relative to the scenario's ("scenario/...") or the profile's ("profile/...") folder
    files: tuple[FilePayload, ...] = ()


@dataclass(frozen=True)
class Ready:
    worker_id: int
    scheduled: int  # arrivals this worker will start


@dataclass(frozen=True)
class Start:
    t0_ns: int  # schedule time zero, master epoch clock


@dataclass(frozen=True)
class Batch:
    """One flushed segment: the very file the worker wrote locally as ``<kind>-w<id>-<seq>``.

    Sending the Parquet bytes (not Arrow IPC) keeps the master's work to a file write: no
    decode, no re-encode, and the master's copy is byte-identical to the worker's.
    """

    worker_id: int
    kind: str  # "requests" | "arrivals"
    seq: int  # 1, 2, ... per (worker, kind), as in the segment's file name
    rows: int
    parquet: bytes


@dataclass(frozen=True)
class Done:
    """A worker's last word: how many segments and rows it wrote, so the master can check."""

    worker_id: int
    status: str  # RunStatus value of the worker's own part
    segments: Mapping[str, int]  # kind -> last seq written (0 = none)
    rows: Mapping[str, int]  # kind -> rows written
    stop_reason: str | None = None
    # added later, optional on the wire: an older peer simply omits them
    aborted_by_threshold: str | None = None  # the ``abort after`` threshold that stopped it
    cpu_percent_max: float | None = None  # the worker's CPU per 1 s sample (100 = 1 core)
    cpu_percent_p95: float | None = None
    start_timer: str | None = None  # "timerfd" or "libev"
    open_files_limit: int | None = None  # the worker's soft RLIMIT_NOFILE during the run


@dataclass(frozen=True)
class Stop:
    reason: str


@dataclass(frozen=True)
class Bye:
    records_complete: bool


T = TypeVar("T")

PAYLOADS: dict[MessageType, type[Any]] = {
    MessageType.HELLO: Hello,
    MessageType.WELCOME: Welcome,
    MessageType.REFUSE: Refuse,
    MessageType.PING: Ping,
    MessageType.PONG: Pong,
    MessageType.PLAN: Plan,
    MessageType.READY: Ready,
    MessageType.START: Start,
    MessageType.BATCH: Batch,
    MessageType.DONE: Done,
    MessageType.STOP: Stop,
    MessageType.BYE: Bye,
}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_wire(payload: Any) -> dict[str, Any]:
    """The msgpack-able dict of a payload dataclass (tuples become lists)."""
    out: dict[str, Any] = _plain(asdict(payload))
    return out


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    kwargs = {k: v for k, v in data.items() if k in names}  # newer peers may add keys
    if "shards" in kwargs:
        kwargs["shards"] = tuple(int(s) for s in kwargs["shards"])
    for key in ("scenario", "profile"):
        if key in kwargs and isinstance(kwargs[key], Mapping):
            kwargs[key] = _build(FilePayload, kwargs[key])
    if isinstance(kwargs.get("files"), list | tuple):
        kwargs["files"] = tuple(
            _build(FilePayload, f) if isinstance(f, Mapping) else f for f in kwargs["files"]
        )
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolError(f"malformed {cls.__name__} message: {exc}") from None


def from_wire(msg_type: str, data: Any) -> Any:
    """Parse a received message's data into its payload dataclass; ProtocolError if malformed."""
    try:
        kind = MessageType(msg_type)
    except ValueError:
        raise ProtocolError(f"unknown message type {msg_type!r}") from None
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{kind.value}: data must be a map, got {type(data).__name__}")
    return _build(PAYLOADS[kind], data)


def check_hello(hello: Hello, *, loadkit_version: str, scenario_sha256: str) -> str | None:
    """Why the master refuses this worker, or None when it may join.

    A worker must run the same loadkit version and protocol (records and plan must mean the
    same thing on both sides), and, if it was told which scenario to expect, that very one.
    """
    if hello.protocol != PROTOCOL_VERSION:
        return f"worker speaks loadkit protocol {hello.protocol}, master speaks {PROTOCOL_VERSION}"
    if hello.loadkit_version != loadkit_version:
        return (
            f"worker runs loadkit {hello.loadkit_version}, master runs loadkit {loadkit_version}; "
            "install the same version on every machine"
        )
    expected = hello.expect_scenario_sha256
    if expected and expected != scenario_sha256:
        return (
            f"worker expects scenario sha256 {expected[:12]}…, master runs {scenario_sha256[:12]}…; "
            "deploy the same scenario file everywhere"
        )
    return None


__all__ = [
    "PAYLOADS",
    "PROTOCOL_VERSION",
    "Batch",
    "Bye",
    "Done",
    "FilePayload",
    "Hello",
    "MessageType",
    "Ping",
    "Plan",
    "Pong",
    "ProtocolError",
    "Ready",
    "Refuse",
    "Start",
    "Stop",
    "Welcome",
    "check_hello",
    "from_wire",
    "to_wire",
]
