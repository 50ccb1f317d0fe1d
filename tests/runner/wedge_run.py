"""A runner process whose crowd wedges the gevent loop, for the stop-guarantee and no-hang tests.

``python -m tests.runner.wedge_run RUN_DIR URL MODE [--planned-end]`` runs the real signal
handling, watchdog, flushing and manifest code of ``python -m loadkit.runner`` on plain inputs:
40 arrivals at 20/s each GET ``/`` once; arrival 20 then wedges its greenlet in CPU-bound work,
forever: ``MODE`` ``spin`` loops in Python bytecode, ``bigint`` raises 3 to the 10**9th power
(one C call holding the GIL for minutes, as ``{{ x * x }}`` in a 40-times ``repeat`` soon does).
Prints ``wedged`` on stderr when it starts.

Without ``--planned-end`` nobody but a stop ends it (the stop-guarantee tests); with it, the
run has a planned end, a 2 s profile and 0.5 s of drain, and nobody stops it (the no-hang
tests: the watchdog or the CLI must end it).
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from loadkit.results.schema import ArrivalOutcome, Outcome  # noqa: E402
from loadkit.runner.journey import JourneyEnd  # noqa: E402
from loadkit.runner.visitor import Visitor  # noqa: E402

WEDGE_AT = 20
PROFILE_S = 2.0  # with --planned-end
DRAIN_S = 0.5


@dataclass(frozen=True)
class Wedger:
    mode: str
    name: str = "wedger"

    def run(self, visitor: Visitor) -> JourneyEnd:
        result = visitor.http("GET", "/", name="/", step="get")
        visitor.record(result, Outcome.OK if result.status == 200 else Outcome.HTTP_ERROR)
        if visitor.arrival_id == WEDGE_AT:
            print("wedged", file=sys.stderr, flush=True)
            if self.mode == "spin":
                n = 0
                while True:
                    n += 1
            x = 3 ** (10**9)  # one C call, minutes long, GIL held throughout
            print(x.bit_length(), file=sys.stderr)
        return JourneyEnd(ArrivalOutcome.COMPLETED, None, "get")


def main(argv: list[str]) -> int:
    from loadkit.runner.core import Arrivals
    from loadkit.runner.process import progress_printer, run_session
    from loadkit.runner.session import Plan, Session
    from loadkit.runner.spec import RunSpec

    run_dir, url, mode, *flags = argv
    planned_end = flags == ["--planned-end"]
    count = 40
    offsets = (np.arange(count) / 20.0 * 1e9).astype(np.int64)
    run_info: dict[str, Any] = {"planned": {"arrivals": count}}
    settings: dict[str, dict[str, Any]] = {}
    if planned_end:
        run_info["duration_s"] = PROFILE_S
        settings["drain_s"] = {"value": DRAIN_S, "source": "flag"}
    plan = Plan(
        arrivals=Arrivals(np.arange(count, dtype=np.int64), offsets, np.zeros(count, np.int64)),
        personas=[Wedger(mode)],
        target_url=url,
        run_info=run_info,
    )
    spec = RunSpec(
        run_id="overrun" if planned_end else "wedge", scenario_path="-", profile_path="-",
        host=url, seed=1, flush_interval_s=0.2, progress_interval_s=0.5, start_delay_s=0.1,
        drain_timeout_s=DRAIN_S if planned_end else None, settings=settings,
    )  # fmt: skip
    session = Session(spec, run_dir, plan, on_progress=progress_printer(sys.stderr))
    return run_session(session)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
