"""The synthetic-run builder writes exactly what schema.py describes, with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from loadkit.results.reader import open_run
from loadkit.results.schema import ARRIVAL_SCHEMA, MANIFEST_KEYS, REQUEST_SCHEMA
from loadkit.results.synthetic import (
    ErrorBurst,
    LatencyBreach,
    SyntheticRun,
    write_synthetic_run,
)


def test_layout_and_schemas_follow_the_contract(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "r", SyntheticRun(duration_s=5, workers=3))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(MANIFEST_KEYS) <= set(manifest)
    names = sorted(p.name for p in (run_dir / "records").iterdir())
    assert "requests-w2-000001.parquet" in names
    assert "arrivals-w0-000002.parquet" in names
    assert (
        pq.read_schema(run_dir / "records" / "requests-w0-000001.parquet").remove_metadata()
        == REQUEST_SCHEMA
    )
    assert (
        pq.read_schema(run_dir / "records" / "arrivals-w1-000001.parquet").remove_metadata()
        == ARRIVAL_SCHEMA
    )


def test_breach_and_error_burst_land_where_asked(tmp_path: Path) -> None:
    spec = SyntheticRun(
        duration_s=60,
        breaches=(LatencyBreach("checkout", 20, 30, 2000.0),),
        error_bursts=(ErrorBurst("queue.poll", 40, 50, 1.0),),
    )
    req = open_run(write_synthetic_run(tmp_path / "r", spec)).requests
    checkout = req[req["step"] == "checkout"]
    inside = checkout[(checkout["t_s"] >= 20) & (checkout["t_s"] < 30)]
    assert len(inside) > 0 and (inside["response_ms"] == 2000.0).all()
    assert (checkout.loc[checkout["t_s"] >= 30, "response_ms"] < 2000).all()
    poll = req[(req["step"] == "queue.poll") & (req["t_s"] >= 40) & (req["t_s"] < 50)]
    assert (poll["outcome"] == "http_error").all() and (poll["status"] == 503).all()
    assert (req.loc[req["step"] != "queue.poll", "outcome"] == "ok").all()


def test_same_spec_gives_the_same_records(tmp_path: Path) -> None:
    spec = SyntheticRun(duration_s=5)
    a = open_run(write_synthetic_run(tmp_path / "a", spec)).requests
    b = open_run(write_synthetic_run(tmp_path / "b", spec)).requests
    assert np.array_equal(a["response_ms"].to_numpy(), b["response_ms"].to_numpy())
