"""From a RunSpec to a Plan: load the scenario and profile, check the target, compile both.

One function (``build_plan``) for a local run (every shard) and a distributed worker (the
shards its master handed it), so both run exactly the same crowd the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadkit.profiles import compile_schedule, load_profile
from loadkit.results.schema import ArrivalOutcome
from loadkit.runner.core import Arrivals
from loadkit.runner.journey import compile_scenario
from loadkit.runner.manifest import to_jsonable
from loadkit.runner.session import Plan
from loadkit.runner.spec import RunMode, RunSpec, check_target
from loadkit.scenario import load_scenario

DRY_RUN_REASON = "dry_run"


@dataclass(frozen=True)
class _DryEnd:
    outcome: ArrivalOutcome
    reason: str | None
    last_step: str


@dataclass(frozen=True)
class DryPersona:
    """A persona that sends nothing: rehearses wiring, schedule and clocks without load."""

    name: str

    def run(self, visitor: Any) -> _DryEnd:
        return _DryEnd(ArrivalOutcome.COMPLETED, DRY_RUN_REASON, "")


def load_plan(spec: RunSpec) -> Plan:
    """Everything a local run needs (every shard). Raises InputError/ValidationErrors for bad
    files and TargetError for a host not on the scenario's allow-list (exit 2, nothing sent)."""
    if spec.mode is not RunMode.LOCAL:
        from loadkit.errors import InputError

        raise InputError(f"mode {spec.mode.value!r} is not supported by this runner yet")
    return build_plan(spec, range(spec.shards))


def build_plan(spec: RunSpec, shards: Sequence[int], *, dry_run: bool = False) -> Plan:
    """The plan of ``shards`` (of ``spec.shards``) of the spec's scenario and profile.

    The target is checked against the scenario's allow-list here, by every process that will
    send load. ``dry_run``: personas that send nothing. Raises InputError/TargetError.
    """
    scenario = load_scenario(spec.scenario_path)
    target_url = check_target(spec.host, scenario.allow_hosts)
    profile = load_profile(spec.profile_path)
    schedule = compile_schedule(profile, spec.seed)
    compiled = compile_scenario(
        scenario, seed=spec.seed, shards=spec.shards, request_timeout_s=spec.request_timeout_s
    )
    ids, offsets_ns = schedule.for_shards(shards, spec.shards)
    persona_index = compiled.persona_for(len(schedule), ids)
    arrivals = Arrivals(ids=ids, offsets_ns=offsets_ns, persona_index=persona_index)
    personas: tuple[Any, ...] = tuple(compiled.personas)
    if dry_run:
        personas = tuple(DryPersona(p.name) for p in compiled.personas)
    phases = tuple(profile.phases)
    run_info: dict[str, Any] = {
        "scenario": {"name": scenario.name, "sha256": scenario.sha256, "resolved": scenario},
        "profile": {"name": profile.name, "resolved": profile},
        "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s} for p in phases],
        "planned": {"arrivals": len(schedule), "worker_arrivals": len(arrivals)},
        "onsale_offset_s": getattr(profile, "onsale_at_s", None),
        "duration_s": profile.duration_s,
    }
    return Plan(
        arrivals=arrivals,
        personas=personas,
        target_url=target_url,
        phases=phases,
        run_info=to_jsonable(run_info),
    )


__all__ = ["DRY_RUN_REASON", "DryPersona", "build_plan", "load_plan"]
