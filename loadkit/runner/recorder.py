"""In-memory record buffers between flushes (no gevent here: plain lists, swapped at flush).

Recording a request is one ``list.append`` of a tuple in ``REQUEST_SCHEMA`` column order; Arrow
tables are built only at flush time (``loadkit.runner.flusher``). Never cache ``requests`` or
``arrivals`` in a local: ``take`` swaps in fresh lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loadkit.results.schema import ArrivalOutcome

Row = tuple[Any, ...]


class Recorder:
    """Rows waiting for the next flush, plus running totals for progress lines."""

    __slots__ = (
        "arrival_taps",
        "arrivals",
        "error_count",
        "generator_faults",
        "requests",
        "taps",
    )

    def __init__(self) -> None:
        self.requests: list[Row] = []
        self.arrivals: list[Row] = []
        self.error_count = 0  # request rows with an outcome other than ok, so far
        # of those, requests the generator's own resources failed (runner.generator_faults)
        self.generator_faults = 0
        # called with each request list ``take`` hands over (the live threshold guard uses
        # this to see rows a flush took before it looked); must not modify the list
        self.taps: list[Callable[[list[Row]], None]] = []
        self.arrival_taps: list[Callable[[list[Row]], None]] = []  # the same, for arrival rows

    def take(self) -> tuple[list[Row], list[Row]]:
        """Hand over the buffered (requests, arrivals) rows and start new buffers."""
        requests, arrivals = self.requests, self.arrivals
        self.requests = []
        self.arrivals = []
        for tap in self.taps:
            tap(requests)
        for tap in self.arrival_taps:
            tap(arrivals)
        return requests, arrivals


def _facts_fields(facts: Any) -> Row:
    """The journey's observations, in ARRIVAL_SCHEMA order (missing attributes become null)."""

    def get(name: str) -> Any:
        return getattr(facts, name, None) if facts is not None else None

    held = get("seats_held")
    bought = get("seats_bought")
    return (
        get("joined_ns"),
        get("admitted_ns"),
        get("queue_position"),
        get("token_id"),
        [str(s) for s in held] if held else None,
        [str(s) for s in bought] if bought else None,
        get("order_id"),
        get("shop_ok_without_token"),
        get("tickets_bought"),
    )


def arrival_row(
    *,
    arrival_id: int,
    persona: str,
    shard: int,
    worker: int,
    scheduled_ns: int,
    actual_ns: int | None,
    end_ns: int | None,
    outcome: ArrivalOutcome,
    reason: str | None,
    last_step: str | None,
    requests: int = 0,
    errors: int = 0,
    facts: Any = None,
) -> Row:
    """One ARRIVAL_SCHEMA row. ``lateness_ms`` is derived: actual - scheduled (null if dropped)."""
    lateness_ms = None if actual_ns is None else (actual_ns - scheduled_ns) / 1e6
    return (
        arrival_id,
        persona,
        shard,
        worker,
        scheduled_ns,
        actual_ns,
        end_ns,
        lateness_ms,
        outcome.value,
        reason,
        last_step,
        requests,
        errors,
        *_facts_fields(facts),
    )


__all__ = ["Recorder", "Row", "arrival_row"]
