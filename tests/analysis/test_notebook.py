"""notebooks/explore-run.ipynb runs top to bottom on a small synthetic run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.notebooks
@pytest.mark.functional
def test_explore_run_notebook_executes(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from loadkit.results.synthetic import LatencyBreach, SyntheticRun, write_synthetic_run

    spec = SyntheticRun(
        duration_s=60, arrivals_per_s=5, breaches=(LatencyBreach("checkout", 20, 45, 2000.0),)
    )
    run_dir = write_synthetic_run(tmp_path / "run", spec)
    # Executed in a child process, as an analyst's Jupyter would: this pytest process may
    # have been monkey-patched by gevent (the runner tests import locust), which breaks the
    # kernel client's threads.
    executed = tmp_path / "executed.ipynb"
    script = (
        "import sys, nbformat, nbclient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nbclient.NotebookClient(nb, timeout=120, kernel_name='python3',\n"
        "    resources={'metadata': {'path': sys.argv[3]}}).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    env = {**os.environ, "LOADKIT_RUN_DIR": str(run_dir)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(ROOT / "notebooks" / "explore-run.ipynb"),
            str(executed),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    nb = nbformat.read(executed, as_version=4)
    outputs = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )
    assert f"{60 * 5 * 5:,} requests, {60 * 5:,} arrivals" in outputs  # our run, not its default
    assert "verdict: FAILED (exit 1)" in outputs
