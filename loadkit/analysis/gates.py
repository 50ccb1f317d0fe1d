"""The analyzer's side of the gate engine (``loadkit.gates``): which evaluator judges each
kind of gate, and what the run's scenario tells about its gates.

The scenario a run was made from (the manifest's ``scenario.path``, when that file still has
the recorded sha256) says which steps, request names, methods and personas exist — a selector
naming none of them is bad input (exit 2), as it is at ``validate`` — and where each of its
thresholds was written, so every gate reports its own file:line:col.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loadkit.analysis.invariants import evaluate_invariant
from loadkit.analysis.regression import regression_gate
from loadkit.errors import LoadkitError
from loadkit.gates import (
    GateResult,
    Records,
    Threshold,
    ThresholdSpec,
    check_selectors,
    evaluate_threshold,
    load_thresholds_file,
)
from loadkit.scenario import load_scenario
from loadkit.scenario.names import defined_names


def evaluate_gates(
    thresholds: Sequence[Threshold], records: Records, t0_ns: int, baseline: Records | None = None
) -> tuple[GateResult, ...]:
    """Judge every threshold. Raises ``InputError`` for a phase the run does not have."""
    out = []
    for th in thresholds:
        if th.invariant is not None:
            out.append(
                evaluate_invariant(
                    th, records.requests, records.arrivals, records.onsale_offset_s, t0_ns
                )
            )
        elif th.regression:
            out.append(regression_gate(th, records, baseline))
        else:
            out.append(evaluate_threshold(th, records))
    return tuple(out)


@dataclass(frozen=True)
class ScenarioFacts:
    """What the run's scenario file says about gates (see the module docstring)."""

    defined: Mapping[str, frozenset[str]]
    specs: tuple[ThresholdSpec, ...]


def _unchanged_file(entry: object) -> Path | None:
    """The path of a manifest's ``{path, sha256}`` entry when that file is still as it was."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
        return None
    path = Path(entry["path"])
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None
    return path if digest is not None and digest == entry.get("sha256") else None


def scenario_facts(manifest: Mapping[str, Any]) -> ScenarioFacts | None:
    """The facts of the manifest's scenario, or None when the file is gone, changed since
    the run (another sha256) or no longer loads. The specs include those of the run's
    ``--thresholds`` file when it is unchanged too, so its gates keep their lines."""
    path = _unchanged_file(manifest.get("scenario"))
    if path is None:
        return None
    try:
        scenario = load_scenario(path)
    except LoadkitError:  # the file no longer loads: judge without it
        return None
    return ScenarioFacts(defined_names(scenario), scenario.thresholds + _file_specs(manifest))


def _file_specs(manifest: Mapping[str, Any]) -> tuple[ThresholdSpec, ...]:
    path = _unchanged_file(manifest.get("thresholds_file"))
    if path is None:
        return ()
    try:
        return load_thresholds_file(path)
    except LoadkitError:
        return ()


def with_scenario(thresholds: Sequence[Threshold], facts: ScenarioFacts | None) -> list[Threshold]:
    """``thresholds`` located at their scenario line when they came from the manifest (no
    line of their own), after checking every selector against the scenario's names.
    Raises ``InputError`` (exit 2) for a selector the scenario does not define."""
    if facts is None:
        return list(thresholds)
    where = {spec.text.strip(): spec.location for spec in facts.specs}
    out = []
    for th in thresholds:
        if (th.location is None or th.location.line is None) and where.get(th.text):
            th = replace(th, location=where[th.text])
        check_selectors(th, facts.defined)
        out.append(th)
    return out


__all__ = [
    "ScenarioFacts",
    "evaluate_gates",
    "regression_gate",
    "scenario_facts",
    "with_scenario",
]
