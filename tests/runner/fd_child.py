"""Descriptor exhaustion, in a process of its own (``python -m tests.runner.fd_child MODE [DIR]``).

Run by tests/runner/test_generator_faults.py: a pytest process holds other tests' servers and
threads, which open and close descriptors at any moment, so taking every descriptor there (or
counting them) races with them. Prints ``ok`` when the checks hold; raises otherwise.
"""

from __future__ import annotations

import errno
import os
import resource
import sys
from pathlib import Path

from loadkit.results.schema import REQUEST_SCHEMA
from loadkit.results.writer import RecordKind, SegmentWriter, list_segments, rows_to_table
from loadkit.runner.flusher import FdReserve, Flusher, _sample_value
from loadkit.runner.recorder import Recorder


def _records_when_the_crowd_took_every_descriptor(folder: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    in_use = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 1  # the limit caps fd numbers
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 24, hard))
    flusher = Flusher(Recorder(), SegmentWriter(folder, 0), 1.0)
    flusher.warm_up()  # imports done before the descriptors run out, as a run does
    row = tuple(_sample_value(f.type) for f in REQUEST_SCHEMA)
    tables = [rows_to_table([row], REQUEST_SCHEMA) for _ in range(2)]
    flusher.reserve.take()
    hog: list[int] = []
    try:
        while True:  # what a crowd of sockets does: take every descriptor left
            try:
                hog.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE, exc
                break
        flusher._write(RecordKind.REQUESTS, tables[0])
        flusher._write(RecordKind.REQUESTS, tables[1])  # the reserve was taken back
    finally:
        for fd in hog:
            os.close(fd)
        flusher.reserve.release()
    names = [p.name for p in list_segments(folder / "records", RecordKind.REQUESTS, 0)]
    assert names == ["requests-w0-000001.parquet", "requests-w0-000002.parquet"], names


def _a_reserve_gives_back_what_it_holds() -> None:
    reserve = FdReserve(size=3)
    before = len(os.listdir("/proc/self/fd"))
    reserve.take()
    assert len(os.listdir("/proc/self/fd")) == before + 3
    assert reserve.release() is True and reserve.release() is False
    assert len(os.listdir("/proc/self/fd")) == before


if __name__ == "__main__":
    if sys.argv[1] == "records":
        _records_when_the_crowd_took_every_descriptor(Path(sys.argv[2]))
    else:
        _a_reserve_gives_back_what_it_holds()
    print("ok")
