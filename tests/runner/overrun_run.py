"""A runner whose crowd wedges the gevent loop and nobody stops it, for the no-hang tests.

``python -m tests.runner.overrun_run RUN_DIR URL MODE``: ``tests.runner.wedge_run``'s crowd
(40 arrivals at 20/s, arrival 20 wedges at t0 + 1 s: ``spin`` in Python bytecode, ``bigint`` in
one C call holding the GIL) with a planned end: a 2 s profile and 0.5 s of drain.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import numpy as np  # noqa: E402

from tests.runner.wedge_run import Wedger  # noqa: E402

PROFILE_S = 2.0
DRAIN_S = 0.5


def main(argv: list[str]) -> int:
    from loadkit.runner.core import Arrivals
    from loadkit.runner.process import progress_printer, run_session
    from loadkit.runner.session import Plan, Session
    from loadkit.runner.spec import RunSpec

    run_dir, url, mode = argv
    count = 40
    offsets = (np.arange(count) / 20.0 * 1e9).astype(np.int64)
    plan = Plan(
        arrivals=Arrivals(np.arange(count, dtype=np.int64), offsets, np.zeros(count, np.int64)),
        personas=[Wedger(mode)],
        target_url=url,
        run_info={"planned": {"arrivals": count}, "duration_s": PROFILE_S},
    )
    spec = RunSpec(
        run_id="overrun", scenario_path="-", profile_path="-", host=url, seed=1,
        flush_interval_s=0.2, progress_interval_s=0.5, start_delay_s=0.1,
        drain_timeout_s=DRAIN_S, settings={"drain_s": {"value": DRAIN_S, "source": "flag"}},
    )  # fmt: skip
    session = Session(spec, run_dir, plan, on_progress=progress_printer(sys.stderr))
    return run_session(session)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
