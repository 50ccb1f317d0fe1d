"""Records against ground truth: `loadkit run` from the command line, checked request by request
against a target that counts what it received and served (tests/runner/truth_server.py).

Journeys are long (six 0.4 s answers under a 1.5 s request timeout: 2.4 s in all), half on one
keep-alive connection and half on a new connection per request (``Connection: close``).
Each test sends a few seconds of load to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from tests.runner.truth_server import Seen, TruthServer, truth_server

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

# a record's start precedes the server's receipt of that request by at most this much (a
# connect, a send and a server thread waking: ~0.5 ms typical, 6 ms seen on a loaded 2-core
# VM); answers are 400 ms apart, so a record cannot be matched to the wrong request
START_TO_RECEIVED_MAX_NS = 100_000_000

SCENARIO = """\
name: truth
host: {url}
settings: {{request_timeout: {timeout}, connect_timeout: 2s}}
personas:
  keepalive:
    weight: 1
    steps:
      - repeat:
          times: 6
          steps:
            - name: slow
              request:
                path: {path}
                query: {{a: "{{{{ arrival_id }}}}", bytes: 1500}}
                name: GET {path}
  fresh:
    weight: 1
    steps:
      - repeat:
          times: 6
          steps:
            - name: fresh
              request:
                path: {path}
                query: {{a: "{{{{ arrival_id }}}}", bytes: 700, close: 1}}
                name: GET {path} (close)
thresholds:
  - error_rate < 1%
"""


def _profile(tmp_path: Path, duration_s: float, rate: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(
        f"name: truth\narrivals: uniform\nduration: {duration_s}s\n"
        f"segments:\n  - {{kind: constant, from: 0s, to: {duration_s}s, rate: {rate}}}\n"
    )
    return path


def _scenario(
    tmp_path: Path, server: TruthServer, path: str = "/delay/400", timeout: str = "1.5s"
) -> Path:
    file = tmp_path / "truth.yaml"
    file.write_text(SCENARIO.format(url=server.url, path=path, timeout=timeout))
    return file


@pytest.fixture
def server() -> Iterator[TruthServer]:
    with truth_server() as s:
        yield s


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "loadkit.cli", *args]


def _loadkit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli(*args), capture_output=True, text=True, cwd=tmp_path, timeout=120)


def _only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def _table(run: Path, kind: str) -> list[dict[str, Any]]:
    files = sorted(str(p) for p in (run / "records").glob(f"{kind}-w*.parquet"))
    return ds.dataset(files, format="parquet").to_table().to_pylist()


def check_against_truth(run: Path, seen: list[Seen]) -> dict[str, int]:
    """Assert the run's records equal what the server lived; return a few counts.

    Per arrival, the k-th request record (by start) is the k-th request the server received
    from it: an answered one has a 200 record with the bytes served, started shortly before
    the server got it and ended after the server answered. A journey that did not complete
    (cut, stopped) may have sent one request whose answer it never got to record.
    """
    records: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in _table(run, "requests"):
        records[r["arrival_id"]].append(r)
    served: dict[int | None, list[Seen]] = defaultdict(list)
    for s in seen:
        served[s.arrival].append(s)
    arrivals = {a["arrival_id"]: a for a in _table(run, "arrivals")}
    assert set(served) <= set(arrivals), "the server saw requests from unrecorded arrivals"
    assert set(records) <= set(served)
    unrecorded = 0
    for arrival_id, arrival in arrivals.items():
        recs = sorted(records[arrival_id], key=lambda r: r["start_ns"])
        got = served[arrival_id]
        extra = len(got) - len(recs)
        assert extra == 0 or (extra == 1 and arrival["outcome"] != "completed"), (arrival, extra)
        unrecorded += extra
        assert arrival["requests"] == len(recs)
        for rec, truth in zip(recs, got, strict=False):
            lead_ns = truth.received_ns - rec["start_ns"]
            assert -1_000_000 <= lead_ns <= START_TO_RECEIVED_MAX_NS, (rec, truth)
            if truth.answered_ns is None:
                assert rec["status"] == 0 and rec["outcome"] != "ok", (rec, truth)
                continue
            assert (rec["status"], rec["bytes"]) == (truth.status, truth.body_bytes), (rec, truth)
            end_ns = rec["start_ns"] + rec["service_ms"] * 1e6
            assert end_ns >= truth.answered_ns - 1_000_000, (rec, truth)
    answered = sum(1 for s in seen if s.answered_ns is not None)
    ok = sum(1 for rs in records.values() for r in rs if r["status"] == 200)
    return {"answered": answered, "recorded_ok": ok, "unrecorded": unrecorded,
            "records": sum(len(rs) for rs in records.values()), "arrivals": len(arrivals)}  # fmt: skip


def _connections_per_journey(seen: list[Seen]) -> dict[str, set[int]]:
    """How many connections each journey used, by the kind of answer it asked for."""
    by_arrival: dict[tuple[int | None, bool], set[int]] = defaultdict(set)
    for s in seen:
        by_arrival[(s.arrival, s.body_bytes == 700)].add(s.connection)
    out: dict[str, set[int]] = defaultdict(set)
    for (_, fresh), conns in by_arrival.items():
        out["fresh" if fresh else "keepalive"].add(len(conns))
    return out


def test_a_local_run_records_exactly_what_the_target_served(
    server: TruthServer, tmp_path: Path
) -> None:
    done = _loadkit(tmp_path, "run", str(_scenario(tmp_path, server)), "-p",
                    str(_profile(tmp_path, 1.5, "8/s")), "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    run = _only_run(tmp_path / "out")
    counts = check_against_truth(run, server.snapshot())
    assert counts["arrivals"] == 12 and counts["records"] == 72
    # journeys of 2.4 s under a 1.5 s request timeout: every request got its own timeout
    assert counts["answered"] == counts["recorded_ok"] == 72 and counts["unrecorded"] == 0
    assert {r["outcome"] for r in _table(run, "requests")} == {"ok"}
    conns = _connections_per_journey(server.snapshot())
    assert conns["keepalive"] == {1} and conns["fresh"] == {6}
    # both timeouts reached the runner from the scenario's settings, with their source
    spec = json.loads((run / "run-spec.json").read_text())
    assert (spec["request_timeout_s"], spec["connect_timeout_s"]) == (1.5, 2.0)
    settings = json.loads((run / "manifest.json").read_text())["settings"]
    assert settings["connect_timeout_s"]["value"] == 2.0


def test_two_workers_record_exactly_what_the_target_served(
    server: TruthServer, tmp_path: Path
) -> None:
    done = _loadkit(tmp_path, "run", str(_scenario(tmp_path, server)), "-p",
                    str(_profile(tmp_path, 1.5, "8/s")), "--out", str(tmp_path / "out"),
                    "--workers", "2")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    run = _only_run(tmp_path / "out")
    counts = check_against_truth(run, server.snapshot())
    assert counts["arrivals"] == 12
    assert counts["answered"] == counts["recorded_ok"] == counts["records"] == 72
    assert {a["worker"] for a in _table(run, "arrivals")} == {0, 1}


def test_a_run_cut_by_drain_keeps_every_answer_it_got(server: TruthServer, tmp_path: Path) -> None:
    # journeys take 2.4 s; the profile ends at 1 s and drain allows 1.5 s more: the journeys
    # that started after the first are cut, after more than a request timeout of requests
    done = _loadkit(tmp_path, "run", str(_scenario(tmp_path, server)), "-p",
                    str(_profile(tmp_path, 1.0, "8/s")), "--out", str(tmp_path / "out"),
                    "--drain", "1.5s")  # fmt: skip
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr
    run = _only_run(tmp_path / "out")
    time.sleep(0.5)  # answers in flight at the cut finish on the server side
    counts = check_against_truth(run, server.snapshot())
    cut = [a for a in _table(run, "arrivals") if a["outcome"] == "cut"]
    assert counts["arrivals"] == 8 and len(cut) >= 6
    assert counts["records"] > 0
    assert counts["answered"] - counts["recorded_ok"] <= len(cut)
    assert {r["outcome"] for r in _table(run, "requests")} == {"ok"}


def test_a_run_stopped_by_ctrl_c_keeps_every_answer_it_got(
    server: TruthServer, tmp_path: Path
) -> None:
    scenario, profile = _scenario(tmp_path, server), _profile(tmp_path, 30, "8/s")
    child = subprocess.Popen(
        _cli("run", str(scenario), "-p", str(profile), "--out", str(tmp_path / "out")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 30
        while server.answered < 30 and time.monotonic() < deadline:  # 4+ requests a journey
            time.sleep(0.1)
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, out + err
    run = _only_run(tmp_path / "out")
    assert json.loads((run / "manifest.json").read_text())["status"] == "aborted"
    time.sleep(0.5)
    counts = check_against_truth(run, server.snapshot())
    stopped = [a for a in _table(run, "arrivals") if a["outcome"] != "completed"]
    assert counts["recorded_ok"] >= 30 and stopped
    assert counts["answered"] - counts["recorded_ok"] <= len(stopped)
    assert {r["outcome"] for r in _table(run, "requests")} == {"ok"}


def test_a_target_that_never_answers_gives_timeouts_on_time_and_fails_the_gate(
    server: TruthServer, tmp_path: Path
) -> None:
    scenario = _scenario(tmp_path, server, path="/never", timeout="1s")
    done = _loadkit(tmp_path, "run", str(scenario), "-p", str(_profile(tmp_path, 1.0, "6/s")),
                    "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    run = _only_run(tmp_path / "out")
    requests = _table(run, "requests")
    arrivals = _table(run, "arrivals")
    # nothing lost: every arrival and every request the server received has its row
    assert len(arrivals) == 6 and len(requests) == len(server.snapshot()) == 6
    assert {r["outcome"] for r in requests} == {"timeout"}
    assert all(1000 <= r["service_ms"] <= 1050 for r in requests), requests
    assert {a["outcome"] for a in arrivals} == {"failed"}
    check_against_truth(run, server.snapshot())
