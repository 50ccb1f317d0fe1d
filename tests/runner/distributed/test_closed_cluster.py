"""A closed cluster, as real processes: a worker without the key gets nothing; one with it runs;
the key never shows in argv, output or the run's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.runner.distributed.procs import Procs, free_port, write_run

pytestmark = pytest.mark.integration

KEY = "closed-cluster-test-key-5f1c9a0e7d"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_only_workers_with_the_key_get_the_plan(tmp_path: Path, procs: Procs) -> None:
    port = free_port()
    run_dir = write_run(
        tmp_path,
        referenced_files=True,  # a feeder CSV and a trace: what an intruder would want
        settings={"dry_run": True, "master_bind": "127.0.0.1", "master_port": port},
    )
    master = procs.start("master", str(run_dir), env={"LOADKIT_CLUSTER_KEY": KEY})
    address = ("--master", f"127.0.0.1:{port}", "--connect-timeout", "20")
    intruder_dir = tmp_path / "intruder"
    intruder = procs.start("worker", *address, "--worker-dir", str(intruder_dir))
    assert intruder.finish() == 2
    assert "refused this worker: this master requires the cluster key" in intruder.output()
    # no scenario, no profile, no feeder: not one file came its way
    assert not intruder_dir.exists() or not any(p.is_file() for p in intruder_dir.rglob("*"))

    key_file = tmp_path / "cluster.key"
    key_file.write_text(KEY + "\n")
    member = procs.start("worker", *address, "--worker-dir", str(tmp_path / "w"), "--key-file",
                         str(key_file))  # fmt: skip
    assert KEY not in _cmdline(member.pid) and KEY not in _cmdline(master.pid)
    assert master.finish() == 0, master.output()
    assert member.finish() == 0, member.output()

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["records_complete"] is True
    assert manifest["master"]["refused"][0]["reason"].startswith("this master requires")
    assert "workers need the cluster key" in master.output()
    for text in (master.output(), member.output(), intruder.output()):
        assert KEY not in text
    # the worker's own manifest says where each of its settings came from
    (worker_json,) = (tmp_path / "w").glob("*/worker.json")
    settings = json.loads(worker_json.read_text())["settings"]
    assert settings["connect_timeout_s"] == {"value": 20.0, "source": "cli",
                                             "detail": "--connect-timeout"}  # fmt: skip
    assert settings["master_timeout_s"]["source"] == "default"
    for folder in (run_dir, tmp_path / "w"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path
