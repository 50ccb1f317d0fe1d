"""CSV feeders at run time: which row a visitor gets.

``unique`` mode — no row is ever handed out twice in a run, across all worker processes, with
no coordination: arrival k belongs to shard ``k mod S`` (the run's shard count, DESIGN.md §2.3),
and shard s owns rows ``s, s+S, s+2S, ...``. Each shard is run by exactly one worker, which hands
its rows out in the order its arrivals ask (the j-th asker of shard s gets row ``s + j*S``).
A shard whose rows run out is exhausted even if other shards have rows left, so a file needs
about ``askers + S`` rows. (If a lost worker's shard is re-run elsewhere, its counter restarts:
rows of that shard may then repeat — reassignment is not done today.)

``sequential`` (in order, exhausted at the end) and ``cyclic`` (in order, wrapping) keep one
cursor per worker process; ``random`` draws with the visitor's own seeded rng.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location
from loadkit.results.schema import ArrivalOutcome
from loadkit.scenario.models import Feeder, FeederMode

Row = dict[str, str]


class FeederState:
    """One feeder's rows and cursors in this process (gevent: one thread, no locks needed)."""

    def __init__(self, feeder: Feeder, rows: list[Row], shards: int) -> None:
        self.name = feeder.name
        self.mode = feeder.mode
        self.on_exhausted: ArrivalOutcome = feeder.on_exhausted
        self.rows = rows
        self.shards = max(1, shards)
        self._cursor = 0
        self._per_shard: dict[int, int] = {}

    def take(self, arrival_id: int, rng: Any) -> Row | None:
        """The row for this arrival, or None when the feeder (or its shard) is exhausted."""
        rows, n = self.rows, len(self.rows)
        if n == 0:
            return None
        mode = self.mode
        if mode is FeederMode.UNIQUE:
            shard = arrival_id % self.shards
            j = self._per_shard.get(shard, 0)
            index = shard + j * self.shards
            if index >= n:
                return None
            self._per_shard[shard] = j + 1
            return rows[index]
        if mode is FeederMode.RANDOM:
            row: Row = rows[rng.randrange(n)]
            return row
        i = self._cursor
        self._cursor = i + 1
        if mode is FeederMode.CYCLIC:
            return rows[i % n]
        return rows[i] if i < n else None


def read_rows(feeder: Feeder) -> list[Row]:
    """Read a feeder's CSV (header row = column names). Raises ``InputError``."""
    try:
        with Path(feeder.path).open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read feeder '{feeder.name}': {exc}",
                         location=Location(feeder.path)) from None  # fmt: skip


__all__ = ["FeederState", "Row", "read_rows"]
