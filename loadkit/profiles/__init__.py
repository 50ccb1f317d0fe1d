"""Arrival profiles: *when* the crowd arrives, as pure functions of elapsed seconds.

A profile file (YAML, see docs/profiles.md) places segments — constant, ramp, steps, spike,
trace replay, the reference on-sale curve — on a timeline cut into named phases. It compiles,
for a seed, into a deterministic schedule of arrival offsets (open model) that workers shard
by arrival id.

    profile = load_profile("profiles/spike-demo.yaml")
    schedule = compile_schedule(profile, seed=42)
    ids, offsets_ns = schedule.for_shards([0, 3], total_shards=8)
    print(format_plan(plan(profile, schedule, mean_journey_s=60)))
"""

from loadkit.profiles.loader import DEFAULT_PHASE, load_profile, load_profile_text, parse_scale
from loadkit.profiles.model import (
    MAX_ARRIVALS,
    MAX_DURATION_S,
    ArrivalProcess,
    Phase,
    Profile,
    Scale,
)
from loadkit.profiles.plan import PhasePlan, Plan, format_plan, plan
from loadkit.profiles.schedule import NS_PER_S, Schedule, compile_schedule
from loadkit.profiles.segments import (
    Constant,
    OnsaleReference,
    Ramp,
    Segment,
    Spike,
    Steps,
    Trace,
)

__all__ = [
    "DEFAULT_PHASE",
    "MAX_ARRIVALS",
    "MAX_DURATION_S",
    "NS_PER_S",
    "ArrivalProcess",
    "Constant",
    "OnsaleReference",
    "Phase",
    "PhasePlan",
    "Plan",
    "Profile",
    "Ramp",
    "Scale",
    "Schedule",
    "Segment",
    "Spike",
    "Steps",
    "Trace",
    "compile_schedule",
    "format_plan",
    "load_profile",
    "load_profile_text",
    "parse_scale",
    "plan",
]
