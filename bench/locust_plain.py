"""The plain-Locust side of ``python -m bench runner``: a FastHttpUser GET loop, no wait time.

Run by the locust CLI (``locust -f bench/locust_plain.py --headless ...``). A greenlet started
at test_start counts Locust's own total requests over a measurement window (after a warm-up)
and the process's CPU time over it, and writes ``{"requests", "seconds", "cpu_s"}`` to
$LOADKIT_BENCH_OUT; no per-request hook is added.
"""

import json
import os
import resource
import time

import gevent
from locust import FastHttpUser, constant, events, task

PATH = os.environ.get("LOADKIT_BENCH_PATH", "/index.html")
WARM_S = float(os.environ.get("LOADKIT_BENCH_WARM_S", "2"))
MEASURE_S = float(os.environ.get("LOADKIT_BENCH_MEASURE_S", "6"))


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get(PATH)


def _measure(environment) -> None:  # type: ignore[no-untyped-def]
    gevent.sleep(WARM_S)
    stats = environment.runner.stats.total
    n0, t0, c0 = stats.num_requests, time.perf_counter(), _cpu_s()
    gevent.sleep(MEASURE_S)
    n1, t1, c1 = stats.num_requests, time.perf_counter(), _cpu_s()
    out = {
        "requests": n1 - n0,
        "seconds": t1 - t0,
        "cpu_s": c1 - c0,
        "failures": stats.num_failures,
    }
    with open(os.environ["LOADKIT_BENCH_OUT"], "w") as f:
        json.dump(out, f)


def _cpu_s() -> float:
    """User + system CPU seconds of this process (threads included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    gevent.spawn(_measure, environment)
