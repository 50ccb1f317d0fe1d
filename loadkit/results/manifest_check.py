"""Type checks for the ``manifest.json`` keys the analyzer reads, so a damaged manifest is a
clear ``ResultsError`` (exit 2) naming the key, never a traceback deep in the analysis.

Only the keys below are checked; unknown keys are ignored (``schema.MANIFEST_KEYS``: readers
must accept them). Every key is optional: a missing key gets the reader's default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadkit.errors import ResultsError


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _is_phase(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and _is_str(v.get("name"))
        and _is_number(v.get("start_s"))
        and _is_number(v.get("end_s"))
    )


# key → (check, what it must be); a null is accepted where the runner writes one
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "run_id": (_optional(_is_str), "a string"),
    "status": (_is_str, "a string (running, completed, aborted or failed)"),
    "t0_ns": (_is_int, "an integer (epoch nanoseconds)"),
    "onsale_offset_s": (_optional(_is_number), "a number of seconds"),
    "duration_s": (_optional(_is_number), "a number of seconds"),
    "phases": (_optional(_list_of(_is_phase)), "a list of {name, start_s, end_s}"),
    "thresholds": (_optional(_list_of(_is_str)), "a list of threshold strings"),
    "thresholds_file": (_optional(lambda v: isinstance(v, dict)), "an object {path, sha256}"),
    "workers": (_optional(_list_of(lambda w: isinstance(w, dict))), "a list of objects"),
    "versions": (_optional(lambda v: isinstance(v, dict)), "an object"),
    "scenario": (_optional(lambda v: isinstance(v, dict)), "an object"),
    "target": (_optional(_is_str), "a string"),
    "stop_reason": (_optional(_is_str), "a string or null"),
    "aborted_by_threshold": (_optional(_is_str), "a string or null"),
    "records_complete": (_optional(lambda v: isinstance(v, bool)), "true or false"),
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_manifest_types(path: Path, data: dict[str, Any]) -> None:
    """Raise ``ResultsError`` (exit 2) for the first read key whose value has the wrong type."""
    for key, (ok, expected) in _CHECKS.items():
        if key in data and not ok(data[key]):
            raise ResultsError(
                f"{path}: key '{key}' must be {expected}, not {_shown(data[key])}: "
                "the manifest is damaged.",
                hint="Restore manifest.json from a copy of the run, or fix that value by hand.",
            )


__all__ = ["check_manifest_types"]
