"""What loadkit accepts from a file a person wrote: ``LIMITS``, and how messages name kinds."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location


@dataclass(frozen=True)
class SourceLimits:
    """What loadkit accepts from a file a person wrote, so a hostile one ends fast and small.

    Every default is far above any real file (the shipped scenarios use under 5% of each), and
    small enough that a file at a limit is refused within about a CPU-second and 100 MB.
    """

    yaml_bytes: int = 256 << 10  # a scenario, profile or thresholds file: 256 KiB (~7,000 lines)
    yaml_nodes: int = 100_000  # values after expanding aliases (the "billion laughs" guard)
    yaml_depth: int = 64  # mappings and lists inside each other
    yaml_aliases: int = 1_000  # uses of *anchor
    json_bytes: int = 16 << 20  # manifest.json, worker.json: 16 MiB
    feeder_bytes: int = 100 << 20  # a feeder CSV: 100 MiB
    trace_bytes: int = 2 << 20  # a trace CSV: 2 MiB (~200,000 rows: 2 days at 1 s)


LIMITS = SourceLimits()


def kind_of(value: Any) -> str:
    """How a person names the type of a YAML value ("a list", "text"), for messages."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a date" if isinstance(value, datetime.date) else "a value"


def _size_text(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n_bytes < 1024 or unit == "MiB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def too_big(path: str | Path, size: int, limit: int, what: str) -> InputError:
    """The error for a file of ``size`` bytes over its ``limit``, naming the file."""
    return InputError(
        f"the {what} is too large: {_size_text(size)}, the limit is {_size_text(limit)}.",
        location=Location(str(path)),
        hint="Check that this is the file you meant.",
    )
