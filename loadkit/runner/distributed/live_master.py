"""The live view of a distributed run, served by the master from what the workers stream.

The master sends no load and the workers send it nothing but their record segments (and
heartbeats), so every figure here comes from those: each segment a worker streams is decoded
once, at the next tick (off Locust's message handler), into the live board, labelled by worker.
Arrivals due come from the seeded schedule of each worker's shards. Started and in flight are
derived, and lag by up to one flush interval (1 s by default): a dropped arrival counts as
started until its record arrives, and a journey that ended counts as in flight until its
record arrives. Arrivals a lost worker never reported are accounted only after the run.
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from loadkit.results.writer import RecordKind
from loadkit.runner.distributed.roster import Fate
from loadkit.runner.live_address import KEY_ENV, parse_live_address
from loadkit.runner.live_board import Arrivals, LiveBoard, WorkerHealth
from loadkit.runner.live_feed import LiveRun
from loadkit.runner.live_gates import LiveGates
from loadkit.runner.live_rows import (
    BOARD_ARRIVAL_COLUMNS,
    BOARD_REQUEST_COLUMNS,
    arrival_batch,
    request_batch,
)
from loadkit.runner.live_server import LiveServer
from loadkit.runner.progress import phase_at

DOWN = (Fate.LOST, Fate.REFUSED)


class MasterFeed:
    """Feeds the board from a ``Master`` (``loadkit.runner.distributed.master``)."""

    def __init__(self, master: Any) -> None:
        self.master = master
        spec, files = master.spec, master.files
        self.board = LiveBoard(run_id=spec.run_id, mode="master", thresholds=spec.thresholds)
        onsale = files.plan_entry.get("onsale_offset_s")
        self.gates = LiveGates(
            spec.thresholds,
            phases=files.schedule.phases,
            onsale_offset_s=float(onsale) if isinstance(onsale, int | float) else 0.0,
        )
        self._request_columns = list(dict.fromkeys((*BOARD_REQUEST_COLUMNS, *self.gates.columns)))
        self._pending: list[tuple[RecordKind, bytes]] = []
        self._offsets: dict[int, np.ndarray[Any, Any]] = {}  # worker -> its arrivals' offsets
        self._ended: Counter[int] = Counter()  # worker -> journeys recorded as ended
        self._dropped: Counter[int] = Counter()

    def attach(self, inbox: Any) -> None:
        """Start receiving the segments ``inbox`` (a ``MasterInbox``) takes in."""
        inbox.batch_taps.append(self._on_batch)

    def _on_batch(self, worker_id: int, kind: RecordKind, parquet: bytes) -> None:
        self._pending.append((kind, parquet))  # decoded at the next tick

    def tick(self, *, ended: bool = False) -> None:
        master, board = self.master, self.board
        pending, self._pending = self._pending, []
        frames = []
        for kind, parquet in pending:
            if kind is RecordKind.REQUESTS:
                cols = _columns(parquet, self._request_columns)
                board.add_requests(request_batch(cols))
                frames.append(pd.DataFrame({c: cols[c] for c in self.gates.columns}))
            else:
                self._add_arrivals(_columns(parquet, list(BOARD_ARRIVAL_COLUMNS)))
        t0_ns = master.t0_ns
        elapsed_s = (time.time_ns() - t0_ns) / 1e9 if t0_ns is not None else 0.0
        self._arrivals(elapsed_s, started=t0_ns is not None)
        if self.gates.active or self.gates.after_run:
            frame = pd.concat(frames, ignore_index=True) if frames else _empty(self.gates.columns)
            board.gates = self.gates.update(elapsed_s, frame)
        board.phase = phase_at(master.files.schedule.phases, elapsed_s)
        board.status = _status(master, ended)
        board.workers = tuple(_health(slot) for slot in master.slots)
        board.tick(elapsed_s, time.time())

    def _add_arrivals(self, cols: dict[str, list[Any]]) -> None:
        self.board.add_arrivals(arrival_batch(cols), lateness=True)
        for worker, outcome in zip(cols["worker"], cols["outcome"], strict=True):
            (self._dropped if outcome == "dropped" else self._ended)[int(worker)] += 1

    def _arrivals(self, elapsed_s: float, *, started: bool) -> None:
        """Per worker: due by its shards' schedule; started and in flight derived (see the
        module docstring)."""
        master, by_worker = self.master, {}
        for slot in master.slots:
            if not slot.shards:
                continue
            offsets = self._offsets.get(slot.worker_id)
            if offsets is None:
                offsets = master.files.schedule.for_shards(slot.shards, master.spec.shards)[1]
                self._offsets[slot.worker_id] = offsets
            due = int(np.searchsorted(offsets, elapsed_s * 1e9, side="right")) if started else 0
            dropped, done = self._dropped[slot.worker_id], self._ended[slot.worker_id]
            begun = max(due - dropped, done)
            by_worker[slot.worker_id] = Arrivals(due, begun, dropped, begun - done)
        self.board.arrivals_by_worker = by_worker
        values = list(by_worker.values())
        self.board.arrivals = Arrivals(*(sum(getattr(a, f) for a in values) for f in _FIELDS))


_FIELDS = ("scheduled", "started", "dropped", "in_flight")


def _columns(parquet: bytes, names: list[str]) -> dict[str, list[Any]]:
    table = pq.read_table(io.BytesIO(parquet), columns=names)
    return {name: table.column(name).to_pylist() for name in names}


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})


def _status(master: Any, ended: bool) -> str:
    if ended:
        return "ended"
    if master.t0_ns is None:
        return "waiting"
    if master.interrupted or master.stop_reason is not None:
        return "stopping"
    return "running" if time.time_ns() >= master.t0_ns else "waiting"


def _health(slot: Any) -> WorkerHealth:
    done = slot.done
    return WorkerHealth(
        worker=slot.worker_id,
        host=slot.hello.host,
        fate=slot.fate.value,
        up=slot.fate not in DOWN,
        cpu_percent=done.cpu_percent_max if done is not None else None,
        last_heard_s=round(time.monotonic() - slot.last_heard_s, 2),
        requests=slot.rows[RecordKind.REQUESTS],
        arrivals=slot.rows[RecordKind.ARRIVALS],
    )


def start_master_live(master: Any) -> LiveRun:
    """Serve the live view of ``master`` at its spec's ``live`` address; the Stop button
    interrupts the run as Ctrl-C does. Raises InputError (exit 2) when it cannot bind."""
    feed = MasterFeed(master)
    server = LiveServer(
        parse_live_address(master.spec.live),
        feed.board,
        lambda _reason: master.interrupt(),
        key=os.environ.get(KEY_ENV),
    )
    server.start()
    master.echo(f"loadkit master: live view at {server.url}")
    return LiveRun(feed, server)


__all__ = ["MasterFeed", "start_master_live"]
