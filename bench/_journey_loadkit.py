"""The loadkit side of ``python -m bench journey`` (a child process, pinned by taskset).

``python -m bench._journey_loadkit MODE URL USERS WARM_S MEASURE_S OUT`` with MODE ``bare`` (a
hand-written loop: ``visitor.http`` + ``visitor.record``) or ``scenario`` (the same GET from a
compiled scenario: a ``repeat`` step whose body is a request step with a templated header,
``expect`` and a capture). USERS visitors loop until the window ends; requests are counted
over the window after the warm-up, with the process CPU time they took.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402

from loadkit.results.schema import Outcome  # noqa: E402

SCENARIO = """\
name: bench
variables:
  until: "{{ float(env.BENCH_UNTIL) }}"
env: {BENCH_UNTIL: "0"}
personas:
  looper:
    steps:
      - name: loop
        repeat:
          while: "now() < until"
          steps:
            - name: get
              request:
                path: /index.html
                headers: {X-Visitor: "v{{ arrival_id }}"}
              expect: {status: 200, text: loadkit bench}  # a body check, as real pages need
              capture: {_len: {header: Content-Length}}
"""


def _bare(visitor: Any, until: float) -> None:
    http, record, ok, bad = visitor.http, visitor.record, Outcome.OK, Outcome.HTTP_ERROR
    i = visitor.arrival_id
    while time.time() < until:
        r = http("GET", "/index.html", name="GET /index.html", step="get",
                 headers={"X-Visitor": f"v{i}"})  # fmt: skip
        record(r, ok if r.status == 200 else bad)


def main(argv: list[str]) -> int:
    from loadkit.runner.clock import Clock
    from loadkit.runner.journey import compile_scenario
    from loadkit.runner.recorder import Recorder
    from loadkit.runner.visitor import Target, Visitor
    from loadkit.scenario import load_scenario

    mode, url, users, warm_s, measure_s, out = argv
    n_users, warm, measure = int(users), float(warm_s), float(measure_s)
    start = time.time()
    until = start + warm + measure
    path = Path(tempfile.mkdtemp()) / "bench.yaml"
    path.write_text(SCENARIO)
    persona = compile_scenario(load_scenario(path), seed=1,
                               environ={"BENCH_UNTIL": str(until)}).personas[0]  # fmt: skip
    recorder, clock, target = Recorder(), Clock.measure(), Target.from_url(url)
    visitors = [Visitor(i, "looper", seed=1, target=target, recorder=recorder, clock=clock)
                for i in range(n_users)]  # fmt: skip
    run = (lambda v: _bare(v, until)) if mode == "bare" else persona.run
    counted: list[int] = []
    cpu: list[float] = []

    def count() -> None:
        gevent.sleep(max(0.0, start + warm - time.time()))
        before, cpu_before = sum(v.requests for v in visitors), time.process_time()
        gevent.sleep(measure)
        counted.append(sum(v.requests for v in visitors) - before)
        cpu.append(time.process_time() - cpu_before)

    def drain() -> None:  # what the flusher would do: hand rows over, keep memory flat
        while time.time() < until:
            recorder.take()
            gevent.sleep(0.5)

    jobs = [gevent.spawn(run, v) for v in visitors] + [gevent.spawn(count), gevent.spawn(drain)]
    gevent.joinall(jobs)
    errors = sum(v.errors for v in visitors)
    result = {"requests": counted[0], "seconds": measure, "cpu_s": cpu[0], "errors": errors}
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
