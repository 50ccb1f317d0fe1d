"""Hand-written personas standing in for compiled scenarios (the engine only needs .name/.run)."""

from __future__ import annotations

from dataclasses import dataclass

from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.runner.journey import JourneyEnd
from loadkit.runner.visitor import Visitor


def _outcome_of(status: int, error_kind: str | None) -> Outcome:
    if error_kind is not None:
        return Outcome(error_kind)
    return Outcome.OK if status < 400 else Outcome.HTTP_ERROR


@dataclass(frozen=True)
class GetLoop:
    """GET one path ``repeat`` times on one keep-alive connection, recording each request."""

    name: str = "looper"
    path: str = "/"
    repeat: int = 1
    think_s: float = 0.0

    def run(self, visitor: Visitor) -> JourneyEnd:
        for _ in range(self.repeat):
            result = visitor.http("GET", self.path, name=self.path, step="get")
            visitor.record(result, _outcome_of(result.status, result.error_kind))
            if self.think_s:
                visitor.sleep(self.think_s)
        return JourneyEnd(ArrivalOutcome.COMPLETED, None, "get")


@dataclass(frozen=True)
class Sleeper:
    """Holds its visitor for ``seconds`` (fills the in-flight cap), no requests."""

    name: str = "sleeper"
    seconds: float = 1.0

    def run(self, visitor: Visitor) -> JourneyEnd:
        visitor.sleep(self.seconds)
        return JourneyEnd(ArrivalOutcome.COMPLETED, None, "sleep")
