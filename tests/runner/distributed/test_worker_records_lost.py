"""A worker that cannot write its records stops the whole run: never load on for nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.runner.conftest import TinyServer
from tests.runner.distributed.procs import Procs, start_master, write_run
from tests.runner.distributed.test_exchange import manifest_of

pytestmark = pytest.mark.integration


def test_a_worker_losing_its_records_folder_stops_every_worker(
    tmp_path: Path, procs: Procs, tiny_server: TinyServer
) -> None:
    run_dir = write_run(
        tmp_path,
        host=tiny_server.url,
        duration="30s",
        settings={"master_bind": "127.0.0.1", "master_port": 0, "expect_workers": 2},
    )
    master, port = start_master(procs, run_dir)
    address = ("--master", f"127.0.0.1:{port}")
    workers = [procs.start("worker", *address, "--worker-dir", str(tmp_path / f"w{n}"))
               for n in range(2)]  # fmt: skip
    master.wait_for(r"t\+1s workers 2 running")
    (job,) = (tmp_path / "w0").iterdir()  # <run-id>-w<id>: this worker's own folder
    records = job / "records"
    deadline = time.monotonic() + 10
    while not list(records.glob("requests-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.rename(records, job / "records-kept")
    records.write_text("not a folder any more\n")

    assert master.finish(timeout_s=30) == 3, master.output()
    codes = sorted(w.finish() for w in workers)
    assert codes == [0, 3], [w.output() for w in workers]
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "failed"
    assert manifest["records_complete"] is False
    assert "records could not be written" in manifest["stop_reason"]
    assert sum(w["arrivals_written"] for w in manifest["workers"]) < 600  # stopped early
    assert {w["status"] for w in manifest["workers"]} >= {"failed"}
