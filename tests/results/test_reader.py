"""open_run: tidy frames from a results directory, partial runs, and the errors it raises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loadkit.errors import ExitCode, ResultsError
from loadkit.results.reader import open_run
from loadkit.results.schema import SCHEMA_VERSION, RunStatus
from loadkit.results.synthetic import SyntheticRun, write_synthetic_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SyntheticRun(duration_s=20, arrivals_per_s=10, drop_fraction=0.05)
    return write_synthetic_run(tmp_path_factory.mktemp("run") / "r1", spec)


def test_frames_have_one_row_per_record(run_dir: Path) -> None:
    run = open_run(run_dir)
    assert not run.partial
    assert len(run.arrivals) == 200
    dropped = (run.arrivals["outcome"] == "dropped").sum()
    assert dropped == 10
    assert len(run.requests) == (200 - 10) * 5  # five steps per started arrival
    assert isinstance(run.requests["step"].dtype, pd.CategoricalDtype)
    assert list(run.requests["step"].cat.categories) == [
        "landing",
        "queue.join",
        "queue.poll",
        "seats.hold",
        "checkout",
    ]


def test_nullable_epoch_columns_stay_exact_integers(run_dir: Path) -> None:
    arrivals = open_run(run_dir).arrivals
    assert arrivals["joined_ns"].dtype == "Int64"
    joined = arrivals["joined_ns"].dropna()
    assert (joined.to_numpy(dtype=np.int64) % 1000 != 0).any()  # ns precision survives


def test_windows_and_funnel_are_available_on_the_run(run_dir: Path) -> None:
    run = open_run(run_dir)
    windows = run.windows(width_s=5.0)
    assert set(windows["window_s"]) == {5.0}
    assert windows["requests"].sum() == len(run.requests)
    funnel = run.funnel()
    assert list(funnel["stage"]) == ["arrived", "joined", "admitted", "held", "paid"]
    assert funnel["visitors"].iloc[0] == 190


def test_missing_folder_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="not found") as info:
        open_run(tmp_path / "nope")
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_folder_without_manifest_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no manifest\.json"):
        open_run(tmp_path)


def test_newer_schema_version_is_refused(tmp_path: Path, run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ResultsError, match="Upgrade loadkit"):
        open_run(tmp_path)


def test_crashed_run_is_read_and_marked_partial(tmp_path: Path) -> None:
    spec = SyntheticRun(duration_s=10, arrivals_per_s=5, status=RunStatus.RUNNING)
    run_dir = write_synthetic_run(tmp_path / "crashed", spec)
    (run_dir / "records" / "requests-w0-000009.parquet").write_bytes(b"PAR1 half written")
    (run_dir / "records" / "requests-w0-000010.parquet.tmp").write_bytes(b"ignored")
    run = open_run(run_dir)
    assert run.partial
    reasons = " ".join(run.partial_reasons)
    assert "still running" in reasons
    assert f"records unreadable: {run_dir / 'records' / 'requests-w0-000009.parquet'}" in reasons
    assert len(run.requests) == 50 * 5  # the whole segments are all there


def test_compacted_file_and_its_leftover_segments_are_not_double_counted(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    run_dir = write_synthetic_run(tmp_path / "c", SyntheticRun(duration_s=10, arrivals_per_s=5))
    records = run_dir / "records"
    segments = sorted(records.glob("requests-w0-*.parquet"))
    table = pq.read_table(segments[0])
    names = json.dumps([p.name for p in segments]).encode()
    pq.write_table(
        table.replace_schema_metadata({b"loadkit.compacted_from": names}),
        records / "requests-w0.parquet",
    )
    run = open_run(run_dir)
    worker0 = run.requests[run.requests["worker"] == 0]
    assert len(worker0) == table.num_rows


def test_windows_by_phase_and_generator_windows(run_dir: Path) -> None:
    run = open_run(run_dir)
    by_phase = run.windows(width_s=5.0, by="phase")
    assert set(by_phase["phase"].astype(str)) == {"build-up"}  # [0, 30) holds this 20 s run
    assert by_phase["requests"].sum() == len(run.requests)
    generator = run.generator_windows(width_s=5.0)
    assert generator["offered"].sum() == 200
    assert generator["dropped"].sum() == 10
