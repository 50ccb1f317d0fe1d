"""Reading the files a person names: regular files only, within a size, inside a folder.

A device (``/dev/zero``), a FIFO or a folder is refused before it is opened; a file over its
limit is refused before it is read; a feeder or trace outside its scenario's (or profile's)
folder is refused unless that folder is allowed (``allow_paths:`` or ``LOADKIT_ALLOW_PATHS``).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location, ResultsError
from loadkit.sources.limits import LIMITS, kind_of, too_big
from loadkit.sources.yaml_source import Problems, expect_list, load_yaml_text


def read_capped_bytes(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them.

    Raises ``InputError`` for a device, FIFO, socket or folder (never opened, so a FIFO
    cannot block) and for a file over ``max_bytes``; ``OSError`` (e.g. not found) passes
    through for the caller's own message.
    """
    p = Path(path)
    st = p.stat()
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(p, st.st_mode, what)
    if st.st_size > max_bytes:
        raise too_big(p, st.st_size, max_bytes, what)
    with p.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew since stat
        raise too_big(p, len(data), max_bytes, what)
    return data


def check_regular_file(path: str | Path, max_bytes: int, what: str = "file") -> None:
    """``InputError`` unless ``path`` is a regular file of at most ``max_bytes``.

    ``OSError`` (e.g. not found) passes through for the caller's own message.
    """
    st = Path(path).stat()
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(Path(path), st.st_mode, what)
    if st.st_size > max_bytes:
        raise too_big(path, st.st_size, max_bytes, what)


def _not_regular(p: Path, mode: int, what: str) -> InputError:
    kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
    return InputError(
        f"the {what} is {kind}, not a regular file.",
        location=Location(str(p)),
        hint="Point it at a file.",
    )


def read_capped_text(path: str | Path, max_bytes: int, what: str = "file") -> str:
    """``read_capped_bytes`` decoded as UTF-8 (``UnicodeDecodeError`` passes through)."""
    return read_capped_bytes(path, max_bytes, what).decode("utf-8")


def read_source_text(path: str | Path, what: str = "file") -> str:
    """Read a user's YAML file as UTF-8; a missing, unreadable, special or oversized one
    is an ``InputError``."""
    try:
        return read_capped_text(path, LIMITS.yaml_bytes, what)
    except FileNotFoundError:
        raise InputError(
            f"{what} not found",
            location=Location(str(path)),
            hint="Check the path (it is relative to the current directory).",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the {what}: {exc}", location=Location(str(path))) from None


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse a YAML file. A missing or unreadable file is an ``InputError``."""
    return load_yaml_text(read_source_text(path), str(path))


ALLOW_PATHS_ENV = "LOADKIT_ALLOW_PATHS"


def allow_paths(value: Any, loc: Location, base: Path, problems: Problems) -> tuple[Path, ...]:
    """The folders an ``allow_paths:`` list names (relative to ``base``), then those of
    ``LOADKIT_ALLOW_PATHS`` (``os.pathsep``-separated, relative to the current directory)."""
    out: list[Path] = []
    if value is not None:
        lst = expect_list(value, loc, "allow_paths", problems)
        for i, item in enumerate(lst or ()):
            if not isinstance(item, str) or not item:
                problems.add(f"allow_paths entries are folder paths, got {kind_of(item)}.",
                             lst.item_loc(i) if lst is not None else loc)  # fmt: skip
                continue
            out.append(base / item)
    env = os.environ.get(ALLOW_PATHS_ENV, "")
    out.extend(Path(p) for p in env.split(os.pathsep) if p)
    return tuple(out)


def data_file(
    raw: str, base: Path, allowed: Iterable[Path], loc: Location, what: str, max_bytes: int
) -> Path:
    """``base / raw``, checked: a regular file of at most ``max_bytes``, under ``base`` or an
    allowed folder once symlinks and ``..`` are resolved.

    Raises ``InputError`` located at ``loc`` otherwise; ``FileNotFoundError`` (and other
    ``OSError``) pass through for the caller's own message.
    """
    path = base / raw
    real = path.resolve()
    roots = [base.resolve(), *(Path(a).resolve() for a in allowed)]
    if not any(real.is_relative_to(root) for root in roots):
        raise InputError(
            f"the {what} {raw!r} is outside this file's folder ({roots[0]}).",
            location=loc,
            hint="Move it under that folder, or allow its folder with 'allow_paths: [FOLDER]' "
            f"in this file or the {ALLOW_PATHS_ENV} environment variable.",
        )
    try:
        check_regular_file(path, max_bytes, what)
    except InputError as exc:
        raise InputError(f"{exc.message} ({raw})", location=loc, hint=exc.hint) from None
    return path


def load_json_capped(path: Path) -> Any:
    """``json.loads`` of the file at ``path`` within ``LIMITS.json_bytes`` and Python's
    nesting limit (the results' manifest.json and worker.json).

    Raises ``ResultsError`` for an oversized, special, non-UTF-8 or too deeply nested file;
    ``OSError`` (e.g. not found) and ``json.JSONDecodeError`` pass through.
    """
    try:
        data = read_capped_bytes(path, LIMITS.json_bytes, "JSON file")
        text = data.decode("utf-8")
    except InputError as exc:
        raise ResultsError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path} is not UTF-8 text: {exc}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ResultsError(f"{path} is nested too deeply to be a loadkit file.") from None
