"""Rows recorded since the live view last looked, as the columns the live board needs.

Pure (no gevent). ``RowReader`` follows one of the recorder's lists the way the ``abort after``
guard does (``loadkit.runner.guard.RecentRequests``): it remembers how far into the live list it
read, and a recorder tap hands it the unread rows of a list a flush swapped out before it
looked. Nothing is copied or counted per request: the reader runs once a tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from loadkit.results.schema import ARRIVAL_SCHEMA, REQUEST_SCHEMA
from loadkit.runner.live_board import ArrivalBatch, RequestBatch
from loadkit.runner.recorder import Recorder, Row

REQUEST_INDEX = {name: i for i, name in enumerate(REQUEST_SCHEMA.names)}
ARRIVAL_INDEX = {name: i for i, name in enumerate(ARRIVAL_SCHEMA.names)}
BOARD_REQUEST_COLUMNS = ("worker", "step", "outcome", "status", "response_ms")
BOARD_ARRIVAL_COLUMNS = (
    "worker",
    "outcome",
    "reason",
    "lateness_ms",
    "joined_ns",
    "admitted_ns",
    "seats_held",
    "seats_bought",
    "order_id",
)
Columns = Mapping[str, Sequence[Any]]


class RowReader:
    """The rows appended to ``recorder.requests`` (or ``.arrivals``) since the last ``read``.

    ``read`` must run on the recorder's thread (the gevent loop), as every recorder user does.
    """

    def __init__(self, recorder: Recorder, kind: Literal["requests", "arrivals"]) -> None:
        self._recorder = recorder
        self._kind = kind
        self._watched: list[Row] | None = None  # the recorder list read last
        self._seen = 0  # rows of ``_watched`` already read
        self._taken: list[list[Row]] = []  # unread rows of lists a flush took
        taps = recorder.taps if kind == "requests" else recorder.arrival_taps
        taps.append(self._on_take)

    def _on_take(self, rows: list[Row]) -> None:
        start = self._seen if rows is self._watched else 0
        if start < len(rows):
            self._taken.append(rows[start:])
        self._watched, self._seen = None, 0

    def read(self) -> list[Row]:
        chunks, self._taken = self._taken, []
        current: list[Row] = getattr(self._recorder, self._kind)
        if current is not self._watched:
            self._watched, self._seen = current, 0
        chunks.append(current[self._seen :])
        self._seen = len(current)
        return [row for chunk in chunks for row in chunk]


def columns_of(rows: Sequence[Row], names: Sequence[str], index: Mapping[str, int]) -> Columns:
    """Row tuples → ``{column: values}`` for ``names`` only."""
    return {name: [row[index[name]] for row in rows] for name in names}


def request_batch(cols: Columns) -> RequestBatch:
    return RequestBatch(
        worker=cols["worker"],
        step=[s if s is not None else "" for s in cols["step"]],
        outcome=cols["outcome"],
        status=[int(s or 0) for s in cols["status"]],
        response_ms=[float(r) if r is not None else 0.0 for r in cols["response_ms"]],
    )


def arrival_batch(cols: Columns) -> ArrivalBatch:
    return ArrivalBatch(
        worker=cols["worker"],
        outcome=cols["outcome"],
        reason=cols["reason"],
        lateness_ms=cols["lateness_ms"],
        joined=[v is not None for v in cols["joined_ns"]],
        admitted=[v is not None for v in cols["admitted_ns"]],
        held=[bool(v) for v in cols["seats_held"]],
        paid=[
            order is not None or bool(bought)
            for order, bought in zip(cols["order_id"], cols["seats_bought"], strict=True)
        ],
    )


__all__ = [
    "ARRIVAL_INDEX",
    "BOARD_ARRIVAL_COLUMNS",
    "BOARD_REQUEST_COLUMNS",
    "REQUEST_INDEX",
    "Columns",
    "RowReader",
    "arrival_batch",
    "columns_of",
    "request_batch",
]
