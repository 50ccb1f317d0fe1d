"""Read a real arrival curve from CSV for the ``trace`` segment.

Format (``#`` comments and blank lines are skipped)::

    time,rate          # or: time,count
    0,2.5              # time: seconds (a bare number) or a duration such as 90s or 1m30s
    30s,4              # rate: arrivals per second at that time, joined linearly to the next
    1m,12              # count: arrivals in the bin [this time, next time), spread evenly

Times must strictly increase; rates and counts must be >= 0. A count trace's last bin has the
width of the bin before it. Every problem is reported with the CSV's own ``file:line:column``.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from loadkit.errors import InputError, Location
from loadkit.sources import LIMITS, Problems, read_capped_text
from loadkit.units import DURATION_HELP, parse_duration_s

TRACE_MODES = ("rate", "count")
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class TraceData:
    """A parsed trace: ``times_s`` as written (not yet shifted), one value per time."""

    mode: str  # "rate" or "count"
    times_s: tuple[float, ...]
    values: tuple[float, ...]
    sha256: str = ""  # of the file's text, so a run records exactly which curve it replayed

    def knots_and_rates(self) -> tuple[list[float], list[float], list[float]]:
        """Rate pieces for this trace, relative to its first time: knots, start and end rates."""
        t0 = self.times_s[0]
        rel = [t - t0 for t in self.times_s]
        if self.mode == "rate":
            return rel, list(self.values[:-1]), list(self.values[1:])
        knots = [*rel, rel[-1] + (rel[-1] - rel[-2])]
        rates = [c / (knots[i + 1] - knots[i]) for i, c in enumerate(self.values)]
        return knots, rates, rates


def read_trace(path: Path, shown_as: str, problems: Problems) -> TraceData | None:
    """Parse the trace CSV at ``path``; problems go to ``problems`` located as ``shown_as``.

    Returns ``None`` if the file could not be used (the reasons are in ``problems``).
    """
    try:
        text = read_capped_text(path, LIMITS.trace_bytes, "trace file")
        rows = [
            (n, row)
            for n, row in enumerate(csv.reader(text.splitlines()), start=1)
            if row and "".join(row).strip() and not row[0].lstrip().startswith("#")
        ]
    except InputError as exc:
        problems.add_error(exc)
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add(f"cannot read the trace file: {exc}", Location(shown_as))
        return None
    if not rows:
        problems.add(
            "the trace file is empty.",
            Location(shown_as, 1, 1),
            hint="Expected a header 'time,rate' or 'time,count' and rows below it.",
        )
        return None
    mode = _header_mode(rows[0], shown_as, problems)
    if mode is None:
        return None
    before = len(problems.errors)
    times, values = _parse_rows(rows[1:], shown_as, problems)
    if len(problems.errors) > before:
        return None
    if len(times) < 2:
        problems.add(
            f"a trace needs at least 2 rows, found {len(times)}.",
            Location(shown_as, rows[-1][0], 1),
        )
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return TraceData(mode, tuple(times), tuple(values), digest)


def _header_mode(first: tuple[int, list[str]], shown_as: str, problems: Problems) -> str | None:
    line, row = first
    cells = [c.strip().lower() for c in row]
    if len(cells) == 2 and cells[0] == "time" and cells[1] in TRACE_MODES:
        return cells[1]
    problems.add(
        f"the trace's header must be 'time,rate' or 'time,count', got {_shown(row)}.",
        Location(shown_as, line, 1),
        hint="time in seconds or a duration; rate in arrivals/s, or count per bin.",
    )
    return None


def _parse_rows(
    rows: list[tuple[int, list[str]]], shown_as: str, problems: Problems
) -> tuple[list[float], list[float]]:
    times: list[float] = []
    values: list[float] = []
    found = 0
    for line, row in rows:
        if found >= _MAX_PROBLEMS:
            problems.add("too many problems in the trace; stopped reading.", Location(shown_as))
            break
        before = len(problems.errors)
        _parse_row(line, row, shown_as, problems, times, values)
        found += len(problems.errors) - before
    return times, values


def _parse_row(
    line: int,
    row: list[str],
    shown_as: str,
    problems: Problems,
    times: list[float],
    values: list[float],
) -> None:
    if len(row) != 2:
        problems.add(
            f"expected 2 columns (time, value), got {len(row)}: {_shown(row)}.",
            Location(shown_as, line, 1),
        )
        return
    col_value = len(row[0]) + 2
    try:
        t = parse_duration_s(row[0].strip())
    except ValueError:
        problems.add(
            f"bad time {_shown([row[0]])}: expected {DURATION_HELP}.", Location(shown_as, line, 1)
        )
        return
    try:
        v = float(row[1])
    except ValueError:
        problems.add(
            f"bad value {_shown([row[1]])}: expected a number >= 0.",
            Location(shown_as, line, col_value),
        )
        return
    if not v >= 0 or v == float("inf"):
        problems.add(
            f"bad value {_shown([row[1]])}: a rate or count must be >= 0 and finite.",
            Location(shown_as, line, col_value),
        )
        return
    if times and not t > times[-1]:
        problems.add(
            f"time {_shown([row[0]])} does not come after the previous row's "
            f"({times[-1]:g}s): times must strictly increase.",
            Location(shown_as, line, 1),
        )
        return
    times.append(t)
    values.append(v)


def _shown(cells: list[str]) -> str:
    """The cells as the user wrote them, cut short: a hostile line must not flood the terminal."""
    text = ",".join(c.strip() for c in cells)
    return repr(text if len(text) <= 60 else text[:57] + "...")


__all__ = ["TRACE_MODES", "TraceData", "read_trace"]
