"""The master's inputs: the run's files (loaded once) and the workers' messages (one handler each).

``MasterInbox`` registers loadkit's custom messages on Locust's MasterRunner. Handlers run in
Locust's ``client_listener`` greenlet, one message at a time, so the roster needs no locks.
A batch handler only writes the segment's bytes to disk under its own name (a duplicate is a
no-op) and notes its sequence number and, for arrivals, the arrival ids it holds.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from loadkit import __version__ as loadkit_version
from loadkit.errors import InputError
from loadkit.results.merge import SegmentId
from loadkit.results.writer import RecordKind
from loadkit.runner.distributed.auth import ClusterKey, ProofChecker
from loadkit.runner.distributed.job import persona_index
from loadkit.runner.distributed.messages import (
    Batch,
    Done,
    FilePayload,
    Hello,
    MessageType,
    Pong,
    ProtocolError,
    Ready,
    Refuse,
    Welcome,
    check_hello,
    from_wire,
    to_wire,
)
from loadkit.runner.distributed.options import MasterOptions
from loadkit.runner.distributed.roster import Fate, WorkerSlot
from loadkit.runner.spec import RunSpec, check_target

Echo = Callable[[str], None]


def _referenced(folder: Path, paths: list[str], prefix: str) -> list[FilePayload]:
    """Files under ``folder`` that the scenario/profile names, as ``prefix/relative`` payloads.

    A file outside the folder (absolute path elsewhere, ``..``) cannot be placed the same way on
    a worker and is not sent: it must then exist at the same path on every worker.
    """
    out: list[FilePayload] = []
    for raw in sorted(set(paths)):
        path = (folder / raw).resolve()
        try:
            rel = path.relative_to(folder.resolve())
        except ValueError:
            continue
        if path.is_file():
            out.append(FilePayload.of(f"{prefix}/{rel.as_posix()}", path.read_bytes()))
    return out


@dataclass(frozen=True)
class RunFiles:
    """Scenario and profile as sent to workers, plus what the master needs of them."""

    scenario: FilePayload
    profile: FilePayload
    extra: tuple[FilePayload, ...]  # feeder and trace files, shipped with the plan
    schedule: Any  # loadkit.profiles.Schedule
    duration_s: float
    persona_names: tuple[str, ...]
    persona_of: np.ndarray[Any, Any] | None
    scenario_entry: dict[str, Any]
    profile_entry: dict[str, Any]
    plan_entry: dict[str, Any]


def _read(path: str, what: str) -> FilePayload:
    try:
        return FilePayload.of(Path(path).name, Path(path).read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read the {what} {path}: {exc.strerror}") from None


def load_run_files(spec: RunSpec) -> RunFiles:
    """Read, load and compile the run's scenario and profile (InputError when they do not load)."""
    from loadkit.profiles import compile_schedule, load_profile
    from loadkit.scenario import load_scenario

    scenario = _read(spec.scenario_path, "scenario")
    profile_file = _read(spec.profile_path, "profile")
    profile = load_profile(Path(spec.profile_path))
    schedule = compile_schedule(profile, spec.seed)
    model = load_scenario(Path(spec.scenario_path))
    check_target(spec.host, model.allow_hosts)  # refuse before any worker is involved
    names = tuple(p.name for p in model.personas)
    weights = [float(p.weight) for p in model.personas]
    persona_of = persona_index(weights, spec.seed, len(schedule)) if names else None
    phases = [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s} for p in schedule.phases]
    scenario_dir = Path(spec.scenario_path).parent
    profile_dir = Path(spec.profile_path).parent
    traces = [
        str(getattr(seg, "source", ""))
        for seg in profile.segments
        if getattr(seg, "kind", "") == "trace"
    ]
    extra = _referenced(scenario_dir, [f.path for f in model.feeders], "scenario")
    extra += _referenced(profile_dir, traces, "profile")
    return RunFiles(
        scenario=scenario,
        profile=profile_file,
        extra=tuple(extra),
        schedule=schedule,
        duration_s=float(profile.duration_s),
        persona_names=names,
        persona_of=persona_of,
        scenario_entry={
            "path": spec.scenario_path,
            "sha256": scenario.sha256,
            "name": getattr(model, "name", None),
        },
        profile_entry={
            "path": spec.profile_path,
            "sha256": profile_file.sha256,
            "name": getattr(profile, "name", None),
        },
        plan_entry={
            "arrivals": len(schedule),
            "duration_s": float(profile.duration_s),
            "onsale_offset_s": getattr(profile, "onsale_at_s", None),
            "phases": phases,
        },
    )


class MasterInbox:
    """The roster and the handlers that keep it current."""

    def __init__(
        self,
        runner: Any,
        env: Any,
        records_dir: Path,
        options: MasterOptions,
        scenario_sha256: str,
        echo: Echo,
        key: ClusterKey | None = None,
    ) -> None:
        self.runner = runner
        self.auth = ProofChecker(key)
        self.records_dir = records_dir
        self.options = options
        self.scenario_sha256 = scenario_sha256
        self.echo = echo
        self.slots: list[WorkerSlot] = []
        self.refused: list[dict[str, Any]] = []  # workers turned away at hello: host, pid, reason
        self.closed = False  # no more workers once the plan is out
        # called with (worker id, kind, Parquet bytes) of each new segment (the live view)
        self.batch_taps: list[Callable[[int, RecordKind, bytes], None]] = []
        self._by_client: dict[str, WorkerSlot] = {}
        env.events.heartbeat_sent.add_listener(self._on_heartbeat)  # type: ignore[no-untyped-call]
        handlers: dict[MessageType, Callable[[str, Any], None]] = {
            MessageType.HELLO: self._hello,
            MessageType.PONG: self._pong,
            MessageType.READY: self._ready,
            MessageType.REFUSE: self._refuse,
            MessageType.BATCH: self._batch,
            MessageType.DONE: self._done,
        }
        for kind, handler in handlers.items():
            runner.register_message(kind.value, self._dispatch(handler))

    def _dispatch(self, handler: Callable[[str, Any], None]) -> Callable[..., None]:
        def listener(environment: Any, msg: Any, **_: Any) -> None:
            recv_ns = time.time_ns()
            slot = self._by_client.get(msg.node_id)
            if slot is not None:
                slot.last_heard_s = time.monotonic()
            try:
                payload = from_wire(msg.type, msg.data)
            except ProtocolError as exc:
                self.echo(f"ignored a malformed message from {msg.node_id}: {exc}")
                return
            if isinstance(payload, Pong) and slot is not None:
                slot.clock_samples.append(_sample(payload, recv_ns))
                return
            handler(msg.node_id, payload)

        return listener

    def _on_heartbeat(self, client_id: str, **_: Any) -> None:
        slot = self._by_client.get(client_id)
        if slot is not None:
            slot.last_heard_s = time.monotonic()

    def _send(self, client_id: str, kind: MessageType, payload: Any) -> None:
        self.runner.send_message(kind.value, to_wire(payload), client_id=client_id)

    def _hello(self, client_id: str, hello: Hello) -> None:
        if client_id in self._by_client:
            return
        # a worker without the cluster key learns nothing but that: no plan, no files
        reason = self.auth.check(to_wire(hello)) or check_hello(
            hello, loadkit_version=loadkit_version, scenario_sha256=self.scenario_sha256
        )
        active = [s for s in self.slots if s.fate is not Fate.REFUSED]
        if reason is None and (self.closed or len(active) >= self.options.expect_workers):
            reason = f"this run already has its {self.options.expect_workers} worker(s)"
        if reason is not None:
            self.echo(f"refused worker {hello.host} pid {hello.pid}: {reason}")
            self.refused.append({"host": hello.host, "pid": hello.pid, "reason": reason})
            self._send(client_id, MessageType.REFUSE, Refuse(reason))
            return
        slot = WorkerSlot(len(self.slots), client_id, hello, time.monotonic())
        self.slots.append(slot)
        self._by_client[client_id] = slot
        self._send(client_id, MessageType.WELCOME, Welcome(slot.worker_id))
        self.echo(
            f"worker {slot.worker_id} joined: {hello.host} pid {hello.pid} "
            f"({len(self.slots)}/{self.options.expect_workers})"
        )

    def _pong(self, client_id: str, pong: Pong) -> None:  # handled in _dispatch (needs t4)
        return

    def _ready(self, client_id: str, ready: Ready) -> None:
        slot = self._by_client.get(client_id)
        if slot is not None:
            slot.fate = Fate.READY
            slot.scheduled = ready.scheduled

    def _refuse(self, client_id: str, refuse: Refuse) -> None:
        slot = self._by_client.get(client_id)
        if slot is not None:
            slot.fate = Fate.REFUSED
            slot.note = refuse.reason
            self.echo(f"worker {slot.worker_id} refused its plan: {refuse.reason}")

    def _batch(self, client_id: str, batch: Batch) -> None:
        slot = self._by_client.get(client_id)
        if slot is None or batch.worker_id != slot.worker_id:
            self.echo(f"ignored a batch from an unknown worker ({client_id})")
            return
        kind = RecordKind(batch.kind)
        if not slot.received(kind, batch.seq, batch.rows):
            return
        seg = SegmentId(kind, slot.worker_id, batch.seq)
        path = self.records_dir / seg.name
        if not path.exists():
            self.records_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(batch.parquet)
            tmp.replace(path)
        for tap in self.batch_taps:
            tap(slot.worker_id, kind, batch.parquet)
        if kind is RecordKind.ARRIVALS:
            ids = pq.read_table(io.BytesIO(batch.parquet), columns=["arrival_id"]).column(0)
            slot.arrival_ids.append(ids.to_numpy())

    def _done(self, client_id: str, done: Done) -> None:
        slot = self._by_client.get(client_id)
        if slot is not None and slot.fate is not Fate.LOST:
            slot.done = done
            slot.fate = Fate.DONE


def _sample(pong: Pong, master_recv_ns: int) -> Any:
    from loadkit.runner.distributed.clock import ClockSample

    return ClockSample(
        pong.master_send_ns, pong.worker_recv_ns, pong.worker_send_ns, master_recv_ns
    )


__all__ = ["MasterInbox", "RunFiles", "load_run_files"]
