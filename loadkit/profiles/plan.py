"""What a profile will do, before it runs: per-phase counts and rates, peaks, visitors in flight.

``plan`` puts the profile's expectations (integrals of λ) next to what the seeded schedule
actually drew; ``format_plan`` renders it as the plain-text table ``loadkit plan`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from loadkit.profiles.model import ArrivalProcess, Profile
from loadkit.profiles.schedule import NS_PER_S, Schedule
from loadkit.units import format_duration, format_rate

_WINDOW_GRID_POINTS = 20_001


@dataclass(frozen=True)
class PhasePlan:
    """One phase: ``[start_s, end_s)``, expected (∫λ) and scheduled arrivals, rates per second."""

    name: str
    start_s: float
    end_s: float
    expected_arrivals: float
    scheduled_arrivals: int
    mean_rate_per_s: float
    peak_rate_per_s: float


@dataclass(frozen=True)
class Plan:
    """The whole profile at a glance.

    ``peak_in_flight`` is Little's law at the peak: ``max λ(t) × mean_journey_s`` (the visitors
    in flight if the peak rate lasted). ``peak_in_flight_window`` is the most arrivals expected
    in any ``mean_journey_s``-long window, which is what is in flight when every journey lasts
    exactly that long; it is lower for spikes shorter than a journey. Both are ``None`` without
    ``mean_journey_s``.
    """

    profile_name: str
    seed: int
    arrival_process: ArrivalProcess
    duration_s: float
    onsale_at_s: float | None
    phases: tuple[PhasePlan, ...]
    expected_total: float
    scheduled_total: int
    peak_rate_per_s: float
    peak_rate_at_s: float
    busiest_second_arrivals: int
    busiest_second_start_s: float
    mean_journey_s: float | None = None
    peak_in_flight: float | None = None
    peak_in_flight_at_s: float | None = None
    peak_in_flight_window: float | None = None


def plan(profile: Profile, schedule: Schedule, mean_journey_s: float | None = None) -> Plan:
    """Summarise ``profile`` and its compiled ``schedule``.

    ``mean_journey_s`` (seconds, > 0) adds the expected visitors in flight. Raises
    ``ValueError`` if ``mean_journey_s`` is not positive.
    """
    if mean_journey_s is not None and not mean_journey_s > 0:
        raise ValueError(f"mean_journey_s must be > 0, got {mean_journey_s}")
    counts = schedule.phase_counts()
    phases = tuple(
        PhasePlan(
            name=p.name,
            start_s=p.start_s,
            end_s=p.end_s,
            expected_arrivals=profile.expected_arrivals(p.start_s, p.end_s),
            scheduled_arrivals=counts.get(p.name, 0),
            mean_rate_per_s=profile.expected_arrivals(p.start_s, p.end_s) / p.duration_s,
            peak_rate_per_s=profile.peak_rate(p.start_s, p.end_s)[0],
        )
        for p in profile.phases
    )
    peak, peak_at = profile.peak_rate()
    busiest, busiest_at = _busiest_second(schedule)
    out = Plan(
        profile_name=profile.name,
        seed=schedule.seed,
        arrival_process=profile.arrival_process,
        duration_s=profile.duration_s,
        onsale_at_s=profile.onsale_at_s,
        phases=phases,
        expected_total=profile.expected_arrivals(),
        scheduled_total=len(schedule),
        peak_rate_per_s=peak,
        peak_rate_at_s=peak_at,
        busiest_second_arrivals=busiest,
        busiest_second_start_s=busiest_at,
    )
    if mean_journey_s is None:
        return out
    return _with_in_flight(out, profile, mean_journey_s)


def _busiest_second(schedule: Schedule) -> tuple[int, float]:
    if len(schedule) == 0:
        return 0, 0.0
    per_second = np.bincount(schedule.offsets_ns // NS_PER_S)
    i = int(np.argmax(per_second))
    return int(per_second[i]), float(i)


def _with_in_flight(out: Plan, profile: Profile, journey_s: float) -> Plan:
    t = np.unique(
        np.concatenate(
            (
                np.linspace(0.0, profile.duration_s + journey_s, _WINDOW_GRID_POINTS),
                profile.breakpoints_s(),
                profile.breakpoints_s() + journey_s,
            )
        )
    )
    in_window = profile.cumulative_arrivals(t) - profile.cumulative_arrivals(t - journey_s)
    return replace(
        out,
        mean_journey_s=journey_s,
        peak_in_flight=out.peak_rate_per_s * journey_s,
        peak_in_flight_at_s=out.peak_rate_at_s,
        peak_in_flight_window=float(in_window.max()),
    )


def format_plan(p: Plan) -> str:
    """A plain-text table of ``p`` (what ``loadkit plan`` prints)."""
    onsale = "" if p.onsale_at_s is None else f" · on-sale at {format_duration(p.onsale_at_s)}"
    lines = [
        f"profile {p.profile_name} · {p.arrival_process.value} arrivals · seed {p.seed} · "
        f"{format_duration(p.duration_s)}{onsale}",
        "",
    ]
    header = ("phase", "from", "to", "expected", "scheduled", "mean rate", "peak rate")
    rows = [
        (
            ph.name,
            _at(ph.start_s),
            _at(ph.end_s),
            f"{ph.expected_arrivals:,.1f}",
            f"{ph.scheduled_arrivals:,}",
            format_rate(ph.mean_rate_per_s),
            format_rate(ph.peak_rate_per_s),
        )
        for ph in p.phases
    ]
    total = (
        "total",
        "",
        "",
        f"{p.expected_total:,.1f}",
        f"{p.scheduled_total:,}",
        format_rate(p.expected_total / p.duration_s),
        format_rate(p.peak_rate_per_s),
    )
    lines += _table(header, [*rows, total])
    lines += [
        "",
        f"peak rate: {format_rate(p.peak_rate_per_s)} at {_at(p.peak_rate_at_s)}",
        f"busiest second: {p.busiest_second_arrivals:,} arrivals "
        f"({_at(p.busiest_second_start_s)} to "
        f"{format_duration(p.busiest_second_start_s + 1)})",
    ]
    if p.mean_journey_s is not None and p.peak_in_flight is not None:
        lines.append(
            f"in flight (mean journey {format_duration(p.mean_journey_s)}): "
            f"{p.peak_in_flight:,.0f} at the peak rate (Little's law), "
            f"{p.peak_in_flight_window or 0:,.0f} in the busiest "
            f"{format_duration(p.mean_journey_s)} window"
        )
    return "\n".join(lines)


def _at(seconds: float) -> str:
    return "0s" if seconds == 0 else format_duration(seconds)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        first = r[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(header), *(line(r) for r in rows)]


__all__ = ["PhasePlan", "Plan", "format_plan", "plan"]
