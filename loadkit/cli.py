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
from loadkit.cli_distributed import master, results, worker
from loadkit.cli_options import (
    LIVE,
    LIVE_KEY,
    PROFILE,
    SCENARIO,
    SEED,
    THRESHOLDS,
    WORKERS,
    CommandExit,
    finish,
)
from loadkit.errors import ExitCode, LoadkitError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loadkit")
def cli() -> None:
    """Rehearse ticket on-sales under traffic spikes.

    \b
    Exit codes: 0 passed · 1 a gate failed · 2 bad input or usage
                3 run invalid or inconclusive · 130 interrupted
    """


@cli.command()
@SCENARIO
@PROFILE
@THRESHOLDS
def validate(scenario: Path, profile: Path | None, thresholds_file: Path | None) -> None:
    """Check a scenario (and a profile, thresholds) and report every problem in one pass."""
    from loadkit.rehearsal import validate_files

    click.echo(validate_files(scenario, profile, thresholds_file))


@cli.command()
@SCENARIO
@PROFILE
@SEED
def plan(scenario: Path, profile: Path | None, seed: int | None) -> None:
    """Print the expected arrivals per phase, the peak rate, the total and visitors in flight."""
    from loadkit.rehearsal import plan_text

    click.echo(plan_text(scenario, profile, seed))


@cli.command()
@SCENARIO
@PROFILE
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Results folder root (default: results/).",
)
@SEED
@THRESHOLDS
@click.option("--max-in-flight", type=int, default=None, help="In-flight visitor cap per worker.")
@WORKERS
@click.option("--run-id", default=None, help="Name of the run folder (default: time-scenario).")
@click.option(
    "--drain",
    "drain",
    default=None,
    help="After the profile ends, how long journeys may finish (default 60s).",
)
@click.option("--no-analyze", is_flag=True, help="Only record; analyze later with 'analyze'.")
@LIVE
@LIVE_KEY
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
    finish(rehearse(request, echo=click.echo))


@cli.command()
@SCENARIO
@PROFILE
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@THRESHOLDS
@click.option("--require", "require", default=None, help="Exit 1 unless it holds this rate.")
@click.option("--max", "max_rate", default=None, help="Never probe above this rate.")
@click.option("--start", "start", default=None, help="First probe's rate (default: the shape's).")
@click.option("--budget", default="10m", show_default=True, help="Stop searching after this.")
@click.option("--cooldown", default="5s", show_default=True, help="Pause between probes.")
@click.option("--repeats", type=int, default=2, show_default=True, help="Probes per boundary.")
@click.option("--resolution", default="5%", show_default=True, help="Gap holds..fails to stop.")
@click.option("--probe-length", default=None, help="Squeeze the shape to this long a probe.")
@click.option("--drain", default="10s", show_default=True, help="Per probe, after the shape.")
@WORKERS
@SEED
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
    finish(find_capacity(request, echo=click.echo))


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@THRESHOLDS
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

    finish(analyze_run(run_dir, thresholds_file, baseline, csv=csv_prefix, echo=click.echo))


@cli.command(name="try")
@SCENARIO
@click.option("--host", default=None, help="Target base URL (default: the scenario's host).")
@click.option("--persona", default=None, help="Only this persona (default: one of each).")
@SEED
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

    finish(try_scenario(scenario, host, persona, seed, time_scale=time_scale))


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
@PROFILE
@click.option("--port", type=int, default=0, help="Demo shop port (default: a free one).")
@SEED
def demo(scenario: Path | None, profile: Path | None, port: int, seed: int | None) -> None:
    """Start the demo shop, rehearse the on-sale against it, print the verdict."""
    from loadkit.demo_rehearsal import run_demo

    finish(run_demo(scenario, profile, port, seed, echo=click.echo))


@cli.command(
    name="demo-shop",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def demo_shop(ctx: click.Context) -> None:
    """Serve the demo ticket shop in the foreground (--help for its options)."""
    from loadkit.demo import main as shop_main

    finish(shop_main(list(ctx.args)))


for _command in (master, worker, results):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, map errors to exit codes, exit."""
    code: int = ExitCode.PASSED
    try:
        cli.main(args=argv, prog_name="loadkit", standalone_mode=False)
    except CommandExit as done:
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
