"""Resolve settings once, with their source: CLI flag > LOADKIT_* environment > YAML > default.

The result is a frozen mapping of ``Setting(value, source)``; the manifest records it so a
reader can tell where every value of a run came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loadkit.errors import InputError, Location


class Source(StrEnum):
    CLI = "cli"
    ENV = "env"
    FILE = "file"
    DEFAULT = "default"


@dataclass(frozen=True)
class Setting:
    value: Any
    source: Source
    detail: str = ""  # e.g. the flag, the variable or the file:line it came from

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "source": self.source.value}
        if self.detail:
            out["detail"] = self.detail
        return out


def env_name(name: str) -> str:
    """``max_in_flight`` → ``LOADKIT_MAX_IN_FLIGHT``."""
    return "LOADKIT_" + name.upper()


def resolve(
    name: str,
    *,
    cli: Any,
    file: Any = None,
    file_detail: str = "",
    default: Any,
    parse: Callable[[Any], Any] = lambda v: v,
    environ: Mapping[str, str] | None = None,
    flag: str | None = None,
) -> Setting:
    """Pick ``name`` from the first place that sets it and parse it.

    ``cli`` and ``file`` are ``None`` when not given; ``flag`` names the command-line option
    (default: ``--`` + the name with dashes). A value that does not parse raises
    ``InputError`` naming where it came from (flag, environment variable or file:line).
    """
    environ = os.environ if environ is None else environ
    var = env_name(name)
    candidates: list[tuple[Any, Source, str]] = [
        (cli, Source.CLI, flag or "--" + name.replace("_", "-")),
        (environ.get(var), Source.ENV, var),
        (file, Source.FILE, file_detail),
    ]
    for raw, source, detail in candidates:
        if raw is None:
            continue
        try:
            return Setting(parse(raw), source, detail)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"bad value {raw!r} for setting '{name}' (from {source.value} {detail}): {exc}",
                location=Location(detail) if source is Source.FILE and detail else None,
            ) from None
    return Setting(default, Source.DEFAULT)


def positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("expected a whole number above 0")
    return number


def non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("expected a whole number, 0 or more")
    return number


__all__ = ["Setting", "Source", "env_name", "non_negative_int", "positive_int", "resolve"]
