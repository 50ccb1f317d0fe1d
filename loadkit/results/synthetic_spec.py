"""What a synthetic run holds: ``SyntheticRun`` and its parts (steps, breaches, error bursts,
funnel), the known answers ``loadkit.results.synthetic.write_synthetic_run`` writes out.

Times are seconds after t0. Re-exported by ``loadkit.results.synthetic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadkit.results.schema import Outcome, RunStatus


@dataclass(frozen=True)
class StepSpec:
    """One journey step: its name, median service time, and delay after the previous step."""

    name: str
    median_ms: float
    gap_s: float = 1.0
    method: str = "GET"
    request_name: str | None = None  # defaults to "/" + name


@dataclass(frozen=True)
class LatencyBreach:
    """Every request of ``step`` intended in ``[start_s, end_s)`` takes exactly ``response_ms``."""

    step: str
    start_s: float
    end_s: float
    response_ms: float


@dataclass(frozen=True)
class ErrorBurst:
    """A ``fraction`` of ``step``'s requests intended in ``[start_s, end_s)`` end in ``outcome``."""

    step: str
    start_s: float
    end_s: float
    fraction: float
    outcome: Outcome = Outcome.HTTP_ERROR
    status: int = 503


@dataclass(frozen=True)
class Funnel:
    """Fractions of started (not dropped) arrivals reaching each stage; must not increase."""

    joined: float = 0.9
    admitted: float = 0.8
    held: float = 0.5
    paid: float = 0.3


DEFAULT_STEPS = (
    StepSpec("landing", 40.0, 0.0),
    StepSpec("queue.join", 60.0, 1.0, "POST"),
    StepSpec("queue.poll", 30.0, 1.0),
    StepSpec("seats.hold", 120.0, 1.0, "POST"),
    StepSpec("checkout", 300.0, 1.0, "POST"),
)


@dataclass(frozen=True)
class SyntheticRun:
    """What to write. Times are seconds after t0; ``phases`` default to build-up/spike/tail."""

    run_id: str = "synthetic"
    seed: int = 7
    duration_s: float = 120.0
    onsale_offset_s: float = 30.0
    arrivals_per_s: float = 20.0
    steps: tuple[StepSpec, ...] = DEFAULT_STEPS
    personas: tuple[tuple[str, float], ...] = (("fan", 0.97), ("bot", 0.03))
    phases: tuple[tuple[str, float, float], ...] | None = None
    sigma: float = 0.25  # lognormal shape of service times
    breaches: tuple[LatencyBreach, ...] = ()
    error_bursts: tuple[ErrorBurst, ...] = ()
    drop_fraction: float = 0.0
    lateness_ms: float = 1.0  # mean of the (exponential) start lateness
    late_spikes: tuple[tuple[float, float, float], ...] = ()  # (start_s, end_s, lateness_ms)
    funnel: Funnel = field(default_factory=Funnel)
    admission_rate_per_min: float = 1200.0
    fifo_inversions: int = 0  # adjacent pairs of post-on-sale joiners admitted in reverse order
    oversell_pairs: int = 0  # pairs of buyers given the same seat
    shop_ok_without_token: int = 0  # arrivals that got a shop 2xx without a token
    token_probes: bool = True  # every arrival tried the shop without a token (else: null)
    retry_fraction: float = 0.0  # requests repeated as attempt 2
    workers: int = 2
    shards: int = 16
    lost_workers: tuple[int, ...] = ()
    cpu_percent: float | None = None
    status: RunStatus = RunStatus.COMPLETED
    records_complete: bool = True
    segments_per_worker: int = 2
    thresholds: tuple[str, ...] = ()
    gaps: tuple[tuple[float, float], ...] = ()  # [start_s, end_s): no arrival is scheduled
    # (reason, fraction): that share of started arrivals ends abandoned with that reason
    leave_reasons: tuple[tuple[str, float], ...] = ()
    seat_ids: bool = True  # False: buyers record no seat ids (a general-admission shop)
    tickets_per_order: int = 0  # > 0: each buyer records tickets_bought = this

    def phase_spans(self) -> tuple[tuple[str, float, float], ...]:
        if self.phases is not None:
            return self.phases
        spike_end = min(self.duration_s, self.onsale_offset_s + 30.0)
        spans = [
            ("build-up", 0.0, self.onsale_offset_s),
            ("spike", self.onsale_offset_s, spike_end),
        ]
        if spike_end < self.duration_s:
            spans.append(("tail", spike_end, self.duration_s))
        return tuple(s for s in spans if s[2] > s[1])


__all__ = [
    "DEFAULT_STEPS",
    "ErrorBurst",
    "Funnel",
    "LatencyBreach",
    "StepSpec",
    "SyntheticRun",
]
