"""The engine's plain inputs and outputs: the schedule share, options, result, and the
protocols personas and live-threshold guards meet (no gevent here besides ``Visitor``'s type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from loadkit.results.schema import ArrivalOutcome, RunStatus
from loadkit.runner import defaults
from loadkit.runner.visitor import Visitor


class GuardLike(Protocol):
    """Live thresholds (``loadkit.runner.guard.ThresholdGuard``): ``check`` runs once a tick
    and returns the text of a threshold that tripped its ``abort after``, or None."""

    def check(self, now_s: float) -> str | None: ...


def threshold_stop_reason(text: str) -> str:
    """The run's ``stop_reason`` when the threshold ``text`` stopped it."""
    return f'threshold "{text}" breached: aborted to protect the target'


class JourneyEndLike(Protocol):
    @property
    def outcome(self) -> ArrivalOutcome: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def last_step(self) -> str: ...


class PersonaLike(Protocol):
    """What the engine needs of a compiled persona."""

    @property
    def name(self) -> str: ...

    def run(self, visitor: Visitor) -> JourneyEndLike: ...


@dataclass(frozen=True)
class Arrivals:
    """This worker's share of the schedule: global ids, offsets from t0 (sorted), personas."""

    ids: npt.NDArray[np.int64]
    offsets_ns: npt.NDArray[np.int64]
    persona_index: npt.NDArray[np.integer[Any]]

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.offsets_ns) == len(self.persona_index):
            raise ValueError("ids, offsets_ns and persona_index must have the same length")
        if len(self.offsets_ns) > 1 and bool(np.any(np.diff(self.offsets_ns) < 0)):
            raise ValueError("offsets_ns must be sorted")

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class EngineOptions:
    worker_id: int = 0
    shards: int = defaults.DEFAULT_SHARDS
    seed: int = 0
    max_in_flight: int = defaults.DEFAULT_MAX_IN_FLIGHT
    progress_interval_s: float = defaults.DEFAULT_PROGRESS_INTERVAL_S
    duration_limit_s: float | None = None  # from t0; None: run until every journey ended
    # Journeys still going this long after the profile's end (from t0: duration + drain) are
    # cut: a rehearsal ends on time even if the waiting room still holds people.
    drain_deadline_s: float | None = None
    kill_timeout_s: float = 1.5  # how long killed visitors get to record their end
    # start arrivals from a timerfd (Linux; ~0.1 ms late) rather than libev's ~1 ms grid
    precise_timer: bool = True


@dataclass(frozen=True)
class EngineResult:
    status: RunStatus
    stop_reason: str | None
    scheduled: int  # arrivals that came due: started + dropped
    started: int
    dropped: int
    requests: int
    errors: int
    lateness_p99_ms: float | None
    lateness_max_ms: float | None
    aborted_by_threshold: str | None = None  # the text of the abort threshold that tripped
    cpu_percent_max: float | None = None  # this process's CPU per 1 s sample (100 = 1 core)
    cpu_percent_p95: float | None = None
    start_timer: str | None = None  # "timerfd" or "libev" (loadkit.runner.start_timer)
    open_files_limit: int | None = None  # the soft RLIMIT_NOFILE the run had (None: unknown)


__all__ = [
    "Arrivals",
    "EngineOptions",
    "EngineResult",
    "GuardLike",
    "JourneyEndLike",
    "PersonaLike",
    "threshold_stop_reason",
]
