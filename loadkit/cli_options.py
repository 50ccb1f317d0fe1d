"""Flags shared by several ``loadkit`` commands, and how a command ends with an exit code.

A command ends by calling ``finish(code)``; ``loadkit.cli.main`` catches the ``CommandExit``
it raises and exits (the one exit point).
"""

from __future__ import annotations

from pathlib import Path

import click

SCENARIO = click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
PROFILE = click.option(
    "--profile",
    "-p",
    "profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Arrival profile YAML (when the crowd arrives).",
)
SEED = click.option("--seed", type=int, default=None, help="Schedule seed (default: 1).")
THRESHOLDS = click.option(
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


WORKERS = click.option(
    "--workers",
    default=None,
    callback=_workers,
    help="Local worker processes: a number or 'auto' (one per available core; default 1).",
)
LIVE = click.option(
    "--live",
    default=None,
    metavar="HOST:PORT",
    help="Serve /metrics (Prometheus) and a live page during the run, e.g. --live :9646 "
    "(loopback unless a host is given).",
)
LIVE_KEY = click.option(
    "--live-key",
    default=None,
    help="Key for the live page's Stop button; required when --live is not loopback "
    "(or set LOADKIT_LIVE_KEY).",
)


class CommandExit(Exception):
    """Raised by a command to leave ``main`` with ``code`` (``main`` is the one exit point)."""

    def __init__(self, code: int) -> None:
        self.code = code


def finish(code: int) -> None:
    """End the command with exit code ``code``."""
    raise CommandExit(int(code))


__all__ = [
    "LIVE",
    "LIVE_KEY",
    "PROFILE",
    "SCENARIO",
    "SEED",
    "THRESHOLDS",
    "WORKERS",
    "CommandExit",
    "finish",
]
