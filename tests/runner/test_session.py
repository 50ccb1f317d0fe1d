"""A session: manifest at start and end, compaction after a clean end, failures marked failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadkit.errors import ExitCode
from loadkit.results.schema import RunStatus
from loadkit.results.writer import SegmentWriter
from loadkit.runner.core import Arrivals
from loadkit.runner.session import Plan, Session
from loadkit.runner.spec import RunSpec
from tests.runner.standins import GetLoop


def _session(tmp_path: Path, url: str, spacing_ns: int = 10_000_000, **spec: Any) -> Session:
    n = 5
    plan = Plan(
        arrivals=Arrivals(np.arange(n), np.arange(n) * spacing_ns, np.zeros(n, np.int64)),
        personas=[GetLoop(repeat=2)],
        target_url=url,
        run_info={"planned": {"arrivals": n}, "duration_s": 0.05},
    )
    run_spec = RunSpec(
        run_id="s1", scenario_path="-", profile_path="-", host=url, seed=1,
        flush_interval_s=0.1, start_delay_s=0.05, **spec,
    )  # fmt: skip
    return Session(run_spec, tmp_path, plan)


def test_clean_run_compacts_and_completes_the_manifest(tmp_path: Path, tiny_server: Any) -> None:
    result = _session(tmp_path, tiny_server.url).run()
    assert (result.status, result.exit_code) == (RunStatus.COMPLETED, ExitCode.PASSED)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["ended_at"]
    assert manifest["records_complete"] is True and manifest["stop_reason"] is None
    assert manifest["workers"][0]["requests_written"] == 10
    assert manifest["workers"][0]["arrivals_written"] == 5
    assert manifest["runner_summary"]["started"] == 5
    assert manifest["t0_ns"] > 0 and manifest["planned"] == {"arrivals": 5}
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == [
        "arrivals-w0.parquet",
        "requests-w0.parquet",
    ]


def test_duration_limit_cuts_the_run_short(tmp_path: Path, tiny_server: Any) -> None:
    session = _session(tmp_path, tiny_server.url, spacing_ns=2_000_000_000, duration_limit_s=0.5)
    result = session.run()
    assert result.status is RunStatus.COMPLETED
    assert result.engine is not None and result.engine.stop_reason == "duration limit 0.5s reached"
    assert (result.engine.started, result.engine.dropped) == (1, 0)


def test_a_write_failure_marks_the_run_failed(
    tmp_path: Path, tiny_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: SegmentWriter, kind: Any, table: Any) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(SegmentWriter, "write_table", broken)
    result = _session(tmp_path, tiny_server.url).run()
    assert (result.status, result.exit_code) == (RunStatus.FAILED, ExitCode.INVALID)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["records_complete"] is False
    assert "No space left" in manifest["stop_reason"]


def test_the_segment_writer_thread_yields_the_cpu_to_the_scheduler(
    tmp_path: Path, tiny_server: Any
) -> None:
    import os

    from loadkit.runner.flusher import WRITER_NICE

    session = _session(tmp_path, tiny_server.url)
    session.run()
    threads = session.flusher._niced_threads
    assert threads, "no segment was written from a pool thread"
    main_priority = os.getpriority(os.PRIO_PROCESS, 0)
    for tid in threads:
        try:
            assert os.getpriority(os.PRIO_PROCESS, tid) == WRITER_NICE
        except ProcessLookupError:  # the pool may have retired the thread: nothing to check
            continue
    assert os.getpriority(os.PRIO_PROCESS, 0) == main_priority  # the scheduler keeps its own
