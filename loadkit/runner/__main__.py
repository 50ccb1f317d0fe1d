"""``python -m loadkit.runner RUN_DIR``: run the load described by ``RUN_DIR/run-spec.json``.

Monkey-patches first thing (before anything imports sockets), runs, and exits with the run's
exit code: 0 completed (the verdict is the CLI's business), 1 stopped by an ``abort after``
threshold (a gate failed; manifest ``aborted`` with ``aborted_by_threshold``), 2 bad input
(nothing was sent), 3 the runner itself failed (manifest ``failed``), 130 interrupted
(SIGINT/SIGTERM; manifest ``aborted``).
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from loadkit.errors import ExitCode, LoadkitError  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m loadkit.runner RUN_DIR", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    from loadkit.runner.plan import load_plan
    from loadkit.runner.process import progress_printer, run_session
    from loadkit.runner.session import Session
    from loadkit.runner.spec import RunSpec

    run_dir = Path(argv[0])
    try:
        spec = RunSpec.load(run_dir)
        if spec.live:  # import the live view (pandas, the server) before t0 is chosen
            import loadkit.runner.live_feed  # noqa: F401
        plan = load_plan(spec)
        session = Session(spec, run_dir, plan, on_progress=progress_printer(sys.stderr))
        return run_session(session)
    except LoadkitError as exc:
        print(f"loadkit runner: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    except Exception:  # a loadkit bug: show it, and call the run invalid rather than failed
        traceback.print_exc()
        print("loadkit runner: internal error (above); the run is invalid", file=sys.stderr)
        return int(ExitCode.INVALID)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
