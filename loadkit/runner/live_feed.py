"""The live view of a local run: a greenlet that feeds the board once a tick, and its server.

``start_live(session)`` binds the server (exit 2 naming the port when it is taken, before t0)
and starts ticking; ``LiveRun.finish()`` takes the last tick after the run ended, then closes.
Each tick reads the rows recorded since the last one (``live_rows.RowReader``), the engine's
arrival counters and its CPU sample, and judges the thresholds (``live_gates``). The visitors'
hot path is untouched: nothing here runs per request.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, Protocol

import gevent
import pandas as pd

from loadkit.runner.live_address import KEY_ENV, parse_live_address
from loadkit.runner.live_board import Arrivals, LiveBoard, WorkerHealth
from loadkit.runner.live_gates import LiveGates
from loadkit.runner.live_rows import (
    ARRIVAL_INDEX,
    BOARD_ARRIVAL_COLUMNS,
    BOARD_REQUEST_COLUMNS,
    REQUEST_INDEX,
    RowReader,
    arrival_batch,
    columns_of,
    request_batch,
)
from loadkit.runner.live_server import LiveServer
from loadkit.runner.progress import phase_at
from loadkit.runner.session import Session

TICK_S = 1.0


class LocalFeed:
    """Feeds ``board`` from one session's recorder and engine."""

    def __init__(self, session: Session) -> None:
        spec, plan = session.spec, session.plan
        self.session = session
        self.board = LiveBoard(run_id=spec.run_id, mode="local", thresholds=spec.thresholds)
        onsale = plan.run_info.get("onsale_offset_s")
        self.gates = LiveGates(
            spec.thresholds,
            phases=plan.phases,
            onsale_offset_s=float(onsale) if isinstance(onsale, int | float) else 0.0,
        )
        recorder = session.flusher.recorder
        self._requests = RowReader(recorder, "requests")
        self._arrivals = RowReader(recorder, "arrivals")
        self._request_columns = tuple(dict.fromkeys((*BOARD_REQUEST_COLUMNS, *self.gates.columns)))
        self._late_seen = 0
        self._host = socket.gethostname()

    def tick(self, *, ended: bool = False) -> None:
        engine, board = self.session.engine, self.board
        now_ns = self.session.clock.now_ns()
        elapsed_s = (now_ns - self.session.t0_ns) / 1e9
        rows = self._requests.read()
        cols = columns_of(rows, self._request_columns, REQUEST_INDEX)
        board.add_requests(request_batch(cols))
        gevent.sleep(0)  # let due arrivals start between the tick's steps (a few ms each)
        arrivals = self._arrivals.read()
        board.add_arrivals(
            arrival_batch(columns_of(arrivals, BOARD_ARRIVAL_COLUMNS, ARRIVAL_INDEX))
        )
        late = engine.lateness_ms
        board.add_lateness(late[self._late_seen :])
        self._late_seen = len(late)
        scheduled = engine.started + engine.dropped if ended else engine.due_count()
        counts = Arrivals(scheduled, engine.started, engine.dropped, engine.in_flight)
        board.arrivals = counts
        board.arrivals_by_worker = {self.session.spec.worker_id: counts}
        if self.gates.active or self.gates.after_run:
            gevent.sleep(0)
            frame = pd.DataFrame({c: cols[c] for c in self.gates.columns})
            board.gates = self.gates.update(elapsed_s, frame)
        board.phase = phase_at(engine.phases, elapsed_s)
        board.status = _status(elapsed_s, stopping=engine.state.stopping, ended=ended)
        board.workers = (self._health(ended),)
        board.tick(elapsed_s, now_ns / 1e9)

    def _health(self, ended: bool) -> WorkerHealth:
        engine = self.session.engine
        samples = engine.cpu.samples
        return WorkerHealth(
            worker=self.session.spec.worker_id,
            host=self._host,
            fate="done" if ended else "running",
            up=True,
            cpu_percent=round(samples[-1], 1) if samples else None,
            last_heard_s=0.0,
            requests=engine.flusher.pending_requests(),
            arrivals=engine.started + engine.dropped,
        )


def _status(elapsed_s: float, *, stopping: bool, ended: bool) -> str:
    if ended:
        return "ended"
    if stopping:
        return "stopping"
    return "waiting" if elapsed_s < 0 else "running"


class Feed(Protocol):
    def tick(self, *, ended: bool = False) -> None: ...


def _loop(feed: Feed) -> None:
    failed = False
    while True:
        gevent.sleep(TICK_S)
        try:
            feed.tick()
        except Exception as exc:  # a live-view bug must never end the rehearsal
            if not failed:
                _warn(exc)
            failed = True


def _warn(exc: Exception) -> None:
    print(
        f"loadkit runner: the live view failed to update ({type(exc).__name__}: {exc}); "
        "the rehearsal goes on and its records are unaffected",
        file=sys.stderr,
        flush=True,
    )


class LiveRun:
    """A started live view; ``finish`` after the run (last tick, then the server closes)."""

    def __init__(self, feed: Feed, server: LiveServer) -> None:
        self.feed = feed
        self.server = server
        self._ticker: gevent.Greenlet[Any, None] = gevent.spawn(_loop, feed)

    def finish(self) -> None:
        self._ticker.kill(block=True)
        try:
            self.feed.tick(ended=True)
        except Exception as exc:  # as in _loop: the run's result stands
            _warn(exc)
        finally:
            self.server.close()


def start_live(session: Session) -> LiveRun:
    """Serve the live view of ``session`` at its spec's ``live`` address. Raises InputError
    (exit 2, before t0) when the address cannot be bound."""
    assert session.spec.live is not None
    feed = LocalFeed(session)
    feed.tick()  # pay first-use costs (pandas, the gates, a snapshot) now, before t0
    feed.board.snapshot()
    server = LiveServer(
        parse_live_address(session.spec.live),
        feed.board,
        session.stop,
        key=os.environ.get(KEY_ENV),
    )
    server.start()
    return LiveRun(feed, server)


__all__ = ["TICK_S", "Feed", "LiveRun", "LocalFeed", "start_live"]
