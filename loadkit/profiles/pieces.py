"""The arithmetic under every profile: two kinds of rate pieces with closed-form integrals.

A *piece* is a rate function of elapsed seconds that is zero outside ``[start_s, end_s)``:

* ``LinearPieces``: a run of intervals, each with a rate moving linearly from ``a`` to ``b``
  (constant, ramp, steps and trace replay are all this);
* ``ExpPiece``: ``rate0 * exp(k * (t - start_s))`` (the spike's decay, the on-sale build-up
  and tail).

Each piece gives its rate and its integral from ``start_s`` to ``t`` for a whole numpy array at
once, so a profile (a sum of pieces) has an exact, vectorised integrated rate ``Λ(t)`` that the
schedule compiler inverts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class Piece(Protocol):
    """A non-negative rate function, zero outside ``[start_s, end_s)``."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    def evaluate(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return ``(rate_per_s(t), ∫_start^min(max(t,start),end) rate)`` for every t."""
        ...

    def rate_from_left(self, t_s: FloatArray) -> FloatArray:
        """``lim λ(u)`` as ``u`` rises to ``t``: the rate just before a jump (0 outside
        ``(start_s, end_s]``). Peaks that end a piece, like a ramp's top, are found this way.
        """
        ...

    def breakpoints_s(self) -> tuple[float, ...]:
        """Times where the rate may jump or bend; between them it is smooth and monotone."""
        ...

    def scaled(self, time: float, crowd: float) -> Piece:
        """The piece with time multiplied by ``time`` and arrival counts by ``crowd``."""
        ...


@dataclass(frozen=True)
class LinearPieces:
    """Intervals ``[knots[i], knots[i+1])`` with a rate linear from ``a[i]`` to ``b[i]``.

    ``knots`` is strictly increasing (n+1 values); ``a`` and ``b`` have n values, all >= 0.
    A rate may jump at a knot (``b[i] != a[i+1]``), which is how steps are drawn.
    """

    knots_s: tuple[float, ...]
    a_per_s: tuple[float, ...]
    b_per_s: tuple[float, ...]
    _arrays: tuple[FloatArray, FloatArray, FloatArray, FloatArray] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots_s, dtype=np.float64)
        a = np.asarray(self.a_per_s, dtype=np.float64)
        b = np.asarray(self.b_per_s, dtype=np.float64)
        if knots.size < 2 or a.size != knots.size - 1 or b.size != a.size:
            raise ValueError("LinearPieces needs n+1 knots and n start and end rates")
        if np.any(np.diff(knots) <= 0):
            raise ValueError("LinearPieces knots must be strictly increasing")
        if np.any(a < 0) or np.any(b < 0):
            raise ValueError("rates must be >= 0")
        widths = np.diff(knots)
        cum_at_knots = np.concatenate(([0.0], np.cumsum(widths * (a + b) / 2.0)))
        object.__setattr__(self, "_arrays", (knots, a, b, cum_at_knots))

    @property
    def start_s(self) -> float:
        return self.knots_s[0]

    @property
    def end_s(self) -> float:
        return self.knots_s[-1]

    def evaluate(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        knots, a, b, cum_at_knots = self._arrays
        n = a.size
        tc = np.clip(t_s, knots[0], knots[-1])
        i = np.clip(np.searchsorted(knots, tc, side="right") - 1, 0, n - 1)
        x = tc - knots[i]
        slope = (b[i] - a[i]) / (knots[i + 1] - knots[i])
        cum = cum_at_knots[i] + a[i] * x + slope * x * x / 2.0
        inside = (t_s >= knots[0]) & (t_s < knots[-1])
        rate = np.where(inside, a[i] + slope * x, 0.0)
        return rate, cum

    def rate_from_left(self, t_s: FloatArray) -> FloatArray:
        knots, a, b, _ = self._arrays
        i = np.clip(np.searchsorted(knots, t_s, side="left") - 1, 0, a.size - 1)
        slope = (b[i] - a[i]) / (knots[i + 1] - knots[i])
        inside = (t_s > knots[0]) & (t_s <= knots[-1])
        return np.where(inside, a[i] + slope * (t_s - knots[i]), 0.0)

    def breakpoints_s(self) -> tuple[float, ...]:
        return self.knots_s

    def scaled(self, time: float, crowd: float) -> LinearPieces:
        factor = crowd / time
        return LinearPieces(
            tuple(k * time for k in self.knots_s),
            tuple(r * factor for r in self.a_per_s),
            tuple(r * factor for r in self.b_per_s),
        )


@dataclass(frozen=True)
class ExpPiece:
    """``rate0 * exp(k_per_s * (t - start_s))`` on ``[start_s, end_s)``; zero elsewhere."""

    start_s: float
    end_s: float
    rate0_per_s: float
    k_per_s: float

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ValueError("ExpPiece needs end_s > start_s")
        if self.rate0_per_s < 0:
            raise ValueError("rates must be >= 0")

    def evaluate(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        x = np.clip(t_s, self.start_s, self.end_s) - self.start_s
        k = self.k_per_s
        grow = np.exp(k * x)
        # (e^kx - 1) / k loses digits only when k*x is tiny, where the integral itself is
        # tiny next to Λ; reusing e^kx saves a second transcendental per arrival.
        cum = self.rate0_per_s * ((grow - 1.0) / k if k != 0.0 else x)
        inside = (t_s >= self.start_s) & (t_s < self.end_s)
        rate = np.where(inside, self.rate0_per_s * grow, 0.0)
        return rate, cum

    def rate_from_left(self, t_s: FloatArray) -> FloatArray:
        x = np.clip(t_s, self.start_s, self.end_s) - self.start_s
        inside = (t_s > self.start_s) & (t_s <= self.end_s)
        return np.where(inside, self.rate0_per_s * np.exp(self.k_per_s * x), 0.0)

    def breakpoints_s(self) -> tuple[float, ...]:
        return (self.start_s, self.end_s)

    def scaled(self, time: float, crowd: float) -> ExpPiece:
        return ExpPiece(
            self.start_s * time,
            self.end_s * time,
            self.rate0_per_s * crowd / time,
            self.k_per_s / time,
        )


def total_rate(pieces: tuple[Piece, ...], t_s: FloatArray) -> FloatArray:
    """Sum of the pieces' rates at each t (arrivals per second)."""
    out = np.zeros(t_s.shape, dtype=np.float64)
    for piece in pieces:
        out += piece.evaluate(t_s)[0]
    return out


def total_rate_and_cumulative(
    pieces: tuple[Piece, ...], t_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``(λ(t), Λ(t))``: the summed rate and its integral from time 0 (pieces start at >= 0)."""
    rate = np.zeros(t_s.shape, dtype=np.float64)
    cum = np.zeros(t_s.shape, dtype=np.float64)
    for piece in pieces:
        r, c = piece.evaluate(t_s)
        rate += r
        cum += c
    return rate, cum


__all__ = [
    "ExpPiece",
    "FloatArray",
    "LinearPieces",
    "Piece",
    "total_rate",
    "total_rate_and_cumulative",
]
