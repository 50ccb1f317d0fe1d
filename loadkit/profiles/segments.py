"""Segments: the building blocks a profile file places on its timeline.

Each segment is a frozen description (what the user wrote, in seconds and arrivals per second,
relative to profile time 0) that expands into rate pieces (``loadkit.profiles.pieces``).
Segments that overlap in time *add up*: a constant baseline under a spike gives their sum.

``scaled(time, crowd)`` multiplies every time by ``time`` and every arrival count by ``crowd``
(rates by ``crowd / time``): how the reference on-sale becomes a laptop rehearsal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from loadkit.profiles.pieces import ExpPiece, LinearPieces, Piece


@dataclass(frozen=True)
class Constant:
    """``rate_per_s`` arrivals per second from ``start_s`` to ``end_s``."""

    start_s: float
    end_s: float
    rate_per_s: float
    kind: ClassVar[str] = "constant"

    def pieces(self) -> tuple[Piece, ...]:
        return (LinearPieces((self.start_s, self.end_s), (self.rate_per_s,), (self.rate_per_s,)),)

    def scaled(self, time: float, crowd: float) -> Constant:
        return Constant(self.start_s * time, self.end_s * time, self.rate_per_s * crowd / time)


@dataclass(frozen=True)
class Ramp:
    """A rate moving linearly from ``from_rate_per_s`` to ``to_rate_per_s`` over the segment."""

    start_s: float
    end_s: float
    from_rate_per_s: float
    to_rate_per_s: float
    kind: ClassVar[str] = "ramp"

    def pieces(self) -> tuple[Piece, ...]:
        return (
            LinearPieces(
                (self.start_s, self.end_s), (self.from_rate_per_s,), (self.to_rate_per_s,)
            ),
        )

    def scaled(self, time: float, crowd: float) -> Ramp:
        factor = crowd / time
        return Ramp(
            self.start_s * time,
            self.end_s * time,
            self.from_rate_per_s * factor,
            self.to_rate_per_s * factor,
        )


@dataclass(frozen=True)
class Steps:
    """Rates held for ``every_s`` seconds each, one after the other, from ``start_s``."""

    start_s: float
    every_s: float
    rates_per_s: tuple[float, ...]
    kind: ClassVar[str] = "steps"

    @property
    def end_s(self) -> float:
        return self.start_s + self.every_s * len(self.rates_per_s)

    def pieces(self) -> tuple[Piece, ...]:
        knots = tuple(self.start_s + i * self.every_s for i in range(len(self.rates_per_s) + 1))
        return (LinearPieces(knots, self.rates_per_s, self.rates_per_s),)

    def scaled(self, time: float, crowd: float) -> Steps:
        factor = crowd / time
        return Steps(
            self.start_s * time, self.every_s * time, tuple(r * factor for r in self.rates_per_s)
        )


@dataclass(frozen=True)
class Spike:
    """The on-sale wall: ``baseline`` from ``start_s`` (the on-sale second) to ``end_s``, plus an
    excess that rises linearly to ``peak`` over ``rise_s`` and then decays exponentially with
    time constant ``decay_s`` (after ``decay_s`` the excess is 37% of its peak).
    """

    start_s: float
    end_s: float
    baseline_per_s: float
    peak_per_s: float
    rise_s: float
    decay_s: float
    kind: ClassVar[str] = "spike"

    @property
    def peak_at_s(self) -> float:
        return min(self.start_s + self.rise_s, self.end_s)

    def __post_init__(self) -> None:
        if self.peak_per_s < self.baseline_per_s:
            raise ValueError("a spike's peak must be at least its baseline")
        if self.decay_s <= 0 or self.rise_s < 0:
            raise ValueError("a spike needs decay > 0 and rise >= 0")

    def pieces(self) -> tuple[Piece, ...]:
        b, p = self.baseline_per_s, self.peak_per_s
        top = self.peak_at_s
        out: list[Piece] = []
        if top > self.start_s:
            out.append(LinearPieces((self.start_s, top), (b,), (p,)))
        if self.end_s > top:
            out.append(LinearPieces((top, self.end_s), (b,), (b,)))
            out.append(ExpPiece(top, self.end_s, p - b, -1.0 / self.decay_s))
        return tuple(out)

    def scaled(self, time: float, crowd: float) -> Spike:
        factor = crowd / time
        return Spike(
            self.start_s * time,
            self.end_s * time,
            self.baseline_per_s * factor,
            self.peak_per_s * factor,
            self.rise_s * time,
            self.decay_s * time,
        )


@dataclass(frozen=True)
class Trace:
    """A replayed arrival curve: ``rate_per_s`` points joined linearly (``mode='rate'``) or
    per-bin counts spread evenly over each bin (``mode='count'``). Times are already shifted
    so the first point sits at the segment's start (``times_s[0]``).
    """

    source: str
    times_s: tuple[float, ...]  # n+1 knots
    start_rates_per_s: tuple[float, ...]  # n
    end_rates_per_s: tuple[float, ...]  # n
    mode: str = "rate"
    sha256: str = ""  # of the CSV text
    kind: ClassVar[str] = "trace"

    @property
    def start_s(self) -> float:
        return self.times_s[0]

    @property
    def end_s(self) -> float:
        return self.times_s[-1]

    def pieces(self) -> tuple[Piece, ...]:
        return (LinearPieces(self.times_s, self.start_rates_per_s, self.end_rates_per_s),)

    def scaled(self, time: float, crowd: float) -> Trace:
        factor = crowd / time
        return Trace(
            self.source,
            tuple(t * time for t in self.times_s),
            tuple(r * factor for r in self.start_rates_per_s),
            tuple(r * factor for r in self.end_rates_per_s),
            self.mode,
            self.sha256,
        )


@dataclass(frozen=True)
class OnsaleReference:
    """The reference on-sale crowd (DOMAIN.md §3) around the on-sale second ``onsale_s``.

    ``prequeue_share`` of ``visitors`` arrive in the ``prequeue_s`` before it with a density
    rising like ``exp((t - onsale) / build_up_s)``; ``rush_share`` arrive uniformly in the
    ``rush_s`` after it; ``tail_share`` arrive in the following ``tail_s`` with a density
    decaying like ``exp(-x / tail_decay_s)``. Shares are normalised to sum to 1.
    """

    onsale_s: float
    visitors: float
    prequeue_s: float = 1800.0
    build_up_s: float = 480.0
    rush_s: float = 120.0
    tail_s: float = 1800.0
    tail_decay_s: float = 600.0
    prequeue_share: float = 0.70
    rush_share: float = 0.15
    tail_share: float = 0.15
    kind: ClassVar[str] = "onsale-reference"

    @property
    def start_s(self) -> float:
        return self.onsale_s - self.prequeue_s

    @property
    def end_s(self) -> float:
        return self.onsale_s + self.rush_s + self.tail_s

    def pieces(self) -> tuple[Piece, ...]:
        total_share = self.prequeue_share + self.rush_share + self.tail_share
        n = self.visitors / total_share
        out: list[Piece] = []
        if self.start_s < self.onsale_s and self.prequeue_share > 0:
            k = 1.0 / self.build_up_s
            mass = -math.expm1(-k * self.prequeue_s) / k  # ∫ e^{k(t-onsale)} over the window
            at_start = n * self.prequeue_share / mass * math.exp(-k * self.prequeue_s)
            out.append(ExpPiece(self.start_s, self.onsale_s, at_start, k))
        rush_end = self.onsale_s + self.rush_s
        if rush_end > self.onsale_s and self.rush_share > 0:
            rate = n * self.rush_share / self.rush_s
            out.append(LinearPieces((self.onsale_s, rush_end), (rate,), (rate,)))
        if self.end_s > rush_end and self.tail_share > 0:
            k = -1.0 / self.tail_decay_s
            mass = math.expm1(k * self.tail_s) / k
            out.append(ExpPiece(rush_end, self.end_s, n * self.tail_share / mass, k))
        return tuple(out)

    def scaled(self, time: float, crowd: float) -> OnsaleReference:
        return OnsaleReference(
            onsale_s=self.onsale_s * time,
            visitors=self.visitors * crowd,
            prequeue_s=self.prequeue_s * time,
            build_up_s=self.build_up_s * time,
            rush_s=self.rush_s * time,
            tail_s=self.tail_s * time,
            tail_decay_s=self.tail_decay_s * time,
            prequeue_share=self.prequeue_share,
            rush_share=self.rush_share,
            tail_share=self.tail_share,
        )


Segment = Constant | Ramp | Steps | Spike | Trace | OnsaleReference

__all__ = ["Constant", "OnsaleReference", "Ramp", "Segment", "Spike", "Steps", "Trace"]
