"""Periodic flushing of the recorder's rows into Parquet segments, off the hot path.

At each tick the buffered rows are taken (a list swap), turned into Arrow in small chunks with a
``gevent.sleep(0)`` between chunks (so the scheduler greenlet is never held up for more than
about a millisecond), and the Parquet encode + write + rename runs in gevent's thread pool
(pyarrow releases the GIL there).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
import gevent.lock
import pyarrow as pa
import pyarrow.parquet as pq
from gevent import monkey

from loadkit.results.writer import SCHEMAS, RecordKind, SegmentWriter, rows_to_table
from loadkit.runner.generator_faults import FdReserve
from loadkit.runner.recorder import Recorder, Row

_real_sleep = monkey.get_original("time", "sleep")  # ``rescue`` runs outside the gevent loop
CHUNK_ROWS = 512
# The writer thread runs at the lowest CPU priority. The generator is often pinned to one core,
# where the Parquet encoder's time slices delay the scheduler's timers; at nice 19 the kernel
# lets the scheduler's thread preempt it on wake-up. Measured with one GET per arrival at
# 500/s, 4 alternating rounds each: lateness p99 2.92-4.72 ms at nice 0, 2.35-3.93 ms at 19.
WRITER_NICE = 19


def build_table(rows: Sequence[Row], schema: pa.Schema, chunk_rows: int = CHUNK_ROWS) -> pa.Table:
    """Arrow table from row tuples, yielding to other greenlets between chunks."""
    parts = []
    for i in range(0, len(rows), chunk_rows):
        parts.append(rows_to_table(rows[i : i + chunk_rows], schema))
        gevent.sleep(0)
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def _sample_value(t: pa.DataType) -> Any:
    if pa.types.is_list(t):
        return ["x"]
    if pa.types.is_dictionary(t) or pa.types.is_string(t):
        return "x"
    if pa.types.is_floating(t):
        return 0.0
    return 0


class Flusher:
    """Owns the writer while the run goes; ``stop`` ends the ticks and does the final flush.

    ``requests_taken`` counts every request row taken from the recorder (written or not), which
    gives progress lines their requests/s without touching the hot path.

    A write that fails (disk full, permission or folder lost) is never retried mid-run and never
    ignored: ``error`` keeps the first failure, ``lost`` counts the rows of each kind that did
    not reach the disk, and ``on_error`` (the engine's stop, see ``session.build_engine``) is
    called once, so the load stops within a flush interval instead of going on unrecorded.
    """

    def __init__(
        self,
        recorder: Recorder,
        writer: SegmentWriter,
        interval_s: float,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.writer = writer
        self.interval_s = interval_s
        self.on_error = on_error
        self.requests_taken = 0
        self.flushes = 0
        self.error: BaseException | None = None
        self.lost: dict[RecordKind, int] = {k: 0 for k in RecordKind}
        self._lock = gevent.lock.Semaphore()
        self._stopping = gevent.event.Event()
        self._greenlet: gevent.Greenlet[Any, None] | None = None
        self._niced_threads: set[int] = set()
        # rows taken from the recorder and not yet handed to a pool thread, and writes under
        # way there: what ``rescue`` must still write (or wait for) when the loop is wedged
        self._in_hand: list[tuple[RecordKind, list[Row]]] = []
        self._writing = 0
        self.reserve = FdReserve()  # held while the load runs (start .. stop)

    def _write(self, kind: RecordKind, table: pa.Table) -> None:
        """In a pool thread: lower this thread's priority once, then write the segment."""
        self._writing += 1
        try:
            tid = threading.get_native_id()
            if tid not in self._niced_threads:
                self._niced_threads.add(tid)
                with contextlib.suppress(OSError):  # not permitted: keep the default priority
                    os.setpriority(os.PRIO_PROCESS, tid, WRITER_NICE)
            try:
                self.writer.write_table(kind, table)
            except OSError as exc:
                # the crowd took every descriptor: write with the reserve's, then take it back
                if not (self.reserve.out_of_fds(exc) and self.reserve.release()):
                    raise
                try:
                    self.writer.write_table(kind, table)
                finally:
                    self.reserve.take()
        finally:
            self._writing -= 1

    def _failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)

    def flush_once(self, *, final: bool = False) -> tuple[int, int]:
        """Write what is buffered now; returns (request rows, arrival rows) taken.

        After a failed write, rows are only counted as lost, except at the ``final`` flush,
        which tries once more (space may have been freed). Never raises for a write error.
        """
        with self._lock:
            requests, arrivals = self.recorder.take()
            self.requests_taken += len(requests)
            pool = gevent.get_hub().threadpool
            kinds = ((RecordKind.REQUESTS, requests), (RecordKind.ARRIVALS, arrivals))
            self._in_hand = [(kind, rows) for kind, rows in kinds if rows]
            while self._in_hand:
                kind, rows = self._in_hand[0]
                if self.error is not None and not final:
                    self.lost[kind] += len(rows)
                    self._in_hand.pop(0)
                    continue
                try:
                    table = build_table(rows, SCHEMAS[kind])  # yields between chunks
                    self._in_hand.pop(0)
                    pool.apply(self._write, (kind, table))
                except Exception as exc:  # disk full, permissions: these rows are lost
                    self.lost[kind] += len(rows)
                    self._failed(exc)
            self.flushes += 1
            return len(requests), len(arrivals)

    def warm_up(self) -> None:
        """Pay pyarrow's first-use costs (hundreds of ms) before t0, not during the load."""
        for schema in SCHEMAS.values():
            row = tuple(_sample_value(f.type) for f in schema)
            pq.write_table(rows_to_table([row], schema), io.BytesIO(), compression="zstd")

    def pending_requests(self) -> int:
        return self.requests_taken + len(self.recorder.requests)

    def _loop(self) -> None:
        next_tick = time.monotonic() + self.interval_s
        while not self._stopping.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += self.interval_s
            self.flush_once()

    def start(self) -> None:
        self.reserve.take()
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        """Stop ticking, wait for a flush under way, then flush the rest.

        Never raises for a write error: ``error`` and ``lost`` say what did not reach the disk.
        """
        self._stopping.set()
        if self._greenlet is not None:
            self._greenlet.join()
        self.flush_once(final=True)
        self.reserve.release()

    def rescue(self, wait_s: float = 1.0) -> int:
        """For the stop watchdog (another OS thread, the gevent loop wedged): let the writes
        under way finish (up to ``wait_s``), then write the rows taken but not yet handed to
        the writer and those still buffered. Returns the rows written here."""
        deadline = time.monotonic() + wait_s
        while self._writing and time.monotonic() < deadline:
            _real_sleep(0.01)
        in_hand, self._in_hand = self._in_hand, []
        requests, arrivals = self.recorder.take()
        batches = [*in_hand, (RecordKind.REQUESTS, requests), (RecordKind.ARRIVALS, arrivals)]
        written = 0
        for kind, rows in batches:
            if rows:
                self.writer.write_table(kind, rows_to_table(rows, SCHEMAS[kind]))
                written += len(rows)
        return written

    def lost_text(self) -> str:
        """What the failed writes cost, for the manifest's ``stop_reason``."""
        lost = self.lost
        return (
            f"records could not be written ({type(self.error).__name__}: {self.error}): "
            f"load stopped; {lost[RecordKind.REQUESTS]} request and "
            f"{lost[RecordKind.ARRIVALS]} arrival rows were lost, the rest is on disk"
        )


__all__ = ["CHUNK_ROWS", "WRITER_NICE", "Flusher", "build_table"]
