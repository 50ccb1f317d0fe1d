"""The scenario model: frozen dataclasses the loader builds and the runner compiles.

This module holds the scenario around the journeys (settings, personas, feeders, probes,
reset, funnel); the steps of a journey are ``step_models``, re-exported here.

Only the loader sees raw YAML. Expressions, templates, JSONPaths and regexes in these models are
already compiled (see ``expr``, ``templates``, ``jsonpath``); the runner composes them into one
closure per step (``loadkit.runner.journey.compile_scenario``). Times are seconds (``_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loadkit.errors import Location
from loadkit.gates.model import ThresholdSpec
from loadkit.results.schema import ArrivalOutcome
from loadkit.scenario.patterns import DEFAULT_REGEX_TIMEOUT_S
from loadkit.scenario.step_models import (
    HTML_SOURCES,
    Backoff,
    BodyCheck,
    Branch,
    Capture,
    CaptureSource,
    ChoiceStep,
    ClearCookiesStep,
    Expect,
    Fact,
    FeedStep,
    HazardStage,
    IfStep,
    Interval,
    JsonCheck,
    LeaveStep,
    OnError,
    PollStep,
    RecordStep,
    RepeatStep,
    RequestSpec,
    RequestStep,
    RetryStep,
    SetStep,
    Step,
    StepBase,
    ThinkKind,
    ThinkSpec,
    ThinkStep,
)
from loadkit.scenario.templates import Template

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ScenarioSettings:
    """Run settings a scenario may carry; ``None`` = use the runner's default."""

    max_in_flight: int | None = None
    shards: int | None = None
    request_timeout_s: float | None = None  # each request, sent → last byte (connect included)
    time_scale: float = 1.0  # multiplies every think time and fixed poll interval
    connect_timeout_s: float | None = None  # opening a connection (TCP, TLS)
    follow_redirects: bool = True  # requests follow 3xx like a browser (a request may say no)
    regex_timeout_s: float = DEFAULT_REGEX_TIMEOUT_S  # one regex search, then the request fails
    # where each timeout setting was written, for checks made once the run's length is known
    timeout_locations: tuple[tuple[str, Location], ...] = field(default=(), compare=False)


class FeederMode(StrEnum):
    UNIQUE = "unique"  # each row at most once across the whole run (shard-partitioned)
    SEQUENTIAL = "sequential"  # in order per worker process, exhausted at the end
    RANDOM = "random"  # any row, drawn with the visitor's rng
    CYCLIC = "cyclic"  # in order per worker process, wrapping around


@dataclass(frozen=True)
class Feeder:
    name: str
    path: str  # resolved against the scenario file's folder
    mode: FeederMode
    columns: tuple[str, ...]  # the columns the file has (header row)
    location: Location
    on_exhausted: ArrivalOutcome = ArrivalOutcome.FAILED


@dataclass(frozen=True)
class Persona:
    name: str
    weight: float
    steps: tuple[Step, ...]
    location: Location | None = None


@dataclass(frozen=True)
class ProbeSpec:
    """A check the analyzer runs against the target after the run (``loadkit.analysis.probes``):
    ``raw`` is ``{name, path | url, headers, expect, timeout}`` as written, already validated."""

    name: str
    raw: dict[str, Any]
    location: Location | None


@dataclass(frozen=True)
class ResetSpec:
    """The request that puts the target back to a fresh state between capacity probes
    (``reset:``): ``method`` (POST by default), ``url`` (a path joined to the target, or an
    absolute URL on the allow-list), ``headers`` (values may read ``${VAR}``), ``body``
    (text; a mapping is sent as JSON), ``timeout_s``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    timeout_s: float = 10.0
    location: Location | None = None


@dataclass(frozen=True)
class FunnelStage:
    """A ``funnel:`` stage: visitors with an ok answer at ``step``, or whose arrival record
    has fact ``record`` (exactly one of the two is set)."""

    name: str
    step: str | None = None
    record: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    sha256: str
    host: str | None
    allow_hosts: tuple[str, ...]
    personas: tuple[Persona, ...]
    thresholds: tuple[ThresholdSpec, ...] = ()
    probes: tuple[ProbeSpec, ...] = ()
    reset: ResetSpec | None = None
    settings: ScenarioSettings = field(default_factory=ScenarioSettings)
    variables: tuple[tuple[str, Template], ...] = ()
    env: tuple[tuple[str, str | None], ...] = ()  # name → default (None = required)
    feeders: tuple[Feeder, ...] = ()
    description: str = ""
    funnel: tuple[FunnelStage, ...] = ()  # () = a funnel of outcomes (see analysis.journeys)

    def persona(self, name: str) -> Persona:
        """The persona called ``name``; ``KeyError`` if there is none."""
        for p in self.personas:
            if p.name == name:
                return p
        raise KeyError(name)

    def expected_journey_s(self) -> float | None:
        """A rough mean journey length (think times only, weighted by persona)."""
        from loadkit.scenario.summary import mean_think_s

        total = sum(p.weight for p in self.personas)
        if total <= 0:
            return None
        return sum(p.weight * mean_think_s(p.steps) for p in self.personas) / total


__all__ = [
    "HTML_SOURCES",
    "LOOPBACK_HOSTS",
    "Backoff",
    "BodyCheck",
    "Branch",
    "Capture",
    "CaptureSource",
    "ChoiceStep",
    "ClearCookiesStep",
    "Expect",
    "Fact",
    "FeedStep",
    "Feeder",
    "FeederMode",
    "FunnelStage",
    "HazardStage",
    "IfStep",
    "Interval",
    "JsonCheck",
    "LeaveStep",
    "OnError",
    "Persona",
    "PollStep",
    "ProbeSpec",
    "RecordStep",
    "RepeatStep",
    "RequestSpec",
    "RequestStep",
    "RetryStep",
    "Scenario",
    "ScenarioSettings",
    "SetStep",
    "Step",
    "StepBase",
    "ThinkKind",
    "ThinkSpec",
    "ThinkStep",
    "ThresholdSpec",
]
