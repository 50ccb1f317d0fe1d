"""Real load from real processes, and what happens when a worker or the master is killed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from loadkit.results.merge import LOST_REASON, merge
from tests.runner.conftest import TinyServer
from tests.runner.distributed.procs import Procs, start_master, write_run
from tests.runner.distributed.test_exchange import arrivals_of, manifest_of

pytestmark = pytest.mark.integration

LOOPBACK = {"master_bind": "127.0.0.1", "master_port": 0}


def requests_of(folder: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    from loadkit.results.schema import REQUEST_SCHEMA

    rows: list[dict[str, object]] = []
    for f in sorted((folder / "records").glob("requests-*.parquet")):
        rows.extend(pq.read_table(f, schema=REQUEST_SCHEMA).to_pylist())
    return rows


def test_ctrl_c_stops_a_local_run_and_keeps_its_records(
    tmp_path: Path, procs: Procs, tiny_server: TinyServer
) -> None:
    run_dir = write_run(
        tmp_path, host=tiny_server.url, duration="30s", settings={"local_workers": 2}
    )
    master = procs.start("master", str(run_dir), new_session=True)
    master.wait_for(r"t\+1s workers 2 running")
    master.signal_group(signal.SIGINT)  # what Ctrl-C does: the master and its workers

    assert master.finish() == 130, master.output()
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "aborted"
    assert manifest["stop_reason"] == "interrupted"
    logs = [p.read_text() for p in sorted((run_dir / "workers").glob("*.log"))]
    assert {w["fate"] for w in manifest["workers"]} == {"done"}, [master.output(), *logs]
    assert manifest["records_complete"] is True
    arrivals = arrivals_of(run_dir).to_pylist()
    assert 0 < len(arrivals) < 600  # stopped well before the 30 s profile's end
    assert len({a["arrival_id"] for a in arrivals}) == len(arrivals)
    requests = requests_of(run_dir)  # real requests, from both local workers, in one folder
    assert requests and {r["status"] for r in requests} == {200}
    assert {r["worker"] for r in requests} == {0, 1}


def test_a_killed_worker_is_noticed_and_its_arrivals_accounted_lost(
    tmp_path: Path, procs: Procs, tiny_server: TinyServer
) -> None:
    run_dir = write_run(
        tmp_path, host=tiny_server.url, duration="3s", settings={**LOOPBACK, "expect_workers": 2}
    )
    master, port = start_master(procs, run_dir)
    argv = ("worker", "--master", f"127.0.0.1:{port}", "--worker-dir", str(tmp_path / "w"))
    procs.start(*argv)
    master.wait_for(r"worker 0 joined")
    doomed = procs.start(*argv)
    master.wait_for(r"t\+1s workers 2 running")
    doomed.signal(signal.SIGKILL)

    noticed = master.wait_for(r"worker 1 \(.*\) lost: no heartbeat for ([\d.]+) s")
    assert float(noticed.group(1)) < 5.0
    assert master.finish() == 0, master.output()

    manifest = manifest_of(run_dir)
    fates = {w["id"]: w["fate"] for w in manifest["workers"]}
    assert fates == {0: "done", 1: "lost"}
    assert manifest["records_complete"] is False
    rows = arrivals_of(run_dir).to_pylist()
    assert sorted(r["arrival_id"] for r in rows) == list(range(60))  # every arrival, once
    lost = [r for r in rows if r["reason"] == LOST_REASON]
    assert lost and {r["worker"] for r in lost} == {1}
    assert {r["outcome"] for r in lost} == {"dropped"}
    assert manifest["workers"][1]["lost_arrivals"] == len(lost)
    assert any(r["worker"] == 1 and r["outcome"] == "completed" for r in rows)  # before the kill


def test_when_the_master_dies_the_worker_stops_and_keeps_its_records(
    tmp_path: Path, procs: Procs, tiny_server: TinyServer
) -> None:
    run_dir = write_run(
        tmp_path, host=tiny_server.url, duration="6s", settings={**LOOPBACK, "expect_workers": 1}
    )
    master, port = start_master(procs, run_dir)
    worker = procs.start(
        "worker", "--master", f"127.0.0.1:{port}", "--worker-dir", str(tmp_path / "w")
    )
    master.wait_for(r"t\+1s workers 1 running")
    master.signal(signal.SIGKILL)
    killed_ns = time.time_ns()

    assert worker.finish() == 3
    assert "master lost: no word from it for 5 s" in worker.output()
    folder = tmp_path / "w" / "dist-test-w0"
    local = json.loads((folder / "worker.json").read_text())
    assert (local["status"], local["ended"]) == ("failed", True)
    kept = arrivals_of(folder).to_pylist()
    assert 0 < len(kept) < 120  # stopped early, kept what it did
    started = [r["actual_ns"] for r in kept if r["actual_ns"] is not None]
    assert max(started) < killed_ns + 10 * 10**9  # no new visitor 10 s after the master died

    report = merge(run_dir, [folder])
    assert report.records_complete is True
    merged = arrivals_of(run_dir)
    assert sorted(merged.column("arrival_id").to_pylist()) == sorted(r["arrival_id"] for r in kept)
    assert manifest_of(run_dir)["status"] == "failed"
