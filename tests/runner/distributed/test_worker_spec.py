"""A worker's settings resolve once (flag > LOADKIT_* > default), travel as a spec file (never
argv, never the key), and say where each value came from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from loadkit.errors import InputError
from loadkit.runner.distributed.auth import ClusterKey
from loadkit.runner.distributed.options import DEFAULT_MASTER_TIMEOUT_S
from loadkit.runner.distributed.worker_spec import (
    WorkerFlags,
    dump_worker_spec,
    load_worker_spec,
    resolve_worker,
)


def test_each_option_comes_from_the_first_place_that_sets_it() -> None:
    env = {"LOADKIT_CONNECT_TIMEOUT_S": "45s", "LOADKIT_WORKER_DIR": "/env/dir"}
    options = resolve_worker(WorkerFlags("m:6000", worker_dir="/flag/dir"), env)
    assert (options.master_host, options.master_port) == ("m", 6000)
    assert options.worker_dir == "/flag/dir" and options.sources["worker_dir"]["source"] == "cli"
    assert options.connect_timeout_s == 45.0
    assert options.sources["connect_timeout_s"]["detail"] == "LOADKIT_CONNECT_TIMEOUT_S"
    assert options.master_timeout_s == DEFAULT_MASTER_TIMEOUT_S
    assert options.sources["master_timeout_s"]["source"] == "default"


def test_a_bad_value_names_where_it_came_from() -> None:
    with pytest.raises(InputError, match="LOADKIT_MASTER_TIMEOUT_S"):
        resolve_worker(WorkerFlags("m"), {"LOADKIT_MASTER_TIMEOUT_S": "never"})


def test_the_spec_file_carries_the_options_but_never_the_key(tmp_path: Path) -> None:
    options = resolve_worker(WorkerFlags("m", connect_timeout_s=12.0), {})
    path = dump_worker_spec(options, tmp_path / "w.json")
    key = ClusterKey(b"spec-file-test-key-0123456789", "env")
    back = load_worker_spec(path, key)
    assert replace(back, key=None) == options and back.key == key
    assert back.sources["connect_timeout_s"] == {"value": 12.0, "source": "cli",
                                                 "detail": "--connect-timeout"}  # fmt: skip
    assert b"spec-file-test-key" not in path.read_bytes()
