"""The ``loadkit`` command line: the only place that prints for the user and exits.

Every command body delegates to the library in a line or two. Library code raises
``LoadkitError`` subclasses; ``main`` turns them into a one-paragraph message and the
documented exit code (0 passed · 1 gate failed · 2 bad input · 3 invalid · 130 interrupted).
Heavy imports (pandas, matplotlib) happen inside the commands so ``loadkit --help`` is quick;
gevent and locust are never imported here (the runner is a child process).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadkit import __version__
from loadkit.errors import ExitCode, LoadkitError

_SCENARIO = click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
_PROFILE = click.option(
    "--profile",
    "-p",
    "profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Arrival profile YAML (when the crowd arrives).",
)
_SEED = click.option("--seed", type=int, default=None, help="Schedule seed (default: 1).")
_THRESHOLDS = click.option(
    "--thresholds",
    "-t",
    "thresholds_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Extra thresholds file (YAML list or one expression per line).",
)


def _workers(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--workers N`` or ``--workers auto`` (one local worker per available core)."""
    if value is None:
        return None
    if value.strip().lower() == "auto":
        from loadkit.capacity.workers import available_cores

        return available_cores()
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"expected a number or 'auto', got {value!r}") from None


_WORKERS = click.option(
    "--workers",
    default=None,
    callback=_workers,
    help="Local worker processes: a number or 'auto' (one per available core; default 1).",
)
_LIVE = click.option(
    "--live",
    default=None,
    metavar="HOST:PORT",
    help="Serve /metrics (Prometheus) and a live page during the run, e.g. --live :9646 "
    "(loopback unless a host is given).",
)
_LIVE_KEY = click.option(
    "--live-key",
    default=None,
    help="Key for the live page's Stop button; required when --live is not loopback "
    "(or set LOADKIT_LIVE_KEY).",
)


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _finish(code: int) -> None:
    raise _Exit(int(code))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loadkit")
def cli() -> None:
    """Rehearse ticket on-sales under traffic spikes.

    \b
    Exit codes: 0 passed · 1 a gate failed · 2 bad input or usage
                3 run invalid or inconclusive · 130 interrupted
    """


@cli.command()
@_SCENARIO
@_PROFILE
@_THRESHOLDS
def validate(scenario: Path, profile: Path | None, thresholds_file: Path | None) -> None:
    """Check a scenario (and a profile, thresholds) and report every problem in one pass."""
    from loadkit.rehearsal import validate_files

    click.echo(validate_files(scenario, profile, thresholds_file))


@cli.command()
@_SCENARIO
@_PROFILE
@_SEED
def plan(scenario: Path, profile: Path | None, seed: int | None) -> None:
    """Print the expected arrivals per phase, the peak rate, the total and visitors in flight."""
    from loadkit.rehearsal import plan_text

    click.echo(plan_text(scenario, profile, seed))


@cli.command()
@_SCENARIO
@_PROFILE
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Results folder root (default: results/).",
)
@_SEED
@_THRESHOLDS
@click.option("--max-in-flight", type=int, default=None, help="In-flight visitor cap per worker.")
@_WORKERS
@click.option("--run-id", default=None, help="Name of the run folder (default: time-scenario).")
@click.option(
    "--drain",
    "drain",
    default=None,
    help="After the profile ends, how long journeys may finish (default 60s).",
)
@click.option("--no-analyze", is_flag=True, help="Only record; analyze later with 'analyze'.")
@_LIVE
@_LIVE_KEY
def run(
    scenario: Path,
    profile: Path | None,
    host: str | None,
    out_dir: Path | None,
    seed: int | None,
    thresholds_file: Path | None,
    max_in_flight: int | None,
    workers: int | None,
    run_id: str | None,
    drain: str | None,
    no_analyze: bool,
    live: str | None,
    live_key: str | None,
) -> None:
    """Replay the crowd against a target, record every request, then analyze."""
    from loadkit.rehearsal import RunRequest, rehearse

    request = RunRequest(
        scenario=scenario,
        profile=profile,
        host=host,
        out_dir=out_dir,
        seed=seed,
        thresholds_file=thresholds_file,
        max_in_flight=max_in_flight,
        workers=workers,
        run_id=run_id,
        analyze=not no_analyze,
        drain_s=drain,
        live=live,
        live_key=live_key,
    )
    _finish(rehearse(request, echo=click.echo))


@cli.command()
@_SCENARIO
@_PROFILE
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@_THRESHOLDS
@click.option("--require", "require", default=None, help="Exit 1 unless it holds this rate.")
@click.option("--max", "max_rate", default=None, help="Never probe above this rate.")
@click.option("--start", "start", default=None, help="First probe's rate (default: the shape's).")
@click.option("--budget", default="10m", show_default=True, help="Stop searching after this.")
@click.option("--cooldown", default="5s", show_default=True, help="Pause between probes.")
@click.option("--repeats", type=int, default=2, show_default=True, help="Probes per boundary.")
@click.option("--resolution", default="5%", show_default=True, help="Gap holds..fails to stop.")
@click.option("--probe-length", default=None, help="Squeeze the shape to this long a probe.")
@click.option("--drain", default="10s", show_default=True, help="Per probe, after the shape.")
@_WORKERS
@_SEED
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Results folder root (default: results/).",
)
def capacity(
    scenario: Path,
    profile: Path | None,
    host: str | None,
    thresholds_file: Path | None,
    require: str | None,
    max_rate: str | None,
    start: str | None,
    budget: str,
    cooldown: str,
    repeats: int,
    resolution: str,
    probe_length: str | None,
    drain: str,
    workers: int | None,
    seed: int | None,
    out_dir: Path | None,
) -> None:
    """Find the largest crowd (peak arrivals/s of the profile's shape) the target holds while
    every gate passes: step up, bisect, confirm. Exit 0 meets --require, 1 not, 3 inconclusive."""
    from loadkit.capacity_rehearsal import capacity_request, find_capacity

    request = capacity_request(
        scenario, profile, host, thresholds_file, require=require, max_rate=max_rate,
        start=start, budget=budget, cooldown=cooldown, repeats=repeats, resolution=resolution,
        probe_length=probe_length, drain=drain, workers=workers, seed=seed, out_dir=out_dir,
    )  # fmt: skip
    _finish(find_capacity(request, echo=click.echo))


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@_THRESHOLDS
@click.option(
    "--baseline",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A previous run to compare with.",
)
@click.option(
    "--csv",
    "csv_prefix",
    is_flag=True,
    help="RUN_DIR is a plain Locust --csv prefix (e.g. out/run for out/run_stats.csv).",
)
def analyze(
    run_dir: Path, thresholds_file: Path | None, baseline: Path | None, csv_prefix: bool
) -> None:
    """Analyze a recorded run (offline, on any machine) and write its reports."""
    from loadkit.rehearsal import analyze_run

    _finish(analyze_run(run_dir, thresholds_file, baseline, csv=csv_prefix, echo=click.echo))


@cli.command(name="try")
@_SCENARIO
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@click.option("--persona", default=None, help="Only this persona (default: one of each).")
@_SEED
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Multiply every wait (think, poll, backoff), e.g. 0.1 (default 1).",
)
def try_(
    scenario: Path, host: str | None, persona: str | None, seed: int | None,
    time_scale: float | None,
) -> None:  # fmt: skip
    """Run one visitor of each persona and print every request, status, time and capture."""
    from loadkit.rehearsal import try_scenario

    _finish(try_scenario(scenario, host, persona, seed, time_scale=time_scale))


@cli.command(name="import-har")
@click.argument("har_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the scenario to this file (default: print it).",
)
def import_har(har_file: Path, output: Path | None) -> None:
    """Turn a browser recording (HAR) into a scenario skeleton (printed, or written to -o)."""
    from loadkit.har import import_har_to

    click.echo(import_har_to(har_file, output), nl=False)


@cli.command()
@click.option("--scenario", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_PROFILE
@click.option("--port", type=int, default=0, help="Demo shop port (default: a free one).")
@_SEED
def demo(scenario: Path | None, profile: Path | None, port: int, seed: int | None) -> None:
    """Start the demo shop, rehearse the on-sale against it, print the verdict."""
    from loadkit.demo_rehearsal import run_demo

    _finish(run_demo(scenario, profile, port, seed, echo=click.echo))


@cli.command(
    name="demo-shop",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def demo_shop(ctx: click.Context) -> None:
    """Serve the demo ticket shop in the foreground (--help for its options)."""
    from loadkit.demo import main as shop_main

    _finish(shop_main(list(ctx.args)))


@cli.command()
@_SCENARIO
@_PROFILE
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
@_SEED
@_THRESHOLDS
@click.option("--dry-run", is_flag=True, help="Connect and plan, send no load.")
@click.option("--no-analyze", is_flag=True)
@_LIVE
@_LIVE_KEY
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
    _finish(rehearse(request, echo=click.echo))


@cli.command()
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
    _finish(run_worker(flags, key_file, echo=click.echo))


@cli.group()
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
    _finish(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, map errors to exit codes, exit."""
    code: int = ExitCode.PASSED
    try:
        cli.main(args=argv, prog_name="loadkit", standalone_mode=False)
    except _Exit as done:
        code = done.code
    except LoadkitError as exc:
        click.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        code = ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = ExitCode.BAD_INPUT
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    sys.exit(int(code))


if __name__ == "__main__":
    main()
