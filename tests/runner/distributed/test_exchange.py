"""Master and workers as real processes on 127.0.0.1: the plan, the stream, the refusals.

These runs are dry runs (``dry_run``: the engine starts every arrival on schedule and records
it, but sends no request), so they check the distribution itself: shards, t0, clocks, records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loadkit.results.schema import ARRIVAL_SCHEMA
from tests.runner.distributed.procs import Procs, free_port, start_master, write_run

pytestmark = pytest.mark.integration

DRY = {"dry_run": True, "master_bind": "127.0.0.1", "master_port": 0}


def arrivals_of(folder: Path) -> pa.Table:
    files = sorted((folder / "records").glob("arrivals-*.parquet"))
    return pa.concat_tables(pq.read_table(f, schema=ARRIVAL_SCHEMA) for f in files)


def manifest_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text())


def test_two_workers_record_every_arrival_of_the_schedule_once(
    tmp_path: Path, procs: Procs
) -> None:
    # the scenario's feeder and the profile's trace live beside them: workers get them sent
    run_dir = write_run(tmp_path, settings={**DRY, "expect_workers": 2}, referenced_files=True)
    master, port = start_master(procs, run_dir)
    workers = [
        procs.start("worker", "--master", f"127.0.0.1:{port}", "--worker-dir", str(tmp_path / "w"))
        for _ in range(2)
    ]

    assert master.finish() == 0, master.output()
    assert [w.finish() for w in workers] == [0, 0]

    manifest = manifest_of(run_dir)
    assert manifest["status"] == "completed"
    assert manifest["records_complete"] is True
    assert manifest["planned"]["arrivals"] == 40
    by_id = {w["id"]: w for w in manifest["workers"]}
    assert sorted(s for w in by_id.values() for s in w["shards"]) == list(range(8))
    assert all(w["fate"] == "done" and w["clock_offset_ms"] is not None for w in by_id.values())
    for w in by_id.values():  # each worker's generator CPU, for the analyzer's validity check
        assert 0 <= w["cpu_percent_p95"] <= w["cpu_percent_max"]
        assert w["start_timer"] in ("timerfd", "libev")
        assert w["open_files_limit"] >= 64  # the soft RLIMIT_NOFILE the worker ran with

    rows = arrivals_of(run_dir).to_pylist()
    assert sorted(r["arrival_id"] for r in rows) == list(range(40))
    for r in rows:  # arrival k ran on the worker that owns shard k mod S
        assert r["arrival_id"] % 8 in by_id[r["worker"]]["shards"]
        assert r["outcome"] == "completed"
    # uniform 20/s from one t0: arrival k is due at t0 + (k + 1/2) * 50 ms on every worker
    t0 = manifest["t0_ns"]
    for r in rows:
        offset_ns = by_id[r["worker"]]["clock_offset_ms"] * 1e6
        assert r["scheduled_ns"] - offset_ns - t0 == pytest.approx(
            (r["arrival_id"] + 0.5) * 50e6, abs=2e6
        )
    # each worker kept its own copy: the same rows, in its own folder
    for wid in by_id:
        job = tmp_path / "w" / f"dist-test-w{wid}"
        assert arrivals_of(job).num_rows == by_id[wid]["arrivals_written"] == 20
        assert (job / "scenario" / "data" / "fans.csv").read_text() == "fan\nann\nbob\n"
        assert (job / "profile" / "traces" / "flat.csv").is_file()


def test_refused_workers_say_why_and_a_master_left_without_workers_exits_3(
    tmp_path: Path, procs: Procs
) -> None:
    port = free_port()
    run_dir = write_run(
        tmp_path,
        settings={**DRY, "master_port": port, "worker_wait_s": 6, "expect_workers": 1},
    )
    master = procs.start("master", str(run_dir))
    address = ("--master", f"127.0.0.1:{port}", "--connect-timeout", "20")
    other_version = procs.start("worker", *address, env={"LOADKIT_TEST_PRETEND_VERSION": "0.0.1"})
    other_scenario = procs.start("worker", *address, "--scenario-sha256", "0" * 64)

    assert other_version.finish() == 2
    assert "refused this worker: worker runs loadkit 0.0.1, master runs loadkit" in (
        other_version.output()
    )
    assert other_scenario.finish() == 2
    assert "deploy the same scenario file everywhere" in other_scenario.output()
    assert master.finish() == 3
    assert "only 0 of 1 worker(s) joined within 6 s" in master.output()
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "failed" and manifest["records_complete"] is False
    assert "no load was sent" in manifest["stop_reason"]
    assert len(manifest["master"]["refused"]) == 2


def test_a_worker_pointed_at_a_wrong_address_says_so(procs: Procs) -> None:
    port = free_port()  # nobody listens there
    worker = procs.start("worker", "--master", f"127.0.0.1:{port}", "--connect-timeout", "1")
    assert worker.finish() == 2
    assert f"no loadkit master answered at 127.0.0.1:{port} within 1 s" in worker.output()
