"""Compile a profile into a seeded arrival schedule (open model).

Arrival times are ``Λ⁻¹(y_k)``, the inverse of the profile's exact integrated rate:

* Poisson: ``N ~ Poisson(Λ(T))`` and, given ``N``, the ``y_k`` are ``N`` sorted uniform points
  on ``[0, Λ(T))`` drawn as normalised sums of exponentials (sorted by construction, no sort).
  This is an exact sample of the non-homogeneous Poisson process with rate λ(t).
* Uniform: ``N = round(Λ(T))`` and ``y_k = (k + 1/2) Λ(T) / N``: the arrivals sit at the
  midpoint quantiles of Λ, so a constant rate gives exactly even spacing.

``Λ⁻¹`` is computed by bracketing each ``y_k`` in a cell of a fine grid of exact ``Λ`` values
(every breakpoint is a grid point), solving the cell's quadratic model of ``Λ`` in closed form,
then safeguarded Newton steps on the exact ``Λ`` (bisection when a step leaves the bracket)
until they fall below a microsecond: usually one step, to float precision.
Everything is vectorised and done in chunks, so 10 million arrivals take seconds, not minutes.

Randomness: ``numpy.random.default_rng([seed, 0])`` (PCG64). Stream ``[seed, 1]`` is kept for
persona choice (docs/architecture.md), so the two never share draws.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from loadkit.errors import InputError
from loadkit.profiles.model import MAX_ARRIVALS, MAX_DURATION_S, ArrivalProcess, Phase, Profile
from loadkit.profiles.pieces import FloatArray, Piece

NS_PER_S = 1_000_000_000
_GRID_CELLS = 65_536
_MAX_NEWTON_STEPS = 8
_CONVERGED_STEP_S = 1e-6
_CHUNK = 1 << 20

IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Schedule:
    """The compiled arrival schedule: arrival ``k`` starts ``offsets_ns[k]`` after t0.

    ``offsets_ns`` is a sorted, read-only int64 array of nanoseconds since profile time 0,
    all within ``[0, duration]``. The same (profile, seed) always gives the same array.
    """

    profile_name: str
    seed: int
    arrival_process: ArrivalProcess
    duration_s: float
    phases: tuple[Phase, ...]
    offsets_ns: IntArray

    def __len__(self) -> int:
        return int(self.offsets_ns.size)

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)

    def for_shards(self, shards: Iterable[int], total_shards: int) -> tuple[IntArray, IntArray]:
        """``(arrival_ids, offsets_ns)`` of the arrivals ``k`` with ``k % total_shards`` in
        ``shards``, in arrival order. Raises ``ValueError`` for a shard outside
        ``[0, total_shards)`` or ``total_shards < 1``.
        """
        if total_shards < 1:
            raise ValueError(f"total_shards must be >= 1, got {total_shards}")
        chosen = sorted(set(shards))
        bad = [s for s in chosen if not 0 <= s < total_shards]
        if bad:
            raise ValueError(f"shards {bad} are outside [0, {total_shards})")
        n = len(self)
        if len(chosen) == 1:
            ids = np.arange(chosen[0], n, total_shards, dtype=np.int64)
        else:
            wanted = np.zeros(total_shards, dtype=bool)
            wanted[chosen] = True
            all_ids = np.arange(n, dtype=np.int64)
            ids = all_ids[wanted[all_ids % total_shards]]
        return ids, self.offsets_ns[ids]

    def phase_index(self, offsets_ns: IntArray | NDArray[np.integer]) -> NDArray[np.intp]:
        """Index into ``phases`` for each offset (ns since t0). Phases are ``[start, end)``;
        the last phase also owns its end; offsets before 0 or after the end are clamped.
        """
        starts_ns = np.array([round(p.start_s * NS_PER_S) for p in self.phases[1:]], np.int64)
        return np.searchsorted(starts_ns, np.asarray(offsets_ns), side="right")

    def phase_of(self, offset_s: float) -> str:
        """The name of the phase that ``offset_s`` (seconds since t0) falls in."""
        idx = self.phase_index(np.array([round(offset_s * NS_PER_S)], dtype=np.int64))
        return self.phases[int(idx[0])].name

    def phase_counts(self) -> dict[str, int]:
        """Scheduled arrivals per phase, in phase order."""
        counts = np.bincount(self.phase_index(self.offsets_ns), minlength=len(self.phases))
        return {p.name: int(c) for p, c in zip(self.phases, counts, strict=True)}


def compile_schedule(profile: Profile, seed: int) -> Schedule:
    """Draw the arrival schedule of ``profile`` for ``seed`` (a non-negative integer).

    Deterministic: the same profile and seed give the same offsets, bit for bit (uniform
    profiles ignore the seed). Raises ``InputError`` for a negative seed or a profile that
    would schedule more than ``MAX_ARRIVALS`` arrivals or last more than ``MAX_DURATION_S``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"the seed must be a non-negative integer, got {seed!r}")
    if profile.duration_s > MAX_DURATION_S:
        raise InputError(
            f"profile '{profile.name}' lasts {profile.duration_s:g}s, longer than a schedule "
            f"can span ({MAX_DURATION_S:g}s, 366 days).",
            hint="Check the duration and the scale's time factor.",
        )
    total = profile.expected_arrivals()
    if total > MAX_ARRIVALS:
        raise InputError(
            f"profile '{profile.name}' expects {total:,.0f} arrivals, more than one schedule "
            f"can hold ({MAX_ARRIVALS:,}).",
            hint="Lower the rates or use a scale with a smaller crowd.",
        )
    targets = _targets(profile.arrival_process, total, int(seed))
    times_s = _invert(profile, targets)
    offsets = np.rint(times_s * NS_PER_S).astype(np.int64)
    # Each target is inverted on its own; rounding must not unsort neighbours a ulp apart.
    np.maximum.accumulate(offsets, out=offsets)
    np.clip(offsets, 0, round(profile.duration_s * NS_PER_S), out=offsets)
    offsets.setflags(write=False)
    return Schedule(
        profile_name=profile.name,
        seed=int(seed),
        arrival_process=profile.arrival_process,
        duration_s=profile.duration_s,
        phases=profile.phases,
        offsets_ns=offsets,
    )


def _targets(process: ArrivalProcess, total: float, seed: int) -> FloatArray:
    """The values of Λ at which arrivals happen, sorted, in ``[0, total)``."""
    if process is ArrivalProcess.UNIFORM:
        n = int(np.floor(total + 0.5))
        return (np.arange(n, dtype=np.float64) + 0.5) * (total / max(n, 1))
    rng = np.random.default_rng([seed, 0])
    n = int(rng.poisson(total))
    sums: FloatArray = np.cumsum(rng.standard_exponential(n + 1))
    return sums[:n] * (total / float(sums[n]))


@dataclass(frozen=True)
class _Grid:
    """Exact Λ on a fine grid holding every breakpoint, and λ's linear model in each cell."""

    t_s: FloatArray
    cum: FloatArray  # Λ at each grid time
    rate0: FloatArray  # λ just after each grid time (cells: n - 1 values)
    slope: FloatArray  # (λ just before the cell's end - rate0) / cell width


def _grid(profile: Profile) -> _Grid:
    uniform = np.linspace(0.0, profile.duration_s, _GRID_CELLS + 1)
    t = np.unique(np.concatenate((uniform, profile.breakpoints_s())))
    rate_after = profile.rate_per_s(t[:-1])
    rate_before = np.zeros(t.size - 1, dtype=np.float64)
    for piece in profile.pieces:
        rate_before += piece.rate_from_left(t[1:])
    slope = (rate_before - rate_after) / np.diff(t)
    return _Grid(t, profile.cumulative_arrivals(t), rate_after, slope)


def _invert(profile: Profile, targets: FloatArray) -> FloatArray:
    """``Λ⁻¹(targets)`` for sorted targets in ``[0, Λ(T))``."""
    grid = _grid(profile)
    out = np.empty_like(targets)
    for start in range(0, targets.size, _CHUNK):
        y = targets[start : start + _CHUNK]
        out[start : start + _CHUNK] = _invert_chunk(profile.pieces, grid, y)
    return out


def _first_guess(grid: _Grid, y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A bracket ``[lo, hi]`` around each root and a guess inside it.

    Within a cell λ is modelled as linear, so Λ is quadratic and the guess solves it in closed
    form: exact for constant, ramp, steps and trace pieces, O(h³) off for exponential ones.
    """
    # Λ(0) = 0 <= y, so the index is never negative; only the top needs a cap.
    i = np.minimum(np.searchsorted(grid.cum, y, side="right") - 1, grid.t_s.size - 2)
    lo, hi = grid.t_s[i], grid.t_s[i + 1]
    d = y - grid.cum[i]
    a, s = grid.rate0[i], grid.slope[i]
    # x = 2d / (a + sqrt(a² + 2sd)) solves a x + s x²/2 = d without cancellation.
    root = np.sqrt(np.maximum(a * a + 2.0 * s * d, 0.0))
    denom = a + root
    x = np.divide(2.0 * d, denom, out=np.full_like(y, np.inf), where=denom > 0)
    t = np.minimum(lo + x, hi)  # x >= 0 since y >= Λ(lo)
    return t, lo, hi


def _invert_chunk(pieces: tuple[Piece, ...], grid: _Grid, y: FloatArray) -> FloatArray:
    t, lo, hi = _first_guess(grid, y)
    if y.size == 0:
        return t
    active, offset = _active_pieces(pieces, float(lo.min()), float(hi.max()))
    for _ in range(_MAX_NEWTON_STEPS):
        rate, cum = np.zeros_like(t), np.full_like(t, offset)
        for piece in active:
            r, c = piece.evaluate(t)
            rate += r
            cum += c
        f = cum - y
        lo = np.where(f < 0, t, lo)
        hi = np.where(f > 0, t, hi)
        step = np.divide(f, rate, out=np.full_like(t, np.inf), where=rate > 0)
        newton = t - step
        ok = (newton >= lo) & (newton <= hi)
        t = np.where(f == 0, t, np.where(ok, newton, (lo + hi) / 2.0))
        # Newton converges quadratically: once every step is a Newton step shorter than
        # _CONVERGED_STEP_S, the remaining error is far below the 1 ns the offsets keep.
        if bool(ok.all()) and float(np.abs(step).max(initial=0.0)) <= _CONVERGED_STEP_S:
            break
    return t


def _active_pieces(
    pieces: tuple[Piece, ...], a_s: float, b_s: float
) -> tuple[tuple[Piece, ...], float]:
    """Pieces overlapping ``[a_s, b_s]``, and the summed integral of those wholly before it."""
    active: list[Piece] = []
    offset = 0.0
    for piece in pieces:
        if piece.end_s <= a_s:
            end = np.array([piece.end_s], dtype=np.float64)
            offset += float(piece.evaluate(end)[1][0])
        elif piece.start_s <= b_s:
            active.append(piece)
    return tuple(active), offset


__all__ = ["MAX_ARRIVALS", "MAX_DURATION_S", "NS_PER_S", "Schedule", "compile_schedule"]
