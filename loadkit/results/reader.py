"""Analyst-side reader of a results directory: tidy pandas frames, no gevent, no Locust.

``open_run(path)`` checks the folder and the manifest and lists the record files; frames are
read on first use (``Run.requests``, ``Run.arrivals``) or column by column for the analyzer
(``Run.load_requests(columns)``). Dictionary-encoded strings become pandas categoricals.

A crashed run (manifest status ``running``) or a folder with unreadable segments is still read:
``Run.partial`` is true and ``Run.partial_reasons`` says why. A missing folder, a missing or
broken manifest (not JSON, or a key of the wrong type), or a newer ``schema_version`` raise
``ResultsError`` (exit 2).

Records are trusted or refused: every file is read with page-checksum verification (the
writer stores a CRC32 per page), so a truncated, empty or corrupted file is never analyzed as
data. It is left out, named in ``partial_reasons`` ("records unreadable: PATH: why") and the
rest is read; ``Run.require_requests()`` raises ``RecordsUnreadable`` (exit 3) when no request
record is left to analyze.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loadkit.errors import LoadkitError, RecordsUnreadable, ResultsError, RunInvalid
from loadkit.profiles import Phase
from loadkit.results.manifest_check import check_manifest_types
from loadkit.results.schema import (
    ARRIVAL_SCHEMA,
    CONSTANT_FILL,
    INTENT_FILL,
    MANIFEST_NAME,
    RECORDS_DIR,
    REQUEST_SCHEMA,
    SCHEMA_VERSION,
    RunStatus,
)
from loadkit.sources import load_json_capped

_COMPACTED_FROM_KEY = b"loadkit.compacted_from"  # written by the runner's compaction
_SCHEMAS = {"requests": REQUEST_SCHEMA, "arrivals": ARRIVAL_SCHEMA}
# columns every records file of a kind has had since schema version 1
_KEY_COLUMNS = {
    "requests": ("arrival_id", "step", "intended_ns", "response_ms", "outcome"),
    "arrivals": ("arrival_id", "scheduled_ns", "outcome"),
}
_SEGMENT_RE = re.compile(r"(requests|arrivals)-w(\d+)(?:-(\d+))?\.parquet")


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    if not run_dir.exists():
        raise ResultsError(
            f"results folder not found: {run_dir}",
            hint="Check the path (runs are under results/<run-id>/).",
        )
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir} is not a folder", hint="Pass the run folder, not a file.")
    path = run_dir / MANIFEST_NAME
    try:
        data = load_json_capped(path)
    except FileNotFoundError:
        raise ResultsError(
            f"no {MANIFEST_NAME} in {run_dir}: this is not a loadkit run folder",
            hint="A run folder holds manifest.json and records/.",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path} must hold a JSON object")
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise ResultsError(f"{path} has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has schema_version {version}; this loadkit reads up to {SCHEMA_VERSION}",
            hint="Upgrade loadkit to analyze this run.",
        )
    check_manifest_types(path, data)
    return data


def unreadable(path: Path, problem: BaseException | str | None = None) -> str:
    """The reason a records file cannot be trusted, naming it: ``records unreadable: PATH: why``.
    ``problem`` is the exception reading it raised, or the reason itself."""
    if isinstance(problem, str):
        why = problem
    elif not path.is_file():
        why = "not a regular file"
    elif path.stat().st_size == 0:
        why = "the file is empty (0 bytes)"
    else:
        text = str(problem or "")
        size = path.stat().st_size
        if "CRC" in text or "checksum" in text:
            why = "a page checksum does not match: the file was corrupted on disk or in transit"
        elif "magic bytes" in text or "footer" in text:
            why = f"no Parquet footer in its {size:,} bytes: the file is truncated or not Parquet"
        else:
            lines = text.strip().splitlines()
            why = lines[0] if lines else type(problem).__name__
    return f"records unreadable: {path}: {why}"


def _foreign(schema: pa.Schema, kind: str) -> str | None:
    """Why a readable Parquet file is not a ``kind`` records file, or None when it is one."""
    names = set(schema.names)
    missing = [c for c in _KEY_COLUMNS[kind] if c not in names]
    alien = sorted(names - set(_SCHEMAS[kind].names))
    if not missing and not alien:
        return None
    what = f"no {', '.join(missing)} column" if missing else f"columns {', '.join(alien[:3])}"
    return f"it does not hold {kind[:-1]} records ({what}): a foreign file under a record name"


def _list_files(records: Path, kind: str) -> tuple[list[Path], list[str]]:
    """Record files of ``kind``: compacted files plus segments they do not already hold. Each
    file's footer is read once: a damaged or foreign file is left out and named in the problems
    (a foreign file would otherwise be read as rows of nulls)."""
    compacted: dict[int, Path] = {}
    segments: list[tuple[int, int, Path]] = []
    problems: list[str] = []
    skip: set[str] = set()
    for p in sorted(records.iterdir()) if records.is_dir() else ():
        m = _SEGMENT_RE.fullmatch(p.name)
        if not m or m.group(1) != kind:
            continue
        try:
            schema = pq.read_schema(p) if p.is_file() else None
        except (OSError, pa.ArrowException, ValueError) as exc:
            problems.append(unreadable(p, exc))
            continue
        why = "not a regular file" if schema is None else _foreign(schema, kind)
        if schema is None or why is not None:
            problems.append(unreadable(p, why))
        elif m.group(3) is None:
            compacted[int(m.group(2))] = p
            try:
                skip.update(json.loads((schema.metadata or {}).get(_COMPACTED_FROM_KEY, b"[]")))
            except ValueError as exc:
                problems.append(unreadable(p, exc))
        else:
            segments.append((int(m.group(2)), int(m.group(3)), p))
    files = sorted(compacted.values()) + [p for _, _, p in sorted(segments) if p.name not in skip]
    return files, problems


def _arrival_dtypes(dtype: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    # nullable epoch-ns columns must stay exact integers (float64 would round them); lists stay
    # Arrow lists so that `.list.len()` and `explode` are vectorised
    if dtype == pa.int64():
        return pd.Int64Dtype()
    if pa.types.is_list(dtype):
        return pd.ArrowDtype(dtype)
    return None


def _read_tables(
    files: Sequence[Path], schema: pa.Schema, columns: Sequence[str] | None
) -> tuple[pa.Table, list[str]]:
    names = list(columns) if columns is not None else schema.names
    wanted = pa.schema([schema.field(n) for n in names])
    if not files:
        return wanted.empty_table(), []
    try:  # all files at once: pyarrow reads them in parallel
        table = pq.read_table(
            [str(p) for p in files], columns=names, schema=wanted, page_checksum_verification=True
        )
        return table.unify_dictionaries(), []
    except (OSError, pa.ArrowException):
        pass  # one file at a time, to name the bad ones and keep the rest
    tables, problems = [], []
    for path in files:
        try:  # with the schema, a column an older run lacks reads as nulls
            table = pq.read_table(
                path, columns=names, schema=wanted, page_checksum_verification=True
            )
        except (OSError, pa.ArrowException) as exc:
            problems.append(unreadable(path, exc))
            continue
        tables.append(table.cast(wanted) if table.schema != wanted else table)
    if not tables:
        return wanted.empty_table(), problems
    return pa.concat_tables(tables).unify_dictionaries(), problems


class Run:
    """One results directory. Frames are read lazily; see the module docstring."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        records = path / RECORDS_DIR
        self.request_files, req_problems = _list_files(records, "requests")
        self.arrival_files, arr_problems = _list_files(records, "arrivals")
        reasons = req_problems + arr_problems
        if self.status == RunStatus.RUNNING:
            reasons.insert(
                0,
                "the manifest says the run is still running (it crashed or was "
                "killed): analyzing the records that were written",
            )
        elif manifest.get("records_complete") is False:
            reasons.append("the manifest says some workers' records are missing")
        if not self.request_files:
            reasons.append(f"no request records in {records}")
        self._reasons = reasons
        self._request_damage = list(req_problems)  # reasons naming damaged request files
        self._requests_read = 0  # rows the last load_requests returned

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def status(self) -> RunStatus:
        try:
            return RunStatus(self.manifest.get("status", "running"))
        except ValueError:
            return RunStatus.RUNNING

    @property
    def t0_ns(self) -> int:
        return int(self.manifest.get("t0_ns") or 0)

    @property
    def onsale_offset_s(self) -> float:
        return float(self.manifest.get("onsale_offset_s") or 0.0)

    @property
    def duration_s(self) -> float:
        return float(self.manifest.get("duration_s") or 0.0)

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The profile's phases from the manifest, in seconds after t0."""
        out = []
        for p in self.manifest.get("phases") or ():
            if isinstance(p, dict) and {"name", "start_s", "end_s"} <= p.keys():
                out.append(Phase(str(p["name"]), float(p["start_s"]), float(p["end_s"])))
        return tuple(out)

    @property
    def partial(self) -> bool:
        """True when the folder is truncated or half-written (see ``partial_reasons``)."""
        self._touch()
        return bool(self._reasons)

    @property
    def partial_reasons(self) -> tuple[str, ...]:
        self._touch()
        return tuple(self._reasons)

    def _touch(self) -> None:
        # unreadable segments are only discovered when read: read the cheap column once
        if "_checked_requests" not in self.__dict__:
            self.load_requests(["arrival_id"])
        if "_checked_arrivals" not in self.__dict__:
            self.load_arrivals(["arrival_id"])

    def require_requests(self) -> None:
        """Raise ``RecordsUnreadable`` (exit 3) when request files exist but none can be read,
        and ``RunInvalid`` (exit 3) when the run holds no request record at all."""
        self._touch()
        if self._requests_read > 0:
            return
        if self._request_damage:
            raise RecordsUnreadable(
                "no request record of this run can be read:\n  "
                + "\n  ".join(self._request_damage),
                hint="Restore the records from a copy of the run (or `loadkit results merge` "
                "the worker folders); a damaged file is never analyzed as data.",
            )
        raise RunInvalid(
            f"no request records in {self.path / RECORDS_DIR}: the run recorded nothing to analyze.",
            hint="It stopped before its first flush, or its records/ folder was emptied.",
        )

    def blame_lost_records(self, exc: LoadkitError) -> LoadkitError:
        """What to raise for ``exc``, a threshold naming a step the records lack: when request
        files of this run are damaged, the step may have been in them, so the run cannot be
        judged (``RecordsUnreadable``, exit 3) rather than the threshold being bad input."""
        if not self._request_damage:
            return exc
        return RecordsUnreadable(
            f"{exc}\nBut request records of this run are unreadable, and they may have held "
            "it:\n  " + "\n  ".join(self._request_damage),
            hint="Restore the records from a copy of the run; a damaged file is never "
            "analyzed as data.",
        )

    def _note(self, problems: list[str]) -> None:
        for p in problems:
            if p not in self._reasons:
                self._reasons.append(p)

    def load_requests(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Request records (``REQUEST_SCHEMA`` columns, or only ``columns``) as a DataFrame.

        A column older runs lack is filled from the column that stands in (``INTENT_FILL``)
        or with a constant (``CONSTANT_FILL``: ``hop`` 0); ``label`` stays null.
        """
        names = list(columns) if columns is not None else list(REQUEST_SCHEMA.names)
        extra = [f for c, f in INTENT_FILL.items() if c in names and f not in names]
        table, problems = _read_tables(self.request_files, REQUEST_SCHEMA, names + extra)
        self._note(problems)
        self._request_damage.extend(p for p in problems if p not in self._request_damage)
        self.__dict__["_checked_requests"] = True
        self._requests_read = table.num_rows
        for column, fill in INTENT_FILL.items():
            if column in names and table.column(column).null_count:
                i = table.schema.get_field_index(column)
                filled = pc.coalesce(table.column(column), table.column(fill))
                table = table.set_column(i, column, filled)
        for column, constant in CONSTANT_FILL.items():
            if column in names and table.column(column).null_count:
                i = table.schema.get_field_index(column)
                field = table.schema.field(i)
                filled = table.column(column).fill_null(pa.scalar(constant, field.type))
                table = table.set_column(i, field, filled)
        frame: pd.DataFrame = table.drop_columns(extra).to_pandas()
        return frame

    def load_arrivals(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Arrival records (``ARRIVAL_SCHEMA`` columns, or only ``columns``) as a DataFrame."""
        table, problems = _read_tables(self.arrival_files, ARRIVAL_SCHEMA, columns)
        self._note(problems)
        self.__dict__["_checked_arrivals"] = True
        frame: pd.DataFrame = table.to_pandas(types_mapper=_arrival_dtypes)
        return frame

    @cached_property
    def requests(self) -> pd.DataFrame:
        """Every request record, with ``t_s`` (intended start, seconds after t0) added."""
        df = self.load_requests()
        df["t_s"] = (df["intended_ns"] - self.t0_ns) / 1e9
        return df

    @cached_property
    def arrivals(self) -> pd.DataFrame:
        """Every arrival record, with ``t_s`` (scheduled start, seconds after t0) added."""
        df = self.load_arrivals()
        df["t_s"] = (df["scheduled_ns"] - self.t0_ns) / 1e9
        return df

    def windows(self, width_s: float = 1.0, by: str | None = "step") -> pd.DataFrame:
        """Per-window request stats by intended start (``loadkit.results.frames``); ``by`` is
        a request column (step, name, persona, method, ...), ``phase``, or None for all."""
        from loadkit.results.frames import phase_labels, request_windows

        requests = self.requests
        if by == "phase":
            phases = phase_labels(requests["t_s"].to_numpy(), self.phases)
            requests = requests.assign(phase=phases)
        return request_windows(requests, width_s=width_s, by=by)

    @cached_property
    def intents(self) -> pd.DataFrame:
        """One row per request intent (a request and its retries): ``response_ms`` from the
        first attempt's intended start to the final answer, ``attempts``, the final
        ``status``/``outcome`` (``loadkit.results.intents``); ``t_s`` by intended start."""
        from loadkit.results.intents import intents

        return intents(self.requests, self.t0_ns)

    def generator_windows(self, width_s: float = 1.0) -> pd.DataFrame:
        """Per-window generator health: offered/started rate, drops, lateness, in flight."""
        from loadkit.results.frames import generator_windows

        return generator_windows(self.arrivals, self.t0_ns, width_s=width_s)

    def funnel(self) -> pd.DataFrame:
        """arrived → joined → admitted → held → paid, with counts and conversion."""
        from loadkit.results.frames import funnel

        return funnel(self.arrivals)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status.value}, partial={self.partial})"


def open_run(path: str | Path) -> Run:
    """Open a results directory. Raises ``ResultsError`` (exit 2) when it cannot be read."""
    run_dir = Path(path)
    return Run(run_dir, _read_manifest(run_dir))


__all__ = ["Run", "open_run", "unreadable"]
