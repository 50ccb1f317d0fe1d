"""The ``loadkit`` commands of a distributed run: ``master``, ``worker`` and ``results merge``.

Registered on the ``loadkit`` group by ``loadkit.cli``; like every command, each body
delegates to ``loadkit.rehearsal`` and ends with ``finish(code)`` (docs/distributed.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from loadkit.cli_options import LIVE, LIVE_KEY, PROFILE, SCENARIO, SEED, THRESHOLDS, finish


@click.command()
@SCENARIO
@PROFILE
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@click.option(
    "--bind",
    default=None,
    help="Address to listen on for workers (default: 127.0.0.1; any other needs a cluster key).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File holding the cluster key workers must prove (else $LOADKIT_CLUSTER_KEY).",
)
@click.option("--port", type=int, default=None, help="Port to listen on (default: 5557).")
@click.option("--expect-workers", type=int, default=None, help="Workers to wait for (default 1).")
@click.option(
    "--worker-wait",
    type=float,
    default=None,
    help="Seconds to wait for them before giving up (exit 3; default 60).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--run-id", default=None)
@SEED
@THRESHOLDS
@click.option("--dry-run", is_flag=True, help="Connect and plan, send no load.")
@click.option("--no-analyze", is_flag=True)
@LIVE
@LIVE_KEY
def master(
    scenario: Path,
    profile: Path | None,
    host: str | None,
    bind: str | None,
    key_file: Path | None,
    port: int | None,
    expect_workers: int | None,
    worker_wait: float | None,
    out_dir: Path | None,
    run_id: str | None,
    seed: int | None,
    thresholds_file: Path | None,
    dry_run: bool,
    no_analyze: bool,
    live: str | None,
    live_key: str | None,
) -> None:
    """Coordinate workers on other machines: hand out shards and t0, collect the records."""
    from loadkit.rehearsal import MasterRequest, RunRequest, rehearse

    request = RunRequest(
        scenario=scenario,
        profile=profile,
        host=host,
        out_dir=out_dir,
        seed=seed,
        thresholds_file=thresholds_file,
        run_id=run_id,
        analyze=not no_analyze,
        master=MasterRequest(bind, port, expect_workers, worker_wait, dry_run, key_file),
        live=live,
        live_key=live_key,
    )
    finish(rehearse(request, echo=click.echo))


@click.command()
@click.option("--master", "master_address", required=True, help="HOST[:PORT] of the master.")
@click.option(
    "--worker-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where this worker keeps its own record segments.",
)
@click.option("--scenario-sha256", default=None, help="Refuse any other scenario.")
@click.option(
    "--connect-timeout",
    type=float,
    default=None,
    help="Seconds to keep trying to reach the master (default 30).",
)
@click.option(
    "--master-timeout",
    type=float,
    default=None,
    help="Stop load when the master is silent this long (default 5 s).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File holding the cluster key (else $LOADKIT_CLUSTER_KEY).",
)
def worker(
    master_address: str,
    worker_dir: Path | None,
    scenario_sha256: str | None,
    connect_timeout: float | None,
    master_timeout: float | None,
    key_file: Path | None,
) -> None:
    """Join a master and run the shards of the crowd it hands out."""
    from loadkit.rehearsal import WorkerFlags, run_worker

    flags = WorkerFlags(
        master=master_address,
        worker_dir=None if worker_dir is None else str(worker_dir),
        scenario_sha256=scenario_sha256,
        connect_timeout_s=connect_timeout,
        master_timeout_s=master_timeout,
    )
    finish(run_worker(flags, key_file, echo=click.echo))


@click.group()
def results() -> None:
    """Work with results folders."""


@results.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument(
    "worker_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
def merge(run_dir: Path, worker_dirs: tuple[Path, ...]) -> None:
    """Complete a distributed run from the workers' own folders (when the stream was cut)."""
    from loadkit.rehearsal import merge_worker_folders

    code, summary = merge_worker_folders(run_dir, worker_dirs)
    click.echo(summary)
    finish(code)


__all__ = ["master", "results", "worker"]
