"""The loadkit side of ``python -m bench live`` (a child process, pinned by taskset).

``python -m bench._live_loadkit URL RATE SECONDS on|off OUT``: seeded Poisson arrivals at RATE/s
for SECONDS, each a new visitor that opens a connection and sends one GET (the runner bench's
schedule), recording on, the same four thresholds either way. With ``on`` the live view is
served as ``--live 127.0.0.1:0`` serves it (``start_live``: the board ticks once a second, the
thresholds are judged live, the server answers ``/``, ``/live.json`` and ``/metrics``), and one
line ``LIVE URL T0_S END_S`` on stdout tells the parent where to scrape and when the load
runs (epoch seconds). Writes to OUT: requests recorded, arrivals, dropped, errors, and the CPU
seconds (user + system, every thread) this process spent in ``Session.run`` — waiting for t0,
the load, the drain and the last flush.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench._runner_loadkit import RepeatGet, _cpu_s, _poisson_offsets_ns  # noqa: E402

# Judged live when the view is on (the board's gates); none has an ``abort after``, so the
# runner's guard is off on both sides and the difference is the live view alone.
THRESHOLDS = ("error_rate < 1%", "p(95) < 500ms", "p(99){step=get} < 1s over 10s", "avg < 200ms")
START_DELAY_S = 2.0  # the live view's first tick and server start happen before t0


def main(argv: list[str]) -> int:
    import loadkit.runner.live_feed  # noqa: F401  # before t0 is chosen, on both sides
    from loadkit.runner.core import Arrivals
    from loadkit.runner.live_feed import start_live
    from loadkit.runner.session import Plan, Session
    from loadkit.runner.spec import RunSpec

    url, rate, seconds, mode, out = argv
    offsets_ns = np.asarray(_poisson_offsets_ns(float(rate), float(seconds)), dtype=np.int64)
    n = len(offsets_ns)
    plan = Plan(
        arrivals=Arrivals(np.arange(n, dtype=np.int64), offsets_ns, np.zeros(n, np.int64)),
        personas=[RepeatGet(repeat=1)],
        target_url=url,
    )
    spec = RunSpec(
        run_id=f"bench-live-{mode}",
        scenario_path="-",
        profile_path="-",
        host=url,
        seed=1,
        start_delay_s=START_DELAY_S,
        progress_interval_s=3600,
        thresholds=THRESHOLDS,
        live="127.0.0.1:0" if mode == "on" else None,
    )
    session = Session(spec, tempfile.mkdtemp(prefix="bench-live-"), plan, compact=False)
    live = start_live(session) if mode == "on" else None
    if live is not None:
        t0_s = session.t0_ns / 1e9
        print(f"LIVE {live.server.url} {t0_s:.3f} {t0_s + float(seconds):.3f}", flush=True)
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    result = session.run()
    cpu_s, wall_s = _cpu_s() - cpu0, time.perf_counter() - wall0
    if live is not None:
        live.finish()
    engine = result.engine
    figures = {
        "requests": session.writer.requests_written,
        "arrivals": session.writer.arrivals_written,
        "dropped": engine.dropped if engine else -1,
        "errors": engine.errors if engine else -1,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "seconds": float(seconds),
        "status": result.status.value,
    }
    with open(out, "w") as f:
        json.dump(figures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
