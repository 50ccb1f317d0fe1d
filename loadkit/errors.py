"""One exception tree for loadkit, each class carrying the exit code the CLI returns.

Exit codes (stable, documented in the README):
    0 passed · 1 a gate failed · 2 bad input or usage · 3 run invalid or inconclusive · 130 interrupted

Library code raises these; only ``loadkit.cli`` turns them into an exit status.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    PASSED = 0
    FAILED = 1
    BAD_INPUT = 2
    INVALID = 3
    INTERRUPTED = 130


@dataclass(frozen=True)
class Location:
    """Where a value came from: a file, 1-based line and column, and a key path."""

    path: str
    line: int | None = None
    column: int | None = None
    key_path: str = ""

    def __str__(self) -> str:
        out = self.path
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


class LoadkitError(Exception):
    """Base of every error loadkit raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class InputError(LoadkitError):
    """Bad input: a file the user wrote, a flag, a threshold. Exit 2."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location

    def __str__(self) -> str:
        where = ""
        if self.location is not None:
            where = f"{self.location}: "
            if self.location.key_path:
                where += f"{self.location.key_path}: "
        body = f"{where}{self.message}"
        return body if not self.hint else f"{body} {self.hint}"


class ValidationErrors(InputError):
    """Several input problems found in one pass (``loadkit validate`` reports them all)."""

    def __init__(self, errors: Iterable[InputError]) -> None:
        self.errors = list(errors)
        n = len(self.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found")

    def __str__(self) -> str:
        lines = [str(e) for e in self.errors]
        return "\n".join(lines)


class TargetError(LoadkitError):
    """The target refused to be load-tested (not on the allow-list, bad URL). Exit 2."""

    exit_code = ExitCode.BAD_INPUT


class ResultsError(LoadkitError):
    """A results directory is missing, unreadable or of an unknown schema. Exit 2."""

    exit_code = ExitCode.BAD_INPUT


class RunInvalid(LoadkitError):
    """The run cannot be trusted (generator behind, lost workers, too little data). Exit 3."""

    exit_code = ExitCode.INVALID


class RecordsUnreadable(RunInvalid):
    """A run's record files are missing, truncated, empty or corrupted: nothing to judge. Exit 3."""


class Interrupted(LoadkitError):
    """The user pressed Ctrl-C. Exit 130."""

    exit_code = ExitCode.INTERRUPTED


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


__all__ = [
    "ExitCode",
    "InputError",
    "Interrupted",
    "LoadkitError",
    "Location",
    "RecordsUnreadable",
    "ResultsError",
    "RunInvalid",
    "TargetError",
    "ValidationErrors",
    "did_you_mean",
]
