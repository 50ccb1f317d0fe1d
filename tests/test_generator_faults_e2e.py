"""A generator that runs out of file descriptors says so, and never blames the target.

``loadkit run`` runs as a child whose open-files limit is 64, soft and hard (raising the soft
limit to the hard one cannot help), against a local server that holds each request open for a
second, with more visitors in flight than the child has descriptors, for longer than a flush interval. The requests that could not
get a socket are recorded as generator faults, the run is invalid (exit 3, not the failed exit 1
that blames the target), and the server confirms it was never asked for them.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from tests.runner.truth_server import TruthServer, truth_server

pytestmark = pytest.mark.integration

FD_LIMIT = 64

SCENARIO = """\
name: fds
host: {url}
settings: {{request_timeout: 5s, connect_timeout: 2s}}
personas:
  fan:
    weight: 1
    steps:
      - name: hold
        request:
          path: /delay/1000
          query: {{a: "{{{{ arrival_id }}}}"}}
          name: GET /delay/1000
thresholds:
  - error_rate < 1%
"""

PROFILE = """\
name: fds
arrivals: uniform
duration: 2s
segments:
  - {kind: constant, from: 0s, to: 2s, rate: 100/s}
"""


@pytest.fixture
def server() -> Iterator[TruthServer]:
    with truth_server() as s:
        yield s


def _few_fds() -> None:
    """In the child, before exec: at most FD_LIMIT open files, with no way to raise it."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _loadkit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=_few_fds,  # one setrlimit call: safe beside the server thread
    )


def _table(run: Path, kind: str) -> list[dict[str, Any]]:
    files = sorted(str(p) for p in (run / "records").glob(f"{kind}-w*.parquet"))
    return ds.dataset(files, format="parquet").to_table().to_pylist()


def test_running_out_of_file_descriptors_is_a_generator_fault_not_a_target_failure(
    server: TruthServer, tmp_path: Path
) -> None:
    (tmp_path / "fds.yaml").write_text(SCENARIO.format(url=server.url))
    (tmp_path / "profile.yaml").write_text(PROFILE)
    out = tmp_path / "out"
    done = _loadkit(tmp_path, "run", "fds.yaml", "-p", "profile.yaml", "--out", str(out))
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    requests = _table(run, "requests")
    # every record reached the disk, though the crowd held every descriptor across flushes
    assert len(requests) == 200, done.stdout + done.stderr
    faults = [r for r in requests if (r["error"] or "").startswith("generator fault")]
    ok = [r for r in requests if r["outcome"] == "ok"]
    # more visitors in flight than descriptors: some got a socket, the rest could not
    assert faults and ok, done.stdout + done.stderr
    assert len(faults) + len(ok) == len(requests), {r["error"] for r in requests}
    text = faults[0]["error"]
    assert "EMFILE" in text and f"limit {FD_LIMIT}" in text and "ulimit -n" in text, text
    assert "not the target's fault" in text and {r["outcome"] for r in faults} == {
        "connection_error"
    }
    # the target was never asked for those: it saw exactly the requests that got an answer
    seen = server.snapshot()
    assert len(seen) == len(ok) == server.answered
    # the manifest records the limit the run had
    manifest = json.loads((run / "manifest.json").read_text())
    assert [w.get("open_files_limit") for w in manifest["workers"]] == [FD_LIMIT]
    assert manifest["status"] == "completed" and manifest["records_complete"] is True
    # the run's verdict: invalid (3), naming what ran out and the fix, not failed (1)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "generator faults" in done.stdout and "ulimit -n" in done.stdout, done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "loadkit.cli", "analyze", str(run)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert again.returncode == 3, again.stdout + again.stderr
    assert "INVALID" in again.stdout and "generator faults" in again.stdout, again.stdout
