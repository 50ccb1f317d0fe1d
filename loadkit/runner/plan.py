"""From a RunSpec to a Plan: load the scenario and profile, check the target, compile both."""

from __future__ import annotations

from typing import Any

from loadkit.profiles import compile_schedule, load_profile
from loadkit.runner.core import Arrivals
from loadkit.runner.journey import compile_scenario
from loadkit.runner.manifest import to_jsonable
from loadkit.runner.session import Plan
from loadkit.runner.spec import RunMode, RunSpec, check_target
from loadkit.scenario import load_scenario


def load_plan(spec: RunSpec) -> Plan:
    """Everything a local run needs. Raises InputError/ValidationErrors for bad files and
    TargetError for a host not on the scenario's allow-list (exit 2, nothing is sent)."""
    if spec.mode is not RunMode.LOCAL:
        from loadkit.errors import InputError

        raise InputError(f"mode {spec.mode.value!r} is not supported by this runner yet")
    scenario = load_scenario(spec.scenario_path)
    target_url = check_target(spec.host, scenario.allow_hosts)
    profile = load_profile(spec.profile_path)
    schedule = compile_schedule(profile, spec.seed)
    compiled = compile_scenario(
        scenario, seed=spec.seed, shards=spec.shards, request_timeout_s=spec.request_timeout_s
    )
    ids, offsets_ns = schedule.for_shards(range(spec.shards), spec.shards)
    persona_index = compiled.persona_for(len(schedule), ids)
    arrivals = Arrivals(ids=ids, offsets_ns=offsets_ns, persona_index=persona_index)
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
        personas=compiled.personas,
        target_url=target_url,
        phases=phases,
        run_info=to_jsonable(run_info),
    )


__all__ = ["load_plan"]
