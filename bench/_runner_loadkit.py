"""The loadkit side of ``python -m bench runner`` (run as a child process, pinned by taskset).

``python -m bench._runner_loadkit loop URL USERS WARM_S MEASURE_S OUT``: USERS visitors arrive at
t0, each runs one journey that repeats a GET on its keep-alive connection until the window ends;
recording on (segments flushed every second). Requests are counted over the window.

``python -m bench._runner_loadkit schedule URL RATE SECONDS OUT``: Poisson arrivals at RATE/s,
each one GET; writes lateness figures from the arrival records.

``python -m bench._runner_loadkit record OUT``: the cost of ``Visitor.record`` alone.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
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


@dataclass(frozen=True)
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
    run_dir: str, url: str, offsets_ns: np.ndarray, persona: RepeatGet, delay_s: float
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
    return Session(spec, run_dir, plan, compact=False)


def loop(url: str, users: int, warm_s: float, measure_s: float, out: str) -> None:
    import gevent

    delay_s = 0.5
    until = time.monotonic() + delay_s + warm_s + measure_s + 0.5
    session = _session(
        tempfile.mkdtemp(), url, np.zeros(users, np.int64), RepeatGet(until_mono_s=until), delay_s
    )
    counts: dict[str, float] = {}

    def measure() -> None:
        gevent.sleep(delay_s + warm_s)
        n0, t0 = session.flusher.pending_requests(), time.perf_counter()
        gevent.sleep(measure_s)
        counts.update(
            requests=session.flusher.pending_requests() - n0, seconds=time.perf_counter() - t0
        )

    gevent.spawn(measure)
    result = session.run()
    counts["written"] = session.writer.requests_written
    counts["errors"] = result.engine.errors if result.engine else -1
    counts["flushes"] = session.flusher.flushes
    with open(out, "w") as f:
        json.dump(counts, f)


def schedule(url: str, rate: float, seconds: float, out: str) -> None:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    gaps_s = rng.exponential(1.0 / rate, size=int(rate * seconds * 1.2))
    offsets_s = np.cumsum(gaps_s)
    offsets_ns = (offsets_s[offsets_s < seconds] * 1e9).astype(np.int64)
    run_dir = tempfile.mkdtemp()
    session = _session(run_dir, url, offsets_ns, RepeatGet(repeat=1), 1.0)
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
    }
    with open(out, "w") as f:
        json.dump(figures, f)


def record_cost(out: str) -> None:
    from loadkit.runner.clock import Clock
    from loadkit.runner.journey import HttpResult
    from loadkit.runner.recorder import Recorder
    from loadkit.runner.visitor import Target, Visitor

    rec = Recorder()
    v = Visitor(
        1,
        "fan",
        seed=1,
        target=Target.from_url("http://127.0.0.1:9"),
        recorder=rec,
        clock=Clock.measure(),
    )
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
    n = 200_000
    best = float("inf")
    for _ in range(5):
        rec.requests = []
        t = time.perf_counter()
        for _ in range(n):
            v.record(result, Outcome.OK)
        best = min(best, (time.perf_counter() - t) / n)
    with open(out, "w") as f:
        json.dump({"record_us": best * 1e6}, f)


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "loop":
        loop(args[0], int(args[1]), float(args[2]), float(args[3]), args[4])
    elif mode == "schedule":
        schedule(args[0], float(args[1]), float(args[2]), args[3])
    elif mode == "record":
        record_cost(args[0])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
