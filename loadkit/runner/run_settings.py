"""Resolve a run's settings once, with their source, and turn them into the typed ``RunSpec``.

Every process of a run gets its settings from here, one way: the CLI resolves them (flag >
``LOADKIT_*`` environment > scenario file > ``loadkit.runner.defaults``), writes the frozen
``RunSpec`` (local runner, master; the master hands it on to its workers) and records
``settings`` (value + source) in the manifest. ``loadkit plan`` and ``loadkit try`` resolve
their seed (and ``try`` its timeouts) with the same functions, so they see what ``run`` sees.
No gevent here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location, did_you_mean
from loadkit.runner import defaults
from loadkit.runner.distributed.options import DEFAULT_PORT, DEFAULT_WORKER_WAIT_S
from loadkit.scenario.models import Scenario
from loadkit.settings import Setting, Source, non_negative_int, positive_int, resolve
from loadkit.units import parse_duration_s


def positive_seconds(value: Any) -> float:
    """A duration above 0 (a number of seconds, or text such as ``8s``, ``500ms``)."""
    seconds = parse_duration_s(value) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("expected a duration above 0, e.g. 10s")
    return seconds


def non_negative_seconds(value: Any) -> float:
    """A duration of 0 or more (a number of seconds, or text such as ``30s``)."""
    seconds = parse_duration_s(value) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("expected a duration of 0 or more, e.g. 30s")
    return seconds


@dataclass(frozen=True)
class RunFlags:
    """What the command line said (``None`` = not given). Nothing here has a default."""

    host: str | None = None
    seed: int | None = None
    max_in_flight: int | None = None
    workers: int | None = None
    drain_s: float | str | None = None
    master_bind: str | None = None
    master_port: int | None = None
    expect_workers: int | None = None
    worker_wait_s: float | None = None
    dry_run: bool = False
    master: bool = False  # ``loadkit master``: wait for remote workers


@dataclass(frozen=True)
class _Def:
    """One setting: its default, how a raw value parses, and the scenario field that may set it."""

    default: Any
    parse: Callable[[Any], Any]
    file_field: str | None = None
    flag: str | None = None  # the command-line option, when not ``--`` + the dashed name


# The settings every run resolves (the master's are added by ``_master_settings``).
RUN_SETTINGS: dict[str, _Def] = {
    "host": _Def(None, str),
    "seed": _Def(defaults.DEFAULT_SEED, non_negative_int),
    "max_in_flight": _Def(defaults.DEFAULT_MAX_IN_FLIGHT, positive_int, "max_in_flight"),
    "workers": _Def(defaults.DEFAULT_WORKERS, positive_int),
    "shards": _Def(defaults.DEFAULT_SHARDS, positive_int, "shards"),
    "request_timeout_s": _Def(
        defaults.DEFAULT_REQUEST_TIMEOUT_S, positive_seconds, "request_timeout_s"
    ),
    "connect_timeout_s": _Def(
        defaults.DEFAULT_CONNECT_TIMEOUT_S, positive_seconds, "connect_timeout_s"
    ),
    "drain_s": _Def(defaults.DEFAULT_DRAIN_S, non_negative_seconds, flag="--drain"),
}


def resolve_one(
    name: str,
    flag: Any,
    scenario: Scenario | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Setting:
    """One setting of ``RUN_SETTINGS``: flag > ``LOADKIT_<NAME>`` > scenario > default.

    Raises InputError naming the flag, the variable or the scenario file for a bad value.
    """
    d = RUN_SETTINGS[name]
    file_value = None
    if scenario is not None:
        if name == "host":
            file_value = scenario.host
        elif d.file_field is not None:
            file_value = getattr(scenario.settings, d.file_field)
    where = str(scenario.path) if scenario is not None else ""
    return resolve(
        name,
        cli=flag,
        file=file_value,
        file_detail=where,
        default=d.default,
        parse=d.parse,
        environ=environ,
        flag=d.flag,
    )


def resolve_run_settings(
    flags: RunFlags, scenario: Scenario, *, environ: Mapping[str, str] | None = None
) -> dict[str, Setting]:
    """Every setting of a run with where it came from. Raises InputError (exit 2) for a bad
    value or when no target host is given anywhere."""
    cli = {
        "host": flags.host,
        "seed": flags.seed,
        "max_in_flight": flags.max_in_flight,
        "workers": flags.workers,
        "drain_s": flags.drain_s,
    }
    settings = {
        name: resolve_one(name, cli.get(name), scenario, environ=environ) for name in RUN_SETTINGS
    }
    if flags.master:
        settings.pop("workers")
    settings.update(_master_settings(flags, int(settings.get("workers", _ONE).value), environ))
    if settings["host"].value is None:
        raise InputError(
            "no target host.",
            location=Location(str(scenario.path)),
            hint="Pass --host http://HOST:PORT or set 'host:' in the scenario.",
        )
    return settings


_ONE = Setting(1, Source.DEFAULT)


def _master_settings(
    flags: RunFlags, workers: int, environ: Mapping[str, str] | None
) -> dict[str, Setting]:
    """Master settings (read by ``loadkit.runner.distributed``) for ``master`` or --workers N."""
    if not flags.master and workers <= 1:
        return {}
    if not flags.master:  # run --workers N: the master starts N local workers on 127.0.0.1
        return {
            "local_workers": Setting(workers, Source.CLI, "--workers"),
            "expect_workers": Setting(workers, Source.CLI, "--workers"),
            "master_bind": Setting("127.0.0.1", Source.DEFAULT),
        }
    return {
        "master_bind": resolve(
            "master_bind", cli=flags.master_bind, default="127.0.0.1", environ=environ
        ),
        "master_port": resolve(
            "master_port",
            cli=flags.master_port,
            default=DEFAULT_PORT,
            parse=positive_int,
            environ=environ,
        ),
        "expect_workers": resolve(
            "expect_workers",
            cli=flags.expect_workers,
            default=1,
            parse=positive_int,
            environ=environ,
        ),
        "worker_wait_s": resolve(
            "worker_wait_s",
            cli=flags.worker_wait_s,
            default=DEFAULT_WORKER_WAIT_S,
            parse=positive_seconds,
            environ=environ,
        ),
        "dry_run": Setting(flags.dry_run, Source.CLI if flags.dry_run else Source.DEFAULT),
    }


@dataclass(frozen=True)
class TrialSpec:
    """What ``loadkit try`` runs, resolved by the CLI (``resolve_trial``) and handed to the
    trial process as a file (``python -m loadkit.runner.trial --spec FILE``)."""

    scenario_path: str
    host: str  # checked against the scenario's allow-list
    seed: int
    request_timeout_s: float
    connect_timeout_s: float = defaults.DEFAULT_CONNECT_TIMEOUT_S
    persona: str | None = None  # only this persona (None: one of each)
    time_scale: float = 1.0  # multiplies every wait

    def dump(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", "utf-8")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrialSpec:
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot read the trial spec {path}: {exc}") from None


def resolve_trial(
    scenario: Scenario,
    *,
    host: str | None,
    seed: int | None,
    persona: str | None,
    time_scale: float = 1.0,
    environ: Mapping[str, str] | None = None,
) -> TrialSpec:
    """``try``'s settings from the same sources as ``run`` (flag > LOADKIT_* > scenario >
    default). Raises InputError/TargetError (exit 2) for no host, a host off the allow-list or
    an unknown persona."""
    from loadkit.runner.spec import check_target

    wanted = resolve_one("host", host, scenario, environ=environ).value
    if wanted is None:
        raise InputError("no target host.", hint="Pass --host URL or set 'host:' in the scenario.")
    names = [p.name for p in scenario.personas]
    if persona is not None and persona not in names:
        raise InputError(
            f"no persona {persona!r} in {scenario.path}.",
            hint=did_you_mean(persona, names).strip() or f"Personas: {', '.join(names)}.",
        )
    return TrialSpec(
        scenario_path=str(scenario.path),
        host=check_target(str(wanted), scenario.allow_hosts),
        seed=int(resolve_one("seed", seed, environ=environ).value),
        request_timeout_s=float(
            resolve_one("request_timeout_s", None, scenario, environ=environ).value
        ),
        connect_timeout_s=float(
            resolve_one("connect_timeout_s", None, scenario, environ=environ).value
        ),
        persona=persona,
        time_scale=time_scale,
    )


def settings_json(settings: Mapping[str, Setting]) -> dict[str, dict[str, Any]]:
    """The manifest's ``settings``: ``{name: {value, source[, detail]}}``."""
    return {name: s.to_json() for name, s in settings.items()}


__all__ = [
    "RUN_SETTINGS",
    "RunFlags",
    "TrialSpec",
    "non_negative_seconds",
    "positive_seconds",
    "resolve_one",
    "resolve_run_settings",
    "resolve_trial",
    "settings_json",
]
