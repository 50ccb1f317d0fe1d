"""The run spec: what the CLI tells the runner process (``RUN_DIR/run-spec.json``, version 1).

The CLI resolves every setting, writes this file and spawns ``python -m loadkit.runner RUN_DIR``.
This module must stay importable without gevent or locust: the CLI imports it in-process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, did_you_mean
from loadkit.hosts import check_target  # the one allow-list check, shared with probes
from loadkit.runner import defaults

SPEC_VERSION = 1
SPEC_NAME = "run-spec.json"


class RunMode(StrEnum):
    LOCAL = "local"  # one process runs every shard
    MASTER = "master"  # distributed: coordinates workers (a later issue)
    WORKER = "worker"  # distributed: runs the shards a master hands it (a later issue)


@dataclass(frozen=True)
class RunSpec:
    """Everything the runner needs, resolved by the CLI. Times in seconds unless named ``_ns``.

    ``settings`` maps a setting name to ``{"value": ..., "source": "flag|env|yaml|default"}`` and
    is copied verbatim into the manifest.
    """

    run_id: str
    scenario_path: str
    profile_path: str
    host: str
    seed: int
    spec_version: int = SPEC_VERSION
    mode: RunMode = RunMode.LOCAL
    shards: int = defaults.DEFAULT_SHARDS
    max_in_flight: int = defaults.DEFAULT_MAX_IN_FLIGHT
    flush_interval_s: float = defaults.DEFAULT_FLUSH_INTERVAL_S
    progress_interval_s: float = defaults.DEFAULT_PROGRESS_INTERVAL_S
    request_timeout_s: float = defaults.DEFAULT_REQUEST_TIMEOUT_S
    connect_timeout_s: float = defaults.DEFAULT_CONNECT_TIMEOUT_S
    thresholds: tuple[str, ...] = ()
    thresholds_file: str | None = None  # the --thresholds file, so a re-analysis finds its lines
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    start_delay_s: float = defaults.DEFAULT_START_DELAY_S
    duration_limit_s: float | None = None
    worker_id: int = 0
    t0_ns: int | None = None  # absolute start (epoch ns) chosen by the caller; else now + delay
    drain_timeout_s: float | None = None  # cut journeys this long after the profile's end
    live: str | None = None  # serve the live view (--live HOST:PORT); its key comes by env

    def __post_init__(self) -> None:
        problems = []
        if self.spec_version != SPEC_VERSION:
            problems.append(f"spec_version {self.spec_version} (this runner reads {SPEC_VERSION})")
        if self.shards < 1:
            problems.append(f"shards must be >= 1, got {self.shards}")
        if self.max_in_flight < 1:
            problems.append(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        for name in ("flush_interval_s", "progress_interval_s", "request_timeout_s"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.connect_timeout_s <= 0:
            problems.append(f"connect_timeout_s must be > 0, got {self.connect_timeout_s}")
        if self.start_delay_s < 0:
            problems.append(f"start_delay_s must be >= 0, got {self.start_delay_s}")
        if self.drain_timeout_s is not None and self.drain_timeout_s < 0:
            problems.append(f"drain_timeout_s must be >= 0, got {self.drain_timeout_s}")
        if self.duration_limit_s is not None and self.duration_limit_s <= 0:
            problems.append(f"duration_limit_s must be > 0, got {self.duration_limit_s}")
        if problems:
            raise InputError("bad run spec: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (enum as its value, tuples as lists)."""
        out = asdict(self)
        out["mode"] = self.mode.value
        out["thresholds"] = list(self.thresholds)
        out["settings"] = {k: dict(v) for k, v in self.settings.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Build a spec from its JSON form. Raises InputError on unknown or missing keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            hint = did_you_mean(unknown[0], known)
            raise InputError(f"run spec: unknown key(s) {', '.join(unknown)}.{hint}")
        kwargs = dict(data)
        try:
            kwargs["mode"] = RunMode(kwargs.get("mode", RunMode.LOCAL.value))
        except ValueError:
            modes = ", ".join(m.value for m in RunMode)
            raise InputError(f"run spec: mode {kwargs['mode']!r} is not one of {modes}") from None
        kwargs["thresholds"] = tuple(kwargs.get("thresholds", ()))
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required key is missing
            raise InputError(f"run spec: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunSpec:
        """Read a spec file (or ``RUN_DIR/run-spec.json`` when given a directory)."""
        p = Path(path)
        if p.is_dir():
            p = p / SPEC_NAME
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"run spec not found: {p}") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"run spec {p} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"run spec {p} must hold a JSON object")
        return cls.from_dict(data)

    def dump(self, path: str | os.PathLike[str]) -> Path:
        """Write the spec atomically (to a directory: as ``run-spec.json`` in it). Returns the file."""
        p = Path(path)
        if p.is_dir():
            p = p / SPEC_NAME
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", "utf-8")
        os.replace(tmp, p)
        return p


__all__ = ["SPEC_NAME", "SPEC_VERSION", "RunMode", "RunSpec", "check_target"]
