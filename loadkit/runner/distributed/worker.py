"""The worker process: joins a master over Locust's WorkerRunner, runs its shards, streams records.

Locust supplies the transport (ZeroMQ DEALER), the ``client_ready``/``ack`` handshake and the
heartbeats (one a second, answered by the master). loadkit adds its protocol on top as custom
messages (``messages.py``). The worker keeps its own segments in its folder whatever happens;
when the master falls silent for ``master_timeout_s`` (5 s by default; Locust's own 60 s is far
too long against production), it stops starting arrivals, kills its visitors, flushes and exits 3.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.queue
import locust.runners as lr
from locust import __version__ as locust_version
from locust.env import Environment

from loadkit import __version__ as loadkit_version
from loadkit.errors import ExitCode, InputError, LoadkitError
from loadkit.results.merge import WORKER_MANIFEST
from loadkit.results.schema import RunStatus
from loadkit.runner.distributed.auth import make_proof
from loadkit.runner.distributed.job import (
    StreamingWriter,
    build_engine,
    build_guard,
    prepare,
    warm_flusher,
    worker_manifest,
)
from loadkit.runner.distributed.messages import (
    Done,
    Hello,
    MessageType,
    Ping,
    Plan,
    Pong,
    Ready,
    Refuse,
    Start,
    Stop,
    Welcome,
    from_wire,
    to_wire,
)
from loadkit.runner.distributed.options import WorkerOptions

Echo = Callable[[str], None]
_REPLY_TIMEOUT_S = 10.0
MASTER_LOST = "master lost: no word from it for {:g} s"


class MasterUnreachable(InputError):
    """The master address does not resolve or nobody answers there (exit 2)."""


class Refused(InputError):
    """The master refused this worker (version or scenario mismatch) (exit 2)."""


def _resolve(options: WorkerOptions) -> None:
    """Fail fast and clearly on a name that does not resolve (retrying while DNS catches up)."""
    deadline = time.monotonic() + options.connect_timeout_s
    while True:
        try:
            socket.getaddrinfo(options.master_host, options.master_port, proto=socket.IPPROTO_TCP)
            return
        except socket.gaierror as exc:
            if time.monotonic() >= deadline:
                raise MasterUnreachable(
                    f"master host {options.master_host!r} does not resolve: {exc.strerror}",
                    hint="Check --master HOST:PORT.",
                ) from None
            gevent.sleep(1.0)


class Worker:
    """One worker process's life: connect, hello, plan, run, done. ``run`` returns an exit code."""

    def __init__(self, options: WorkerOptions, echo: Echo) -> None:
        self.options = options
        self.echo = echo
        self.inbox: gevent.queue.Queue[tuple[MessageType, Any]] = gevent.queue.Queue()
        self.last_heard_s = time.monotonic()
        self.master_lost = gevent.event.Event()
        self.interrupted = False
        self.engine: Any = None
        self.runner: Any = None
        self.worker_id = -1
        self.records_lost: str | None = None  # why this worker's records are incomplete

    # -- transport -----------------------------------------------------------------------------

    def _connect(self) -> None:
        _resolve(self.options)
        # Locust retries client_ready every CONNECT_TIMEOUT s, CONNECT_RETRY_COUNT times.
        lr.CONNECT_TIMEOUT = 1
        lr.CONNECT_RETRY_COUNT = self.options.connect_retries
        env = Environment(user_classes=[])
        try:
            self.runner = env.create_worker_runner(
                self.options.master_host, self.options.master_port
            )
        except ConnectionError:
            raise MasterUnreachable(
                f"no loadkit master answered at {self.options.address} within "
                f"{self.options.connect_timeout_s:g} s",
                hint="Check --master HOST:PORT and that 'loadkit master' is running there.",
            ) from None
        env.events.heartbeat_received.add_listener(lambda **_: self._heard())  # type: ignore[no-untyped-call]
        for kind in (
            MessageType.WELCOME,
            MessageType.REFUSE,
            MessageType.PLAN,
            MessageType.START,
            MessageType.STOP,
            MessageType.BYE,
            MessageType.PING,
        ):
            self.runner.register_message(kind.value, self._on_message)

    def _heard(self) -> None:
        self.last_heard_s = time.monotonic()

    def _on_message(self, environment: Any, msg: Any, **_: Any) -> None:
        recv_ns = time.time_ns()
        self._heard()
        kind = MessageType(msg.type)
        payload = from_wire(msg.type, msg.data)
        if kind is MessageType.PING:  # answer at once: the round trip is the clock's error bar
            assert isinstance(payload, Ping)
            pong = Pong(payload.nonce, payload.master_send_ns, recv_ns, time.time_ns())
            self.send(MessageType.PONG, pong)
        elif kind is MessageType.STOP:
            assert isinstance(payload, Stop)
            self._stop_engine(f"stopped by the master: {payload.reason}")
            self.inbox.put((kind, payload))
        else:
            self.inbox.put((kind, payload))

    def send(self, kind: MessageType, payload: Any) -> None:
        self.runner.send_message(kind.value, to_wire(payload))

    def _watchdog(self) -> None:
        limit = self.options.master_timeout_s
        while not self.master_lost.is_set():
            gevent.sleep(0.2)
            if time.monotonic() - self.last_heard_s > limit:
                self.master_lost.set()
                self._stop_engine(MASTER_LOST.format(limit))
                self.inbox.put((MessageType.STOP, Stop(MASTER_LOST.format(limit))))

    def _stop_engine(self, reason: str) -> None:
        if self.engine is not None:
            self.engine.stop(reason)

    def _wait(self, *kinds: MessageType, timeout_s: float | None, stops: bool = True) -> Any:
        """Next payload of one of ``kinds`` (or a Stop); raises LoadkitError on timeout.

        ``stops=False`` (waiting for the goodbye after lk_done): a Stop no longer means
        anything (the load already ended) and is skipped, unless the master was lost.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                kind, payload = self.inbox.get(timeout=left)
            except gevent.queue.Empty:
                raise LoadkitError(
                    f"the master at {self.options.address} did not answer within {timeout_s:g} s"
                ) from None
            if kind in kinds:
                return payload
            if kind is MessageType.STOP and (stops or self.master_lost.is_set()):
                return payload

    # -- life ----------------------------------------------------------------------------------

    def run(self) -> int:
        self._connect()
        gevent.spawn(self._watchdog)
        hello = Hello(
            loadkit_version,
            locust_version,
            platform.python_version(),
            socket.gethostname(),
            os.getpid(),
            expect_scenario_sha256=self.options.expect_scenario_sha256,
        )
        if self.options.key is not None:
            hello = replace(hello, proof=make_proof(self.options.key, to_wire(hello)))
        self.send(MessageType.HELLO, hello)
        payload = self._wait(MessageType.WELCOME, MessageType.REFUSE, timeout_s=_REPLY_TIMEOUT_S)
        if isinstance(payload, Refuse):
            raise Refused(f"the master refused this worker: {payload.reason}")
        if isinstance(payload, Stop):
            raise LoadkitError(payload.reason)
        assert isinstance(payload, Welcome)
        self.worker_id = payload.worker_id
        self.echo(f"loadkit worker {self.worker_id} joined master {self.options.address}")
        payload = self._wait(MessageType.PLAN, timeout_s=None)
        if isinstance(payload, Stop):
            return self._ended_before_start(payload.reason)
        assert isinstance(payload, Plan)
        return self._run_plan(payload)

    def _run_plan(self, plan: Plan) -> int:
        job_dir = Path(self.options.worker_dir) / f"{plan.run_id}-w{plan.worker_id}"
        dry_run = bool(plan.spec.get("settings", {}).get("dry_run", {}).get("value", False))
        try:
            prepared = prepare(plan, job_dir, dry_run=dry_run)
        except LoadkitError as exc:
            self.send(MessageType.REFUSE, Refuse(f"worker {plan.worker_id}: {exc}"))
            raise
        writer = StreamingWriter(job_dir, plan.worker_id)
        flusher = warm_flusher(prepared, writer)
        guard = build_guard(prepared, flusher)
        # Loading and compiling held the hub: the master's answers may be queued unread.
        # Silence measured from now, not from before the work.
        self._heard()
        self._write_local(plan, RunStatus.RUNNING, False, writer, None, None)
        self.send(MessageType.READY, Ready(plan.worker_id, len(prepared.plan.arrivals)))
        payload = self._wait(MessageType.START, timeout_s=None)
        if isinstance(payload, Stop):
            self._write_local(plan, RunStatus.ABORTED, True, writer, payload.reason, None)
            return self._ended_before_start(payload.reason)
        assert isinstance(payload, Start)
        t0_local_ns = payload.t0_ns + plan.clock_offset_ns  # the same instant on this clock
        self.engine = build_engine(prepared, flusher, t0_local_ns, guard=guard)
        sender = gevent.spawn(self._sender, writer)
        self.echo(
            f"worker {plan.worker_id}: {len(prepared.plan.arrivals)} arrivals, t0 in "
            f"{(t0_local_ns - time.time_ns()) / 1e9:.2f} s"
        )
        result = self.engine.run()
        sender.kill()
        if flusher.error is not None:  # records were lost: the load stopped, the run is invalid
            self.records_lost = flusher.lost_text()
        return self._finish(plan, writer, result, t0_local_ns)

    def _ended_before_start(self, reason: str) -> int:
        """Stopped before t0: nothing was sent. Tell a live master, then leave."""
        self.echo(f"worker {self.worker_id}: the run ended before it started: {reason}")
        if self.master_lost.is_set():
            return ExitCode.INVALID
        self.send(MessageType.DONE, Done(self.worker_id, RunStatus.ABORTED.value, {}, {}, reason))
        gevent.sleep(0.1)  # let it leave before the socket closes
        return ExitCode.INTERRUPTED if self.interrupted else ExitCode.PASSED

    def _sender(self, writer: StreamingWriter) -> None:
        while True:
            self._drain(writer)
            gevent.sleep(0.05)

    def _drain(self, writer: StreamingWriter) -> None:
        while writer.outbox and not self.master_lost.is_set():
            self.send(MessageType.BATCH, writer.outbox.popleft())

    def _finish(self, plan: Plan, writer: StreamingWriter, result: Any, t0_ns: int) -> int:
        lost = self.master_lost.is_set()
        status = RunStatus.FAILED if lost or self.records_lost else result.status
        reason = self.records_lost or result.stop_reason
        self._write_local(plan, status, True, writer, reason, t0_ns)
        if lost:
            self.echo(
                f"worker {plan.worker_id}: {reason}; records kept in {writer.records_dir.parent}"
            )
            return ExitCode.INVALID
        self._drain(writer)
        done = Done(
            plan.worker_id,
            status.value,
            writer.segments(),
            writer.rows(),
            reason,
            aborted_by_threshold=result.aborted_by_threshold,
            cpu_percent_max=result.cpu_percent_max,
            cpu_percent_p95=result.cpu_percent_p95,
            start_timer=result.start_timer,
            open_files_limit=result.open_files_limit,
        )
        self.send(MessageType.DONE, done)
        # Wait for the goodbye, i.e. until the master has our lk_done: leaving earlier closes
        # the socket (linger 0) with lk_done possibly still queued, and the master, never
        # hearing it, would call this worker lost. The Stop that an interrupt or the master's
        # stop left in the inbox must not cut this wait short.
        try:
            self._wait(MessageType.BYE, timeout_s=_REPLY_TIMEOUT_S, stops=False)
        except LoadkitError:
            self.echo(f"worker {plan.worker_id}: no goodbye from the master; records kept locally")
        if self.records_lost:
            return ExitCode.INVALID
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.PASSED

    def _write_local(
        self,
        plan: Plan,
        status: RunStatus,
        ended: bool,
        writer: StreamingWriter,
        reason: str | None,
        t0_ns: int | None,
    ) -> None:
        manifest = worker_manifest(
            run_id=plan.run_id,
            worker_id=plan.worker_id,
            status=status.value,
            ended=ended,
            writer=writer,
            stop_reason=reason,
            t0_ns=t0_ns,
            master=self.options.address,
        )
        manifest["settings"] = dict(self.options.sources)  # where each value came from
        write_manifest_as(writer.records_dir.parent, manifest)

    def interrupt(self) -> None:
        """Ctrl-C / SIGTERM: stop load, flush, report done (status aborted)."""
        self.interrupted = True
        self._stop_engine("interrupted")
        self.inbox.put((MessageType.STOP, Stop("interrupted")))

    def close(self) -> None:
        if self.runner is not None:
            self.runner.greenlet.kill(block=False)
            self.runner.client.close(linger=0)


def write_manifest_as(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``worker.json`` atomically: to a temporary name, then renamed."""
    path = folder / WORKER_MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    os.replace(tmp, path)


def run_worker(options: WorkerOptions, echo: Echo) -> int:
    """Run one worker to its end; returns the exit code. Raises LoadkitError for bad input."""
    worker = Worker(options, echo)
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, worker.interrupt)
    try:
        return worker.run()
    finally:
        worker.close()


__all__ = ["MasterUnreachable", "Refused", "Worker", "run_worker"]
