"""Capacity search: the largest crowd a target holds while every gate passes.

``search_capacity(probe, settings)`` is the pure strategy (step up, bisect, confirm);
``probe_result`` turns an analyzed probe run into what the strategy needs; ``write_capacity``
writes the ``capacity/`` folder (capacity.json, the knee plot, summary.md). Running the probes
(rehearsals) lives in ``loadkit.capacity_rehearsal``: this package never starts processes.
"""

from loadkit.capacity.search import (
    ProbeOutcome,
    ProbeResult,
    SearchResult,
    SearchSettings,
    Stop,
    describe,
    search_capacity,
)

__all__ = [
    "ProbeOutcome",
    "ProbeResult",
    "SearchResult",
    "SearchSettings",
    "Stop",
    "describe",
    "search_capacity",
]
