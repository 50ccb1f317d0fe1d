"""A runner process on plain inputs (no YAML), for the process-level tests.

``python -m tests.runner.plain_run RUN_DIR URL ARRIVALS RATE_PER_S REPEAT THINK_S``
runs the same signal handling, flushing and manifest code as ``python -m loadkit.runner``.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import numpy as np  # noqa: E402


def main(argv: list[str]) -> int:
    from loadkit.runner.core import Arrivals
    from loadkit.runner.process import progress_printer, run_session
    from loadkit.runner.session import Plan, Session
    from loadkit.runner.spec import RunSpec
    from tests.runner.standins import GetLoop

    run_dir, url, n, rate, repeat, think = argv
    count = int(n)
    offsets = (np.arange(count) / float(rate) * 1e9).astype(np.int64)
    plan = Plan(
        arrivals=Arrivals(np.arange(count, dtype=np.int64), offsets, np.zeros(count, np.int64)),
        personas=[GetLoop(repeat=int(repeat), think_s=float(think))],
        target_url=url,
        run_info={"planned": {"arrivals": count}},
    )
    spec = RunSpec(
        run_id="plain",
        scenario_path="-",
        profile_path="-",
        host=url,
        seed=1,
        flush_interval_s=0.2,
        progress_interval_s=0.5,
        start_delay_s=0.1,
    )
    session = Session(spec, run_dir, plan, on_progress=progress_printer(sys.stderr))
    return run_session(session)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
