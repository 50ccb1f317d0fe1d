"""The master process: Locust's MasterRunner for transport and heartbeats, loadkit's plan on top.

The master sends no load. It waits for the expected workers (refusing those of another loadkit
version or scenario), measures each one's clock offset, hands out shards, then one t0 for all;
it writes every streamed segment into ``RUN_DIR/records/``, notices a silent worker within
``worker_lost_s`` (3 s: Locust heartbeats come every second) and accounts its unreported
arrivals as dropped (``worker_lost``), and writes the manifest (``master_end``: how the run
ends on disk).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import locust.runners as lr
from locust.env import Environment

from loadkit.errors import ExitCode, InputError, RunInvalid
from loadkit.results.schema import RECORDS_DIR, RunStatus
from loadkit.results.writer import RecordKind
from loadkit.runner.defaults import DEFAULT_DRAIN_S
from loadkit.runner.distributed.auth import (
    ClusterKey,
    load_cluster_key,
    require_key_beyond_loopback,
)
from loadkit.runner.distributed.clock import assign_shards
from loadkit.runner.distributed.master_end import cpu_s, finish, write_master_manifest
from loadkit.runner.distributed.master_io import MasterInbox, RunFiles, load_run_files
from loadkit.runner.distributed.messages import (
    MessageType,
    Ping,
    Plan,
    Start,
    Stop,
    to_wire,
)
from loadkit.runner.distributed.options import MasterOptions, WorkerOptions
from loadkit.runner.distributed.roster import Fate, WorkerSlot
from loadkit.runner.distributed.worker_spec import dump_worker_spec
from loadkit.runner.engine_types import threshold_stop_reason
from loadkit.runner.spec import RunSpec

Echo = Callable[[str], None]
_PINGS = 5
_READY_TIMEOUT_S = 60.0  # workers load the scenario and compile the schedule before ready
_DONE_GRACE_S = 10.0  # a stopped worker's time to flush and say lk_done
_STOP_CAP_S = 30.0  # ...and the most it gets while still heard from (heartbeats)
_PLANNING_SILENCE_S = 30.0
ACTIVE = (Fate.JOINED, Fate.READY, Fate.RUNNING)


class Master:
    """One run's master. ``run()`` returns the exit code; raises RunInvalid with no workers."""

    def __init__(
        self,
        run_dir: Path,
        spec: RunSpec,
        options: MasterOptions,
        echo: Echo,
        key: ClusterKey | None = None,
    ) -> None:
        self.key = key  # workers must prove they hold it (None: loopback, anyone local joins)
        self.run_dir = run_dir
        self.spec = spec
        self.options = options
        self.echo = echo
        self.files: RunFiles = load_run_files(spec)
        self.started_at_s = time.time()
        self.t0_ns: int | None = None
        self.stop_reason: str | None = None
        self.aborted_by_threshold: str | None = None  # a worker's live guard tripped this
        self.records_lost: str | None = None  # a worker could not write its records: why
        self.interrupted = False
        self.children: list[subprocess.Popen[bytes]] = []
        self.inbox: MasterInbox | None = None
        self.port = 0
        self.run_mark: tuple[float, float] | None = None  # (monotonic s, CPU s) at start
        self.run_usage: dict[str, float] = {}
        self.live: Any = None  # the live view (--live), a loadkit.runner.live_feed.LiveRun

    # -- helpers -------------------------------------------------------------------------------

    @property
    def slots(self) -> list[WorkerSlot]:
        return self.inbox.slots if self.inbox else []

    def send(self, slot: WorkerSlot, kind: MessageType, payload: Any) -> None:
        assert self.inbox is not None
        self.inbox.runner.send_message(kind.value, to_wire(payload), client_id=slot.client_id)

    def _active(self) -> list[WorkerSlot]:
        return [s for s in self.slots if s.fate in ACTIVE]

    def _check_liveness(self) -> None:
        now = time.monotonic()
        for slot in self._active():
            silent_s = now - slot.last_heard_s
            # Before t0 a worker may be busy compiling a big schedule (no heartbeats then):
            # it gets the planning budget; once running, the short one.
            limit_s = (
                self.options.worker_lost_s if slot.fate is Fate.RUNNING else _PLANNING_SILENCE_S
            )
            if silent_s > limit_s:
                slot.fate = Fate.LOST
                slot.note = f"no heartbeat for {silent_s:.1f} s"
                self.echo(f"worker {slot.worker_id} ({slot.hello.host}) lost: {slot.note}")

    def _wait_until(
        self, done: Callable[[], bool], timeout_s: float, *, liveness: bool = True
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() >= deadline or (liveness and self.interrupted):
                return done()
            gevent.sleep(0.05)
            if liveness:
                self._check_liveness()
        return True

    # -- phases --------------------------------------------------------------------------------

    def _listen(self) -> None:
        lr.HEARTBEAT_INTERVAL = 1
        env = Environment(user_classes=[])
        try:
            runner = env.create_master_runner(self.options.bind, self.options.port)
        except SystemExit:  # Locust exits when the port is taken
            raise InputError(
                f"master port {self.options.port} on {self.options.bind} is busy",
                hint="Choose another --port or stop the other master.",
            ) from None
        self.port = int(runner.server.port)
        self.inbox = MasterInbox(
            runner,
            env,
            self.run_dir / RECORDS_DIR,
            self.options,
            self.files.scenario.sha256,
            self.echo,
            self.key,
        )
        closed = "workers need the cluster key" if self.key else "no cluster key: loopback only"
        self.echo(f"loadkit master listening on {self.options.bind}:{self.port} ({closed})")

    def _spawn_local_workers(self) -> None:
        logs = self.run_dir / "workers"
        logs.mkdir(parents=True, exist_ok=True)
        options = WorkerOptions("127.0.0.1", self.port, worker_dir=str(logs))
        for n in range(self.options.local_workers):
            # the worker's settings travel in a spec file (the key, if any, in its environment)
            spec = dump_worker_spec(options, logs / f"worker-{n}.spec.json")
            log = open(logs / f"worker-{n}.log", "wb")  # noqa: SIM115 - the child owns it
            self.children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "loadkit.runner.distributed", "worker", "--spec",
                     str(spec)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
            log.close()

    def _gather(self) -> None:
        want = self.options.expect_workers
        joined = self._wait_until(lambda: len(self._active()) >= want, self.options.worker_wait_s)
        if self.interrupted:
            raise KeyboardInterrupt
        if not joined:
            have = len(self._active())
            assert self.inbox is not None
            refused = [r["reason"] for r in self.inbox.refused]
            detail = f" (refused: {'; '.join(refused)})" if refused else ""
            raise RunInvalid(
                f"only {have} of {want} worker(s) joined within {self.options.worker_wait_s:g} s"
                f"{detail}; no load was sent",
                hint="Start workers with 'loadkit worker --master HOST:PORT'.",
            )
        assert self.inbox is not None
        self.inbox.closed = True  # late workers are refused from now on

    def _sync_clocks(self) -> None:
        for nonce in range(_PINGS):
            for slot in self._active():
                self.send(slot, MessageType.PING, Ping(nonce, time.time_ns()))
            gevent.sleep(0.02)
        self._wait_until(lambda: all(len(s.clock_samples) >= _PINGS for s in self._active()), 2.0)
        for slot in self._active():
            offset = slot.settle_clock()
            if offset is not None:
                self.echo(
                    f"worker {slot.worker_id} clock offset {offset.offset_ms:+.2f} ms "
                    f"(round trip {offset.round_trip_ms:.2f} ms)"
                )

    def _plan(self) -> None:
        active = self._active()
        for slot, shards in zip(active, assign_shards(self.spec.shards, len(active)), strict=True):
            slot.shards = shards
            plan = Plan(
                slot.worker_id,
                self.spec.run_id,
                self.spec.seed,
                shards,
                self.spec.shards,
                slot.clock_offset_ns,
                self.spec.host,
                self.files.scenario,
                self.files.profile,
                self.spec.to_dict(),
                self.files.extra,
            )
            self.send(slot, MessageType.PLAN, plan)
        ready = self._wait_until(
            lambda: all(s.fate is not Fate.JOINED for s in self.slots), _READY_TIMEOUT_S
        )
        if self.interrupted:
            return
        refused = [s for s in self.slots if s.fate is Fate.REFUSED and s.shards]
        if refused or not ready:
            reason = refused[0].note if refused else "a worker did not get ready in time"
            self._stop_all(f"run cancelled: {reason}")
            raise InputError(f"the run could not start: {reason}")

    def _start(self) -> None:
        self.run_mark = (time.monotonic(), cpu_s())
        self.t0_ns = time.time_ns() + int(max(self.spec.start_delay_s, 0.5) * 1e9)
        for slot in self._active():
            slot.fate = Fate.RUNNING
            self.send(slot, MessageType.START, Start(self.t0_ns))
        write_master_manifest(self, RunStatus.RUNNING)

    def _monitor(self) -> None:
        assert self.t0_ns is not None
        drain_s = (
            self.spec.drain_timeout_s if self.spec.drain_timeout_s is not None else DEFAULT_DRAIN_S
        )
        limit_s = self.spec.duration_limit_s or (self.files.duration_s + drain_s)
        deadline = self.t0_ns / 1e9 + limit_s + self.spec.request_timeout_s + _DONE_GRACE_S
        next_line = time.monotonic() + self.spec.progress_interval_s
        while self._active() and not self.interrupted:
            gevent.sleep(0.25)
            if self.interrupted:  # Ctrl-C reached the workers too: they are stopping, not lost
                break
            self._check_liveness()
            if self._threshold_tripped() or self._records_lost():
                break
            if time.time() > deadline:
                self._stop_all("the run went past its planned end")
                break
            if time.monotonic() >= next_line:
                next_line += self.spec.progress_interval_s
                self.echo(self._progress_line())
        if self.interrupted:
            self.stop_reason = "interrupted"
            self._stop_all("interrupted")
        elif self.aborted_by_threshold is None:
            self._threshold_tripped()  # the last workers may have tripped and ended at once
            self._records_lost()

    def _threshold_tripped(self) -> bool:
        """When a worker's live guard tripped an ``abort after`` threshold (its lk_done says
        which), stop every worker as the local runner stops itself: the run is aborted."""
        tripped = [s.done.aborted_by_threshold for s in self.slots if s.done is not None]
        text = next((t for t in tripped if t), None)
        if text is None:
            return False
        self.aborted_by_threshold = text
        self.stop_reason = threshold_stop_reason(text)
        self.echo(f"run stopped: {self.stop_reason}")
        self._stop_all(self.stop_reason)
        return True

    def _records_lost(self) -> bool:
        """When a worker could not write its records (its lk_done says failed), the run is
        invalid whatever the others do: stop every worker rather than load on for nothing."""
        failed = [s for s in self.slots if s.done is not None and s.done.status == "failed"]
        if not failed or self.records_lost is not None:
            return self.records_lost is not None
        slot = failed[0]
        self.records_lost = f"worker {slot.worker_id}: {slot.done.stop_reason if slot.done else ''}"
        self.stop_reason = self.records_lost
        self.echo(f"run stopped: {self.stop_reason}")
        self._stop_all(self.stop_reason)
        return True

    def _progress_line(self) -> str:
        assert self.t0_ns is not None
        elapsed_s = (time.time_ns() - self.t0_ns) / 1e9
        arrivals = sum(s.rows[RecordKind.ARRIVALS] for s in self.slots)
        requests = sum(s.rows[RecordKind.REQUESTS] for s in self.slots)
        running = len(self._active())
        lost = sum(1 for s in self.slots if s.fate is Fate.LOST)
        return (
            f"t{elapsed_s:+.0f}s workers {running} running, {lost} lost · "
            f"{arrivals} arrivals, {requests} requests recorded"
        )

    def _stop_all(self, reason: str) -> None:
        """Tell every active worker to stop, and wait (bounded) for each one's lk_done.

        A stopping worker kills its visitors and flushes: it gets the whole grace period
        (``_DONE_GRACE_S``), and beyond it as long as it is still heard from (heartbeats) up to
        ``_STOP_CAP_S``. Only a worker silent for ``worker_lost_s`` after the grace, or still
        not done at the cap, is called lost.
        """
        for slot in self._active():
            self.send(slot, MessageType.STOP, Stop(reason))
        started_s = time.monotonic()

        def settled() -> bool:
            now_s = time.monotonic()
            if now_s - started_s < _DONE_GRACE_S:
                return not self._active()
            return all(
                now_s - slot.last_heard_s > self.options.worker_lost_s for slot in self._active()
            )

        self._wait_until(settled, _STOP_CAP_S, liveness=False)
        for slot in self._active():
            silent_s = time.monotonic() - slot.last_heard_s
            slot.fate = Fate.LOST
            slot.note = (
                f"did not finish after being told to stop ({reason}); silent for {silent_s:.1f} s"
            )
            self.echo(f"worker {slot.worker_id} ({slot.hello.host}) lost: {slot.note}")

    def interrupt(self) -> None:
        self.interrupted = True

    def run(self) -> int:
        """Gather workers, plan, start, watch, account, write the manifest."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.spec.live:  # binds now: a taken port is exit 2, before any worker is involved
            from loadkit.runner.distributed.live_master import start_master_live

            self.live = start_master_live(self)
        self._listen()
        if self.live is not None:
            self.live.feed.attach(self.inbox)
        try:
            if self.options.local_workers:
                self._spawn_local_workers()
            try:
                for phase in (self._gather, self._sync_clocks, self._plan):
                    phase()
                    if self.interrupted:
                        raise KeyboardInterrupt
            except RunInvalid as exc:
                self.stop_reason = str(exc)
                write_master_manifest(self, RunStatus.FAILED, ended=True)
                raise
            except KeyboardInterrupt:  # before t0: nothing was sent, say so and leave
                self.stop_reason = "interrupted before the start"
                self._stop_all(self.stop_reason)
                write_master_manifest(self, RunStatus.ABORTED, ended=True)
                return ExitCode.INTERRUPTED
            self._start()
            self._monitor()
            return finish(self)
        finally:
            self.close()

    def close(self) -> None:
        """Stop local worker children (by PID) and the transport."""
        if self.live is not None:
            self.live.finish()
        for child in self.children:
            try:
                child.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self.inbox is not None:
            self.inbox.runner.greenlet.kill(block=False)
            self.inbox.runner.server.close(linger=0)


def run_master(run_dir: Path, echo: Echo) -> int:
    """Run the master of the run in ``run_dir`` (its ``run-spec.json`` has mode ``master``)."""
    spec = RunSpec.load(run_dir)
    options = MasterOptions.from_settings(spec.settings)
    key = load_cluster_key(None)  # from LOADKIT_CLUSTER_KEY only: never in the run folder
    require_key_beyond_loopback(options.bind, key)
    master = Master(run_dir, spec, options, echo, key)
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, master.interrupt)
    return master.run()


__all__ = ["Master", "run_master"]
