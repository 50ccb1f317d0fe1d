"""Frozen profile models: ``Phase``, ``Scale``, ``Profile``.

A profile is a pure function of elapsed seconds since profile time 0: no clock, no Locust.
Its rate ``λ(t)`` is the sum of its segments' rates; ``Λ(t)`` (the expected number of
arrivals in ``[0, t]``) is exact, computed from closed-form integrals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from loadkit.profiles.pieces import FloatArray, Piece, total_rate, total_rate_and_cumulative
from loadkit.profiles.segments import Segment, Trace

# Grid used to find the peak of λ between breakpoints (λ is smooth and monotone per piece
# between breakpoints, so a fine grid plus the breakpoints and their left limits finds it).
_PEAK_GRID_POINTS = 20_001

MAX_ARRIVALS = 100_000_000  # ~0.8 GB of offsets; beyond this a single process cannot hold it
MAX_DURATION_S = 366 * 86_400.0  # far inside int64 nanoseconds (292 years)


class ArrivalProcess(StrEnum):
    """How arrivals are drawn from λ(t)."""

    POISSON = "poisson"  # seeded non-homogeneous Poisson process
    UNIFORM = "uniform"  # deterministic: arrival k at the (k + 1/2)-th quantile of Λ


@dataclass(frozen=True)
class Phase:
    """A named stretch of the profile, ``[start_s, end_s)`` in seconds since profile time 0."""

    name: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Scale:
    """Shrinks a profile: times multiplied by ``time``, arrival counts by ``crowd``.

    Rates are therefore multiplied by ``crowd / time``. ``Scale()`` is full scale.
    """

    time: float = 1.0
    crowd: float = 1.0

    def __post_init__(self) -> None:
        if not (self.time > 0 and self.crowd > 0):
            raise ValueError("scale factors must be > 0")

    @property
    def is_identity(self) -> bool:
        return self.time == 1.0 and self.crowd == 1.0


@dataclass(frozen=True)
class Profile:
    """When the crowd arrives.

    Phases tile ``[0, duration_s]`` in order, without gaps or overlaps (the loader checks
    this), so every arrival belongs to exactly one phase. ``onsale_at_s`` is the on-sale
    second (``None`` for profiles without one, such as a plain ramp). Segments may overlap;
    their rates add up. ``scale`` records the factor already applied to the segments.
    """

    name: str
    duration_s: float
    onsale_at_s: float | None
    phases: tuple[Phase, ...]
    arrival_process: ArrivalProcess
    segments: tuple[Segment, ...]
    description: str = ""
    scale: Scale = field(default_factory=Scale)
    source: str | None = None
    sha256: str = ""
    _pieces: tuple[Piece, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s}")
        _check_phases_tile(self.phases, self.duration_s)
        pieces = tuple(p for seg in self.segments for p in seg.pieces())
        object.__setattr__(self, "_pieces", pieces)

    @property
    def pieces(self) -> tuple[Piece, ...]:
        """The rate pieces the segments expand into (their rates add up)."""
        return self._pieces

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)

    def phase(self, name: str) -> Phase:
        """The phase called ``name``; ``KeyError`` if there is none."""
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def rate_per_s(self, t_s: FloatArray | float) -> FloatArray:
        """λ(t): expected arrivals per second at each elapsed second ``t_s`` (vectorised)."""
        return total_rate(self._pieces, np.asarray(t_s, dtype=np.float64))

    def cumulative_arrivals(self, t_s: FloatArray | float) -> FloatArray:
        """Λ(t) = ∫_0^t λ: expected arrivals in ``[0, t]`` (vectorised, exact)."""
        return total_rate_and_cumulative(self._pieces, np.asarray(t_s, dtype=np.float64))[1]

    def expected_arrivals(self, a_s: float = 0.0, b_s: float | None = None) -> float:
        """Expected arrivals in ``[a_s, b_s]`` (default: the whole profile)."""
        b = self.duration_s if b_s is None else b_s
        cum = self.cumulative_arrivals(np.array([a_s, b], dtype=np.float64))
        return float(cum[1] - cum[0])

    def breakpoints_s(self) -> FloatArray:
        """Sorted times in ``[0, duration]`` where λ may jump or bend."""
        points = [0.0, self.duration_s]
        points += [b for p in self._pieces for b in p.breakpoints_s()]
        arr = np.unique(np.asarray(points, dtype=np.float64))
        return arr[(arr >= 0.0) & (arr <= self.duration_s)]

    def peak_rate(self, a_s: float = 0.0, b_s: float | None = None) -> tuple[float, float]:
        """``(peak λ in arrivals/s, when)`` over ``[a_s, b_s]``, counting the rate just before
        each jump and before ``b_s`` (the top of a ramp that ends there).
        """
        b = self.duration_s if b_s is None else b_s
        if b <= a_s:
            return 0.0, a_s
        bps = self.breakpoints_s()
        bps = np.unique(np.append(bps[(bps > a_s) & (bps <= b)], b))
        t = np.concatenate((np.linspace(a_s, b, _PEAK_GRID_POINTS), bps))
        t = t[(t >= a_s) & (t < b)]
        rates = self.rate_per_s(t)
        # Left limits at breakpoints catch a rate that ends there (a ramp's last value).
        left = np.zeros(bps.shape, dtype=np.float64)
        for piece in self._pieces:
            left += piece.rate_from_left(bps)
        if left.size and float(left.max()) > float(rates.max(initial=0.0)):
            i = int(np.argmax(left))
            return float(left[i]), float(bps[i])
        i = int(np.argmax(rates))
        return float(rates[i]), float(t[i])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for the run manifest): times in seconds, rates per second,
        already scaled. Trace segments list their source file and size, not every point.
        """
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.sha256,
            "description": self.description,
            "duration_s": self.duration_s,
            "onsale_at_s": self.onsale_at_s,
            "arrival_process": self.arrival_process.value,
            "scale": {"time": self.scale.time, "crowd": self.scale.crowd},
            "expected_arrivals": self.expected_arrivals(),
            "phases": [asdict(p) for p in self.phases],
            "segments": [_segment_dict(s) for s in self.segments],
        }

    def scaled(self, scale: Scale) -> Profile:
        """This profile shrunk (or grown) by ``scale``, on top of any scale already applied."""
        ts, cs = scale.time, scale.crowd
        return Profile(
            name=self.name,
            duration_s=self.duration_s * ts,
            onsale_at_s=None if self.onsale_at_s is None else self.onsale_at_s * ts,
            phases=tuple(Phase(p.name, p.start_s * ts, p.end_s * ts) for p in self.phases),
            arrival_process=self.arrival_process,
            segments=tuple(s.scaled(ts, cs) for s in self.segments),
            description=self.description,
            scale=Scale(self.scale.time * ts, self.scale.crowd * cs),
            source=self.source,
            sha256=self.sha256,
        )


def _check_phases_tile(phases: tuple[Phase, ...], duration_s: float) -> None:
    """Raise ``ValueError`` unless the phases cover ``[0, duration_s]`` in order, gap-free."""
    edge = 0.0
    for phase in phases:
        if abs(phase.start_s - edge) > 1e-9 * max(1.0, duration_s) or phase.end_s <= edge:
            raise ValueError(f"phases must tile [0, {duration_s:g}] in order; {phase} does not")
        edge = phase.end_s
    if not phases or abs(edge - duration_s) > 1e-9 * max(1.0, duration_s):
        raise ValueError(f"phases must tile [0, {duration_s:g}]; they end at {edge:g}")


def _segment_dict(segment: Segment) -> dict[str, Any]:
    if isinstance(segment, Trace):
        return {
            "kind": segment.kind,
            "source": segment.source,
            "mode": segment.mode,
            "start_s": segment.start_s,
            "end_s": segment.end_s,
            "points": len(segment.times_s),
        }
    return {"kind": segment.kind, **asdict(segment)}


__all__ = ["MAX_ARRIVALS", "MAX_DURATION_S", "ArrivalProcess", "Phase", "Profile", "Scale"]
