"""A worker's settings, resolved once (flag > ``LOADKIT_*`` environment > default) into a
frozen ``WorkerOptions``, and handed to the worker process as a spec file, not as argv.

``loadkit worker`` (the CLI) and a master starting local workers write the spec
(``dump_worker_spec``); ``python -m loadkit.runner.distributed worker --spec FILE`` reads it.
The cluster key is never in the spec: the process reads it from ``LOADKIT_CLUSTER_KEY``.
No gevent here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loadkit.errors import InputError
from loadkit.runner.distributed.auth import ClusterKey
from loadkit.runner.distributed.options import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MASTER_TIMEOUT_S,
    DEFAULT_WORKER_DIR,
    WorkerOptions,
    parse_address,
)
from loadkit.runner.run_settings import positive_seconds
from loadkit.settings import resolve

WORKER_SPEC_VERSION = 1


@dataclass(frozen=True)
class WorkerFlags:
    """What the command line said (``None`` = not given). Nothing here has a default."""

    master: str
    worker_dir: str | None = None
    scenario_sha256: str | None = None
    connect_timeout_s: float | str | None = None
    master_timeout_s: float | str | None = None


def resolve_worker(flags: WorkerFlags, environ: Mapping[str, str] | None = None) -> WorkerOptions:
    """The worker's options with their sources. Raises InputError for a bad value (exit 2)."""
    host, port = parse_address(flags.master)
    settings = {
        "worker_dir": resolve(
            "worker_dir", cli=flags.worker_dir, default=DEFAULT_WORKER_DIR, parse=str,
            environ=environ,
        ),
        "scenario_sha256": resolve(
            "scenario_sha256", cli=flags.scenario_sha256, default=None, parse=str,
            environ=environ,
        ),
        "connect_timeout_s": resolve(
            "connect_timeout_s", cli=flags.connect_timeout_s, default=DEFAULT_CONNECT_TIMEOUT_S,
            parse=positive_seconds, environ=environ, flag="--connect-timeout",
        ),
        "master_timeout_s": resolve(
            "master_timeout_s", cli=flags.master_timeout_s, default=DEFAULT_MASTER_TIMEOUT_S,
            parse=positive_seconds, environ=environ, flag="--master-timeout",
        ),
    }  # fmt: skip
    return WorkerOptions(
        master_host=host,
        master_port=port,
        worker_dir=str(settings["worker_dir"].value),
        expect_scenario_sha256=settings["scenario_sha256"].value,
        connect_timeout_s=float(settings["connect_timeout_s"].value),
        master_timeout_s=float(settings["master_timeout_s"].value),
        sources={name: s.to_json() for name, s in settings.items()},
    )


_FIELDS = (
    "master_host",
    "master_port",
    "worker_dir",
    "expect_scenario_sha256",
    "connect_timeout_s",
    "master_timeout_s",
)


def dump_worker_spec(options: WorkerOptions, path: str | os.PathLike[str]) -> Path:
    """Write the options (never the key) as a worker spec file; returns its path."""
    data: dict[str, Any] = {name: getattr(options, name) for name in _FIELDS}
    data["spec_version"] = WORKER_SPEC_VERSION
    data["sources"] = dict(options.sources)
    p = Path(path)
    p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return p


def load_worker_spec(path: str | os.PathLike[str], key: ClusterKey | None) -> WorkerOptions:
    """Read a worker spec file; the key comes from the caller (the environment)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the worker spec {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("spec_version") != WORKER_SPEC_VERSION:
        raise InputError(f"worker spec {path}: not a version {WORKER_SPEC_VERSION} spec")
    try:
        options = WorkerOptions(**{name: data[name] for name in _FIELDS})
    except (KeyError, TypeError) as exc:
        raise InputError(f"worker spec {path}: {exc}") from None
    return replace(options, key=key, sources=data.get("sources") or {})


__all__ = ["WorkerFlags", "dump_worker_spec", "load_worker_spec", "resolve_worker"]
