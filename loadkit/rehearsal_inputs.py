"""Load and check a rehearsal's inputs: what ``loadkit validate`` and ``loadkit plan`` do.

``load_inputs`` loads a scenario, its profile and every threshold in force and raises every
problem at once (exit 2); ``run`` and ``capacity`` start from it too. Re-exported by
``loadkit.rehearsal``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from loadkit.errors import InputError, ValidationErrors
from loadkit.gates import (
    Threshold,
    check_phase,
    check_selectors,
    load_thresholds_file,
    parse_threshold,
)
from loadkit.profiles import Profile, compile_schedule, format_plan, load_profile, plan
from loadkit.runner.run_settings import resolve_one
from loadkit.scenario import Scenario, load_scenario
from loadkit.scenario.names import defined_names

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Inputs:
    """A scenario, its profile and every threshold in force, all validated."""

    scenario: Scenario
    profile: Profile | None
    thresholds: tuple[Threshold, ...]


def load_inputs(
    scenario_path: Path, profile_path: Path | None, thresholds_path: Path | None
) -> Inputs:
    """Load and validate everything; every problem found is raised at once (exit 2)."""
    errors: list[InputError] = []

    def attempt(load: Callable[[T], R], arg: T) -> R | None:
        try:
            return load(arg)
        except InputError as exc:
            errors.extend(exc.errors if isinstance(exc, ValidationErrors) else [exc])
            return None

    scenario = attempt(load_scenario, scenario_path)
    profile = attempt(load_profile, profile_path) if profile_path else None
    specs = list(scenario.thresholds) if scenario is not None else []
    if thresholds_path is not None:
        specs.extend(attempt(load_thresholds_file, thresholds_path) or ())
    parsed = [attempt(lambda spec: parse_threshold(spec.text, spec.location), s) for s in specs]
    thresholds = tuple(t for t in parsed if t is not None)
    if scenario is not None and scenario.probes:  # probes obey the allow-list: refuse them now
        from loadkit.analysis import probe_problems

        errors.extend(probe_problems(scenario.probes, scenario.allow_hosts))
    defined = defined_names(scenario) if scenario is not None else {}
    for th in thresholds:
        attempt(lambda t: check_selectors(t, defined), th)
        if profile is not None:
            attempt(lambda t: check_phase(t, profile.phases), th)
    if errors or scenario is None:
        raise ValidationErrors(errors) if len(errors) > 1 else errors[0]
    return Inputs(scenario, profile, thresholds)


def validate_files(scenario: Path, profile: Path | None, thresholds: Path | None) -> str:
    """A one-paragraph summary of what was checked, or every problem found (exit 2)."""
    inputs = load_inputs(scenario, profile, thresholds)
    personas = ", ".join(f"{p.name} {p.weight:g}" for p in inputs.scenario.personas)
    parts = [f"{scenario}: ok ({len(inputs.scenario.personas)} personas: {personas})"]
    if inputs.profile is not None:
        parts.append(f"{profile}: ok ({inputs.profile.duration_s:g}s)")
    parts.append(f"{len(inputs.thresholds)} thresholds: ok")
    return "; ".join(parts)


def require_profile(profile: Path | None) -> Path:
    """The profile path; InputError (exit 2) saying how to pass one when it is missing."""
    if profile is None:
        raise InputError(
            "no profile given.",
            hint="Pass --profile PROFILE.yaml (when the crowd arrives), "
            "e.g. --profile profiles/spike-demo.yaml.",
        )
    return profile


def plan_text(scenario: Path, profile: Path | None, seed: int | None) -> str:
    """The expected arrivals per phase, peak rate, total and visitors in flight."""
    inputs = load_inputs(scenario, require_profile(profile), None)
    assert inputs.profile is not None
    # the seed from the same sources as ``run`` (flag > LOADKIT_SEED > default)
    schedule = compile_schedule(inputs.profile, int(resolve_one("seed", seed).value))
    journey_s = inputs.scenario.expected_journey_s() or None  # no think time: no estimate
    planned = plan(inputs.profile, schedule, journey_s)
    text = format_plan(planned)
    if journey_s is not None:
        text += (
            "\n(the journey length counts the scenario's think times only: time spent queueing"
            " and waiting on slow responses adds visitors in flight)"
        )
    from loadkit.runner.generator_faults import hard_open_files_limit, open_files_warning

    in_flight = max(planned.peak_in_flight or 0.0, planned.peak_in_flight_window or 0.0)
    fds = open_files_warning(in_flight or None, hard_open_files_limit())
    if fds is not None:
        text += "\n" + fds
    from loadkit.capacity.workers import plan_workers

    return text + "\n" + plan_workers(inputs.scenario, inputs.profile.peak_rate()[0]).text()


__all__ = ["Inputs", "load_inputs", "plan_text", "require_profile", "validate_files"]
