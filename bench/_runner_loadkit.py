"""The loadkit side of ``python -m bench runner`` (run as a child process, pinned by taskset).

``python -m bench._runner_loadkit loop URL USERS WARM_S MEASURE_S OUT``: USERS visitors arrive at
t0, each runs one journey that repeats a GET on its keep-alive connection until the window ends;
recording on (segments flushed every second). Requests are counted over the window.

``python -m bench._runner_loadkit schedule URL RATE SECONDS OUT [GETS [TIMER]]``: Poisson
arrivals at RATE/s, each GETS requests (default 1; 0 = the scheduler alone), started by the
TIMER (``timerfd``, the default on Linux, or ``libev``); writes lateness figures from the arrival
records.

``python -m bench._runner_loadkit floor RATE SECONDS OUT [sleep|timerfd]``: the same due times
in a bare loop, no engine (the machine's noise floor).

``python -m bench._runner_loadkit floor_get URL RATE SECONDS OUT``: one GET per arrival on a new
connection from a bare loop, no engine (what a new connection costs at best).

``python -m bench._runner_loadkit micro OUT``: ``Visitor.record`` alone, and what a new
visitor's client costs (ours vs a Locust ``FastHttpSession`` per visitor).
"""

from gevent import monkey

monkey.patch_all()

import dataclasses  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from loadkit.results.schema import ArrivalOutcome, Outcome  # noqa: E402


@dataclass(frozen=True)
class _End:
    outcome: ArrivalOutcome
    reason: str | None
    last_step: str


@dataclass
class RepeatGet:
    """A persona that GETs one path until ``until_mono_s`` (or ``repeat`` times)."""

    name: str = "repeat-get"
    path: str = "/index.html"
    repeat: int = 1
    until_mono_s: float = 0.0

    def run(self, visitor: Any) -> _End:
        http, record, ok, bad = visitor.http, visitor.record, Outcome.OK, Outcome.HTTP_ERROR
        n = 0
        while n < self.repeat or time.monotonic() < self.until_mono_s:
            r = http("GET", self.path, name=self.path, step="get")
            record(r, ok if r.status == 200 else bad)
            n += 1
        return _End(ArrivalOutcome.COMPLETED, None, "get")


def _session(
    run_dir: str,
    url: str,
    offsets_ns: np.ndarray,
    persona: RepeatGet,
    delay_s: float,
    timer: str = "timerfd",
) -> Any:
    from loadkit.runner.core import Arrivals
    from loadkit.runner.session import Plan, Session
    from loadkit.runner.spec import RunSpec

    n = len(offsets_ns)
    plan = Plan(
        arrivals=Arrivals(np.arange(n, dtype=np.int64), offsets_ns, np.zeros(n, np.int64)),
        personas=[persona],
        target_url=url,
    )
    spec = RunSpec(
        run_id="bench",
        scenario_path="-",
        profile_path="-",
        host=url,
        seed=1,
        start_delay_s=delay_s,
        progress_interval_s=3600,
    )
    session = Session(spec, run_dir, plan, compact=False)
    if timer != "timerfd":  # the portable timer, for a side-by-side comparison
        session.engine.options = dataclasses.replace(session.engine.options, precise_timer=False)
    return session


def _cpu_s() -> float:
    """User + system CPU seconds of this process (the flusher's writer thread included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loop(url: str, users: int, warm_s: float, measure_s: float, out: str) -> None:
    import gevent

    delay_s = 0.5
    persona = RepeatGet()
    session = _session(tempfile.mkdtemp(), url, np.zeros(users, np.int64), persona, delay_s)
    t0_mono_s = session.clock.to_monotonic_ns(session.t0_ns) / 1e9
    persona.until_mono_s = t0_mono_s + warm_s + measure_s + 0.5
    counts: dict[str, float] = {}

    def measure() -> None:
        gevent.sleep(max(0.0, t0_mono_s + warm_s - time.monotonic()))
        n0, t0, c0 = session.flusher.pending_requests(), time.perf_counter(), _cpu_s()
        gevent.sleep(measure_s)
        counts.update(
            requests=session.flusher.pending_requests() - n0,
            seconds=time.perf_counter() - t0,
            cpu_s=_cpu_s() - c0,
        )

    gevent.spawn(measure)
    result = session.run()
    counts["written"] = session.writer.requests_written
    counts["errors"] = result.engine.errors if result.engine else -1
    counts["flushes"] = session.flusher.flushes
    with open(out, "w") as f:
        json.dump(counts, f)


def schedule(
    url: str, rate: float, seconds: float, out: str, repeat: int = 1, timer: str = "timerfd"
) -> None:
    import pyarrow.parquet as pq

    offsets_ns = np.asarray(_poisson_offsets_ns(rate, seconds), dtype=np.int64)
    run_dir = tempfile.mkdtemp()
    session = _session(run_dir, url, offsets_ns, RepeatGet(repeat=repeat), 1.0, timer)
    cpu0 = time.process_time()
    result = session.run()
    cpu_s = time.process_time() - cpu0
    files = sorted(Path(run_dir, "records").glob("arrivals-*.parquet"))
    arrivals = pq.read_table(files).to_pandas()
    late = arrivals["lateness_ms"].dropna().to_numpy()
    figures = {
        "arrivals": len(arrivals),
        "dropped": int((arrivals["outcome"] == "dropped").sum()),
        "p50_ms": float(np.percentile(late, 50)),
        "p99_ms": float(np.percentile(late, 99)),
        "max_ms": float(late.max()),
        "errors": result.engine.errors if result.engine else -1,
        "cpu_us_per_arrival": cpu_s / max(1, len(arrivals)) * 1e6,
        "cpu_share": cpu_s / (seconds + 1.0),
        "start_timer": result.engine.start_timer if result.engine else None,
    }
    with open(out, "w") as f:
        json.dump(figures, f)


def micro(out: str) -> None:
    """Per-visitor and per-request costs measured without a network."""
    from geventhttpclient.client import HTTPClient
    from locust.contrib.fasthttp import FastHttpSession
    from locust.event import EventHook

    from loadkit.runner.clock import Clock
    from loadkit.runner.journey import HttpResult
    from loadkit.runner.recorder import Recorder
    from loadkit.runner.visitor import Target, Visitor

    def best_us(fn: Any, n: int) -> float:
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t) / n)
        return best * 1e6

    rec = Recorder()
    target = Target.from_url("http://127.0.0.1:9").resolve()
    clock = Clock.measure()
    v = Visitor(1, "fan", seed=1, target=target, recorder=rec, clock=clock)
    result = HttpResult(
        status=200,
        headers=None,
        content=b"x" * 100,
        error_kind=None,
        error=None,
        intended_ns=1,
        start_ns=1,
        end_ns=2,
        service_ms=1.0,
        response_ms=1.0,
    )

    def record() -> None:
        v.record(result, Outcome.OK)

    def new_visitor() -> None:
        Visitor(2, "fan", seed=1, target=target, recorder=rec, clock=clock)._connect()

    hook = EventHook()

    def new_fasthttpsession() -> None:
        FastHttpSession("http://127.0.0.1:9", request_event=hook, user=None)

    def new_httpclient() -> None:
        HTTPClient("127.0.0.1", port=9, concurrency=1, connection_timeout=5)

    figures = {
        "record_us": best_us(record, 100_000),
        "visitor_us": best_us(new_visitor, 5_000),
        "httpclient_us": best_us(new_httpclient, 5_000),
        "fasthttpsession_us": best_us(new_fasthttpsession, 5_000),
    }
    rec.requests = []
    with open(out, "w") as f:
        json.dump(figures, f)


def _poisson_offsets_ns(rate: float, seconds: float) -> list[int]:
    """The bench's seeded Poisson schedule: offsets from t0 in ns."""
    rng = np.random.default_rng(7)
    offsets_s = np.cumsum(rng.exponential(1.0 / rate, size=int(rate * seconds * 1.2)))
    return [int(x) for x in (offsets_s[offsets_s < seconds] * 1e9).astype(np.int64)]


def _timerfd_loop(offsets_ns: list[int], t0_ns: int, on_due: Any) -> list[float]:
    """Wake on the engine's start timer at each due time, call ``on_due()``; lateness in ms."""
    import gevent
    import gevent.event

    from loadkit.runner.start_timer import start_timer

    late_ms: list[float] = []
    done = gevent.event.Event()

    def fired() -> None:
        now = time.monotonic_ns()
        while len(late_ms) < len(offsets_ns):
            due = t0_ns + offsets_ns[len(late_ms)]
            if due > now:
                timer.arm(due)
                return
            late_ms.append((now - due) / 1e6)
            on_due()
        done.set()

    timer = start_timer(gevent.get_hub().loop, fired)
    assert timer.kind == "timerfd", "no timerfd here"
    timer.arm(t0_ns + offsets_ns[0])
    done.wait()
    timer.close()
    return late_ms


def _write_lateness(out: str, late_ms: list[float], cpu_s: float) -> None:
    late = np.array(late_ms)
    figures = {
        "arrivals": len(late),
        "dropped": 0,
        "p50_ms": float(np.percentile(late, 50)),
        "p99_ms": float(np.percentile(late, 99)),
        "max_ms": float(late.max()),
        "cpu_us_per_arrival": cpu_s / len(late) * 1e6,
    }
    with open(out, "w") as f:
        json.dump(figures, f)


def floor(rate: float, seconds: float, out: str, timer: str = "sleep") -> None:
    """The machine's noise floor: a bare loop waking at the same Poisson due times.

    No loadkit engine: what any gevent scheduler on this core can reach at best right now.
    ``timer``: ``sleep`` (``gevent.sleep``, libev's timer) or ``timerfd`` (the start timer the
    engine uses on Linux, re-armed from its own callback).
    """
    import gevent

    offsets_ns = _poisson_offsets_ns(rate, seconds)
    t0_ns = time.monotonic_ns() + 1_000_000_000
    cpu0 = time.process_time()
    if timer == "sleep":
        late_ms: list[float] = []
        for offset in offsets_ns:
            due = t0_ns + offset
            wait_ns = due - time.monotonic_ns()
            if wait_ns > 0:
                gevent.sleep(wait_ns / 1e9)
            late_ms.append((time.monotonic_ns() - due) / 1e6)
    else:
        late_ms = _timerfd_loop(offsets_ns, t0_ns, lambda: None)
    _write_lateness(out, late_ms, time.process_time() - cpu0)


def floor_get(url: str, rate: float, seconds: float, out: str) -> None:
    """One GET per arrival on a new connection, with no loadkit engine: the same timerfd wakes a
    bare loop that spawns a plain greenlet per arrival (a new geventhttpclient ``HTTPClient``,
    one GET, close). What a new connection per arrival costs the generator at best."""
    import gevent
    from geventhttpclient.client import HTTPClient

    host, port = url.split("//", 1)[1].rsplit(":", 1)

    def visit() -> None:
        client = HTTPClient(host, port=int(port), concurrency=1, connection_timeout=5)
        client.request("GET", "/index.html", body=b"", headers={}).read()
        client.close()

    offsets_ns = _poisson_offsets_ns(rate, seconds)
    t0_ns = time.monotonic_ns() + 1_000_000_000
    cpu0 = time.process_time()
    late_ms = _timerfd_loop(offsets_ns, t0_ns, lambda: gevent.spawn(visit))
    gevent.sleep(0.5)  # the last GETs
    _write_lateness(out, late_ms, time.process_time() - cpu0)


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "loop":
        loop(args[0], int(args[1]), float(args[2]), float(args[3]), args[4])
    elif mode == "schedule":
        repeat = int(args[4]) if len(args) > 4 else 1
        schedule(args[0], float(args[1]), float(args[2]), args[3], repeat, *args[5:6])
    elif mode == "floor":
        floor(float(args[0]), float(args[1]), args[2], *args[3:4])
    elif mode == "floor_get":
        floor_get(args[0], float(args[1]), float(args[2]), args[3])
    elif mode == "micro":
        micro(args[0])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
