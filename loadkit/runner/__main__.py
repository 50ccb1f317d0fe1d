"""``python -m loadkit.runner RUN_DIR``: run the load described by ``RUN_DIR/run-spec.json``.

Monkey-patches first thing (before anything imports sockets), runs, and exits with the run's
exit code: 0 completed, 2 bad input (nothing ran), 3 the runner failed, 130 interrupted.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
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
        plan = load_plan(spec)
        session = Session(spec, run_dir, plan, on_progress=progress_printer(sys.stderr))
    except LoadkitError as exc:
        print(f"loadkit runner: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    return run_session(session)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
