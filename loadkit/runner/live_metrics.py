"""``/metrics``: the live board in the Prometheus text format, through ``prometheus-client``.

A custom collector reads the ``LiveBoard`` at scrape time (the board is updated once a tick, so
a scrape costs the same at 10 or 10,000 requests/s and nothing is counted per request). Every
series is documented in docs/live.md. Names follow Prometheus conventions: ``_total`` counters,
base units (seconds), one ``loadkit_`` prefix; ``worker`` labels the series a distributed
master can attribute (``0`` in a local run).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from loadkit.runner.live_board import LiveBoard

GATE_STATES = ("pass", "breach", "tripped", "no_data", "outside", "after_run")


class BoardCollector(Collector):
    """Turns the board into metric families, at each scrape."""

    def __init__(self, board: LiveBoard) -> None:
        self.board = board

    def collect(self) -> Iterator[Metric]:
        yield from self._run()
        yield from self._arrivals()
        yield from self._requests()
        yield from self._journeys()
        yield from self._gates()
        yield from self._workers()

    def _run(self) -> Iterator[Metric]:
        b = self.board
        info = GaugeMetricFamily(
            "loadkit_run_info",
            "The rehearsal: its id, mode and current phase and status.",
            labels=["run_id", "mode", "phase", "status"],
        )
        info.add_metric([b.run_id, b.mode, b.phase, b.status], 1)
        yield info
        yield GaugeMetricFamily(
            "loadkit_run_elapsed_seconds",
            "Seconds since t0 at the last tick (negative before).",
            value=b.elapsed_s,
        )
        yield GaugeMetricFamily(
            "loadkit_live_tick_timestamp_seconds",
            "Epoch seconds of the last tick: the figures count records up to then.",
            value=b.tick_epoch_s,
        )

    def _arrivals(self) -> Iterator[Metric]:
        b = self.board
        scheduled = CounterMetricFamily(
            "loadkit_arrivals_scheduled", "Arrivals due so far by the seeded schedule."
        )
        scheduled.add_metric([], b.arrivals.scheduled)
        yield scheduled
        for name, doc in (
            ("started", "Arrivals started (visitors who began their journey)."),
            ("dropped", "Arrivals dropped: never started (in-flight cap full, run stopped)."),
        ):
            family = CounterMetricFamily(f"loadkit_arrivals_{name}", doc, labels=["worker"])
            for worker, a in sorted(b.arrivals_by_worker.items()):
                family.add_metric([str(worker)], getattr(a, name))
            yield family
        in_flight = GaugeMetricFamily(
            "loadkit_visitors_in_flight", "Visitors in their journey now.", labels=["worker"]
        )
        for worker, a in sorted(b.arrivals_by_worker.items()):
            in_flight.add_metric([str(worker)], a.in_flight)
        yield in_flight
        late = HistogramMetricFamily(
            "loadkit_arrival_lateness_seconds",
            "Actual minus scheduled start of started arrivals.",
        )
        late.add_metric([], b.lateness.cumulative(), b.lateness.sum)
        yield late

    def _requests(self) -> Iterator[Metric]:
        b = self.board
        requests = CounterMetricFamily(
            "loadkit_requests",
            "Requests recorded, by worker, journey step, outcome and HTTP status (0: none).",
            labels=["worker", "step", "outcome", "status"],
        )
        for (worker, step, outcome, status), n in sorted(b.requests.items()):
            requests.add_metric([str(worker), step, outcome, str(status)], n)
        yield requests
        latency = HistogramMetricFamily(
            "loadkit_response_time_seconds",
            "Response time (from the intended start, no coordinated omission) of ok requests.",
            labels=["step"],
        )
        for step, hist in sorted(b.latency.items()):
            latency.add_metric([step], hist.cumulative(), hist.sum)
        yield latency

    def _journeys(self) -> Iterator[Metric]:
        b = self.board
        ended = CounterMetricFamily(
            "loadkit_arrivals_ended",
            "Journeys recorded as ended, by outcome.",
            labels=["worker", "outcome"],
        )
        for (worker, outcome), n in sorted(b.ended.items()):
            ended.add_metric([str(worker), outcome], n)
        yield ended
        funnel = CounterMetricFamily(
            "loadkit_funnel_visitors",
            "Ended journeys that reached each stage (arrived, joined, admitted, held, paid).",
            labels=["stage"],
        )
        for stage, n in b.funnel.items():
            funnel.add_metric([stage], n)
        yield funnel
        leave = CounterMetricFamily(
            "loadkit_leave_reasons",
            "Journeys that ended early, by outcome and recorded reason.",
            labels=["outcome", "reason"],
        )
        for (outcome, reason), n in sorted(b.leave.items()):
            leave.add_metric([outcome, reason], n)
        yield leave

    def _gates(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "loadkit_gate_state",
            "Each threshold's live state (1 for the current state).",
            labels=["gate", "state"],
        )
        value = GaugeMetricFamily(
            "loadkit_gate_value",
            "Each threshold's stat over its window at the last tick.",
            labels=["gate"],
        )
        countdown = GaugeMetricFamily(
            "loadkit_gate_abort_in_seconds",
            "Seconds left before an 'abort after' threshold stops the run, while it breaches.",
            labels=["gate"],
        )
        for g in self.board.gates:
            for s in GATE_STATES:
                state.add_metric([g.text, s], 1.0 if g.state == s else 0.0)
            if g.value is not None:
                value.add_metric([g.text], g.value)
            if g.abort_in_s is not None:
                countdown.add_metric([g.text], g.abort_in_s)
        yield from (state, value, countdown)

    def _workers(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "loadkit_worker_up",
            "1 while a worker runs or finished cleanly, 0 when lost.",
            labels=["worker", "host", "fate"],
        )
        cpu = GaugeMetricFamily(
            "loadkit_worker_cpu_percent",
            "A worker's CPU over its last sample (100 = 1 core).",
            labels=["worker"],
        )
        heard = GaugeMetricFamily(
            "loadkit_worker_last_heard_seconds",
            "Seconds since the master last heard a worker.",
            labels=["worker"],
        )
        for w in self.board.workers:
            up.add_metric([str(w.worker), w.host, w.fate], 1.0 if w.up else 0.0)
            if w.cpu_percent is not None:
                cpu.add_metric([str(w.worker)], w.cpu_percent)
            if w.last_heard_s is not None:
                heard.add_metric([str(w.worker)], w.last_heard_s)
        yield from (up, cpu, heard)


def registry_for(board: LiveBoard) -> CollectorRegistry:
    """A private registry holding only the board's collector (no process/GC defaults)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BoardCollector(board))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (``CONTENT_TYPE_LATEST``)."""
    return generate_latest(registry)


__all__ = ["GATE_STATES", "BoardCollector", "registry_for", "render"]
