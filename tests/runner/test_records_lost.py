"""Records that cannot be written stop the load: what was written is kept, the manifest says
what was lost, exit 3 (never keep loading while dropping records)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.runner.test_process import ROOT, _wait_for_segments


@pytest.mark.integration
def test_losing_the_records_folder_mid_run_stops_the_load_with_exit_3(
    tmp_path: Path, tiny_server: Any
) -> None:
    run_dir = tmp_path / "run"
    # 2,000 arrivals at 100/s: 20 s of load unless something stops it
    cmd = [sys.executable, "-m", "tests.runner.plain_run", str(run_dir), tiny_server.url]
    proc = subprocess.Popen(
        [*cmd, "2000", "100", "5", "0.05"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_segments(run_dir, proc, count=3)
        # the folder goes away under the runner (a lost mount, a full disk: the write fails);
        # unlike chmod this also holds when the tests run as root
        kept = tmp_path / "kept-records"
        os.rename(run_dir / "records", kept)
        (run_dir / "records").write_text("not a folder any more\n")
        lost_at = time.monotonic()
        _, err = proc.communicate(timeout=15)
        stopped_after_s = time.monotonic() - lost_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err.decode()
    assert stopped_after_s < 5.0  # one flush interval to notice, then the usual stop
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["records_complete"] is False
    assert manifest["stop_reason"].startswith("records could not be written")
    assert manifest["records_lost"]["requests"] > 0
    assert manifest["runner_summary"]["scheduled"] < 1500  # the load stopped, far from its end
    # what was written before is whole and readable
    written = sorted(kept.glob("requests-w0-*.parquet"))
    assert len(written) >= 3
    assert sum(pq.read_table(p).num_rows for p in written) > 0
    assert not list(kept.glob("*.tmp"))
    assert b"records could not be written" in err
