"""``python -m loadkit.runner RUN_DIR`` end to end, on a real scenario and profile file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from loadkit.runner import RunSpec

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """\
name: mini
personas:
  fan:
    steps:
      - request: GET /
      - request: GET /cookie/set
      - request: GET /cookie/echo
"""

PROFILE = """\
name: mini
arrivals: uniform
duration: 1s
segments:
  - {kind: constant, from: 0s, to: 1s, rate: 20/s}
phases:
  - {name: main, from: 0s, to: 1s}
"""


def _spec(tmp_path: Path, host: str) -> Path:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    (tmp_path / "p.yaml").write_text(PROFILE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunSpec(
        run_id="mini",
        scenario_path=str(tmp_path / "s.yaml"),
        profile_path=str(tmp_path / "p.yaml"),
        host=host,
        seed=3,
        progress_interval_s=0.3,
        start_delay_s=0.3,
        thresholds=("error_rate < 1%",),
        settings={"seed": {"value": 3, "source": "flag"}},
    ).dump(run_dir)
    return run_dir


def _run(run_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "loadkit.runner", str(run_dir)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.integration
def test_run_writes_manifest_records_and_progress(tmp_path: Path, tiny_server: Any) -> None:
    run_dir = _spec(tmp_path, tiny_server.url)
    proc = _run(run_dir)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["records_complete"] is True
    assert manifest["phases"] == [{"name": "main", "start_s": 0.0, "end_s": 1.0}]
    assert manifest["planned"]["arrivals"] == 20
    assert manifest["settings"] == {"seed": {"value": 3, "source": "flag"}}
    assert manifest["thresholds"] == ["error_rate < 1%"]
    assert manifest["scenario"]["sha256"] and manifest["scenario"]["name"] == "mini"
    arrivals = pq.read_table(run_dir / "records" / "arrivals-w0.parquet").to_pandas()
    requests = pq.read_table(run_dir / "records" / "requests-w0.parquet").to_pandas()
    assert manifest["workers"][0]["arrivals_written"] == len(arrivals) == 20
    assert manifest["workers"][0]["requests_written"] == len(requests) == 60
    assert set(arrivals["outcome"]) == {"completed"}
    assert sorted(arrivals["shard"]) == sorted(arrivals["arrival_id"] % 64)
    # each visitor got the cookie it was given, and only its own
    echoed = requests[requests["step"].astype(str).str.contains("echo")]
    assert len(echoed) == 20
    assert (echoed["bytes"] == len("sid=abc123")).all()
    assert "arrivals 20/20 started, 0 dropped" in proc.stderr
    assert "[" in proc.stderr and "main]" in proc.stderr


@pytest.mark.integration
def test_host_off_the_allow_list_is_refused_with_exit_2(tmp_path: Path) -> None:
    run_dir = _spec(tmp_path, "http://example.com")
    proc = _run(run_dir)
    assert proc.returncode == 2
    assert "allow-list" in proc.stderr
    assert not (run_dir / "records").exists()


@pytest.mark.integration
def test_missing_run_spec_is_bad_input(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == 2
    assert "run spec not found" in proc.stderr


DEMO_SCENARIO = """\
name: demo-landing
personas:
  fan:
    steps:
      - request: GET /events/onsale-2026
        expect: {status: 200}
      - request: {method: POST, path: /wr/join, json: {event_id: onsale-2026}}
        expect: {status: 201}
"""

DEMO_PROFILE = """\
name: demo-short
arrivals: poisson
duration: 2s
segments:
  - {kind: constant, from: 0s, to: 2s, rate: 40/s}
phases:
  - {name: rush, from: 0s, to: 2s}
"""


@pytest.mark.integration
def test_real_load_against_the_demo_shop(tmp_path: Path, demo_shop: Any) -> None:
    (tmp_path / "s.yaml").write_text(DEMO_SCENARIO)
    (tmp_path / "p.yaml").write_text(DEMO_PROFILE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    spec = RunSpec(
        run_id="demo",
        scenario_path=str(tmp_path / "s.yaml"),
        profile_path=str(tmp_path / "p.yaml"),
        host=demo_shop.url,
        seed=5,
        progress_interval_s=1.0,
        start_delay_s=0.3,
    )
    spec.dump(run_dir)
    proc = _run(run_dir)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    arrivals = pq.read_table(run_dir / "records" / "arrivals-w0.parquet").to_pandas()
    requests = pq.read_table(run_dir / "records" / "requests-w0.parquet").to_pandas()
    assert manifest["status"] == "completed"
    assert manifest["planned"]["arrivals"] == len(arrivals) > 20
    assert set(arrivals["outcome"]) == {"completed"}, arrivals["reason"].dropna().head()
    assert len(requests) == 2 * len(arrivals)
    assert set(requests["outcome"]) == {"ok"}
    assert set(requests["status"]) == {200, 201}
    assert (requests["response_ms"] >= requests["service_ms"]).all()
