"""End to end, as a user runs it: `loadkit run` against the demo shop, from the command line.

Each test sends a few seconds of real load to 127.0.0.1 and asserts on the exit code, the
rows in the results folder and the reports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from loadkit.demo import ShopProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "scenarios" / "smoke.yaml"
SMOKE_PROFILE = REPO / "profiles" / "smoke.yaml"


def loadkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def table(run: Path, kind: str) -> list[dict[str, object]]:
    files = sorted(str(p) for p in (run / "records").glob(f"{kind}-w*.parquet"))
    return ds.dataset(files, format="parquet").to_table().to_pylist()


def test_run_against_the_demo_shop_records_every_arrival_and_passes(
    demo_shop: ShopProcess, tmp_path: Path
) -> None:
    gates = tmp_path / "gates.txt"
    gates.write_text("# CI gates\nerror_rate{step=landing} < 1%\n")
    done = loadkit(
        "run",
        str(SMOKE),
        "-p",
        str(SMOKE_PROFILE),
        "--host",
        demo_shop.url,
        "--out",
        str(tmp_path),
        "--seed",
        "7",
        "-t",
        str(gates),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: PASSED" in done.stdout
    run = only_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["seed"] == 7
    assert manifest["thresholds_file"]["path"] == str(gates.resolve())
    again = loadkit("analyze", str(run), cwd=tmp_path)  # later, without -t: same gate, same line
    assert again.returncode == 0, again.stdout + again.stderr
    verdict = json.loads((run / "analysis" / "verdict.json").read_text())
    gate = next(g for g in verdict["gates"] if g["text"] == "error_rate{step=landing} < 1%")
    assert gate["location"] == f"{gates.resolve()}:2:1"
    arrivals = table(run, "arrivals")
    requests = table(run, "requests")
    assert len(arrivals) == manifest["planned"]["arrivals"] > 5
    assert {a["outcome"] for a in arrivals} == {"completed"}
    # every arrival made the three smoke requests, each recorded with its step and status
    assert len(requests) == 3 * len(arrivals)
    assert {r["step"] for r in requests} == {"landing", "queue.join", "queue.poll"}
    assert all(r["outcome"] == "ok" and r["status"] in (200, 201, 429) for r in requests)
    assert all(a["joined_ns"] is not None for a in arrivals)
    for name in ("summary.md", "report.html", "junit.xml", "verdict.json"):
        assert (run / "analysis" / name).exists()


def test_unreachable_target_completes_counts_connection_errors_and_fails(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = loadkit(
        "run",
        str(SMOKE),
        "-p",
        str(SMOKE_PROFILE),
        "--host",
        f"http://127.0.0.1:{port}",
        "--out",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    requests = table(only_run(tmp_path), "requests")
    assert requests and all(r["outcome"] == "connection_error" for r in requests)
    assert all(r["status"] == 0 for r in requests)


def test_two_local_workers_share_the_schedule(demo_shop: ShopProcess, tmp_path: Path) -> None:
    done = loadkit(
        "run",
        str(SMOKE),
        "-p",
        str(SMOKE_PROFILE),
        "--host",
        demo_shop.url,
        "--out",
        str(tmp_path),
        "--workers",
        "2",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = only_run(tmp_path)
    arrivals = table(run, "arrivals")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["records_complete"] is True
    assert len(arrivals) == manifest["planned"]["arrivals"]
    assert len({a["arrival_id"] for a in arrivals}) == len(arrivals)
    assert {a["worker"] for a in arrivals} == {0, 1} or len(arrivals) < 4


def test_ctrl_c_stops_flushes_marks_aborted_and_exits_130(
    demo_shop: ShopProcess, tmp_path: Path
) -> None:
    long_profile = tmp_path / "long.yaml"
    long_profile.write_text(
        "name: long\nduration: 60s\nsegments:\n  - {kind: constant, from: 0s, to: 60s, rate: 20/s}\n"
    )
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadkit.cli",
            "run",
            str(SMOKE),
            "-p",
            str(long_profile),
            "--host",
            demo_shop.url,
            "--out",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,  # our own process group, like a terminal's foreground job
    )
    try:
        time.sleep(5)
        sent_ns = time.time_ns()
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, out + err
    run = only_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    arrivals = table(run, "arrivals")
    assert 20 < len(arrivals) < 1200  # what ran before the interrupt, no more
    assert "ABORTED" in out
    # load stopped within 2 s of Ctrl-C: no request went out later than that
    last_start_ns = max(int(r["start_ns"]) for r in table(run, "requests"))
    assert last_start_ns < sent_ns + 2_000_000_000


def test_master_and_worker_commands_run_one_rehearsal(
    demo_shop: ShopProcess, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = [sys.executable, "-m", "loadkit.cli"]
    master = subprocess.Popen(
        [
            *cli,
            "master",
            str(SMOKE),
            "-p",
            str(SMOKE_PROFILE),
            "--host",
            demo_shop.url,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--expect-workers",
            "1",
            "--worker-wait",
            "30",
            "--out",
            str(tmp_path / "results"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    worker = subprocess.Popen(
        [*cli, "worker", "--master", f"127.0.0.1:{port}", "--worker-dir", str(tmp_path / "w")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        out, _ = master.communicate(timeout=120)
        worker_out, _ = worker.communicate(timeout=30)
    finally:
        for p in (master, worker):
            if p.poll() is None:
                p.kill()
    assert master.returncode == 0, out
    assert worker.returncode == 0, worker_out
    assert "verdict: PASSED" in out
    run = only_run(tmp_path / "results")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["records_complete"] is True
    assert [w["fate"] for w in manifest["workers"]] == ["done"]
    assert len(table(run, "arrivals")) == manifest["planned"]["arrivals"]
