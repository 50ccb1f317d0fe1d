"""``python -m loadkit.runner.distributed master RUN_DIR | worker --master HOST[:PORT] ...``.

The process entry points of distributed replay. gevent patches the process first (before
anything opens a socket); then the master or the worker runs to its end and the exit code is
loadkit's usual one: 0 done · 2 bad input (bad address, refused worker) · 3 invalid (no
workers came, the master was lost) · 130 interrupted.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from loadkit.errors import ExitCode, InputError, LoadkitError  # noqa: E402
from loadkit.runner.distributed.auth import load_cluster_key  # noqa: E402
from loadkit.runner.distributed.options import WorkerOptions  # noqa: E402
from loadkit.runner.distributed.worker_spec import (  # noqa: E402
    WorkerFlags,
    load_worker_spec,
    resolve_worker,
)


def _echo(line: str) -> None:
    print(line, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadkit.runner.distributed")
    sub = parser.add_subparsers(dest="role", required=True)
    master = sub.add_parser("master", help="coordinate the workers of the run in RUN_DIR")
    master.add_argument("run_dir", type=Path, help="run folder holding run-spec.json (mode master)")
    worker = sub.add_parser("worker", help="join a master and run the shards it hands out")
    # No defaults here: unset options are resolved (LOADKIT_* environment, then the defaults
    # in options.py) by worker_spec.resolve_worker, as for ``loadkit worker``.
    worker.add_argument("--spec", default=None, help="worker spec file (written by loadkit)")
    worker.add_argument("--master", default=None, help="HOST[:PORT] of the master (port 5557)")
    worker.add_argument(
        "--worker-dir", default=None, help="where this worker keeps its own segments"
    )
    worker.add_argument(
        "--scenario-sha256", default=None, help="refuse any scenario but this sha256"
    )
    worker.add_argument(
        "--connect-timeout", default=None, help="seconds to keep trying to reach the master"
    )
    worker.add_argument(
        "--master-timeout", default=None, help="stop load when the master is this long silent"
    )
    worker.add_argument(
        "--key-file",
        default=None,
        help="file holding the cluster key (else LOADKIT_CLUSTER_KEY; never the key itself)",
    )
    return parser


def _worker_options(args: argparse.Namespace) -> WorkerOptions:
    key = load_cluster_key(args.key_file)
    if args.spec is not None:
        return load_worker_spec(args.spec, key)
    if args.master is None:
        raise InputError("a worker needs --master HOST[:PORT] (or --spec FILE)")
    flags = WorkerFlags(
        args.master,
        args.worker_dir,
        args.scenario_sha256,
        args.connect_timeout,
        args.master_timeout,
    )
    return replace(resolve_worker(flags), key=key)


def main(argv: list[str] | None = None) -> int:
    """Run the master or a worker; returns the exit code (errors printed on stderr)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage
        return ExitCode.PASSED if exc.code == 0 else ExitCode.BAD_INPUT
    try:
        if args.role == "master":
            from loadkit.runner.distributed.master import run_master

            return run_master(args.run_dir, _echo)
        from loadkit.runner.distributed.worker import run_worker

        return run_worker(_worker_options(args), _echo)
    except LoadkitError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
