"""notebooks/explore-run.ipynb runs top to bottom on a small synthetic run."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.notebooks
def test_explore_run_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from loadkit.results.synthetic import LatencyBreach, SyntheticRun, write_synthetic_run

    spec = SyntheticRun(
        duration_s=60, arrivals_per_s=5, breaches=(LatencyBreach("checkout", 20, 45, 2000.0),)
    )
    run_dir = write_synthetic_run(tmp_path / "run", spec)
    monkeypatch.setenv("LOADKIT_RUN_DIR", str(run_dir))
    nb = nbformat.read(ROOT / "notebooks" / "explore-run.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )
    assert f"{60 * 5 * 5:,} requests, {60 * 5:,} arrivals" in outputs  # our run, not its default
    assert "verdict: FAILED (exit 1)" in outputs
