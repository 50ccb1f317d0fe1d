"""``abort after`` on distributed workers: one worker's live guard trips, the master stops all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.distributed.procs import Procs, write_run
from tests.runner.distributed.test_exchange import arrivals_of, manifest_of
from tests.runner.test_abort import GATE, slow_url

pytestmark = pytest.mark.integration

__all__ = ["slow_url"]  # the 200 ms target, a fixture


def test_a_tripped_abort_threshold_stops_every_worker_and_fails_the_run(
    tmp_path: Path, procs: Procs, slow_url: str
) -> None:
    run_dir = write_run(
        tmp_path,
        host=slow_url,
        duration="30s",
        settings={"local_workers": 2},
        thresholds=(GATE,),
    )
    master = procs.start("master", str(run_dir), new_session=True)

    assert master.finish(timeout_s=40) == 1, master.output()
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "aborted"
    assert manifest["aborted_by_threshold"] == GATE
    reason = f'threshold "{GATE}" breached: aborted to protect the target'
    assert manifest["stop_reason"] == reason
    assert f"run stopped: {reason}" in master.output()
    assert {w["fate"] for w in manifest["workers"]} == {"done"}, master.output()
    assert manifest["records_complete"] is True
    # every worker stopped within seconds of the breach, not after the profile's 30 s
    arrivals = arrivals_of(run_dir).to_pylist()
    assert 0 < len(arrivals) < 300
    assert {a["worker"] for a in arrivals} == {0, 1}
