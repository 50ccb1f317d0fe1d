"""Both notebooks run top to bottom on folders they were not written for: explore-run on a
run whose steps are not the demo's, capacity-search on its synthetic search and on a folder
chosen by LOADKIT_CAPACITY_DIR. Executed in a child process, as in test_notebook.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (
    "import sys, nbformat, nbclient\n"
    "nb = nbformat.read(sys.argv[1], as_version=4)\n"
    "nbclient.NotebookClient(nb, timeout=180, kernel_name='python3',\n"
    "    resources={'metadata': {'path': sys.argv[3]}}).execute()\n"
    "nbformat.write(nb, sys.argv[2])\n"
)


def execute(name: str, tmp_path: Path, env: dict[str, str]) -> str:
    """Run notebooks/NAME in a child process; return every code cell's text output."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    executed = tmp_path / f"executed-{name}"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(ROOT / "notebooks" / name),
            str(executed),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    nb = nbformat.read(executed, as_version=4)
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )


@pytest.mark.notebooks
@pytest.mark.functional
def test_explore_run_works_on_a_run_without_a_checkout_step(tmp_path: Path) -> None:
    from loadkit.results.synthetic import ErrorBurst, StepSpec, SyntheticRun, write_synthetic_run

    spec = SyntheticRun(
        duration_s=40,
        arrivals_per_s=4,
        steps=(StepSpec("home", 30.0), StepSpec("search", 900.0)),
        error_bursts=(ErrorBurst("search", 10, 20, 0.5, status=502),),
    )
    run_dir = write_synthetic_run(tmp_path / "run", spec)
    outputs = execute("explore-run.ipynb", tmp_path, {"LOADKIT_RUN_DIR": str(run_dir)})
    assert f"{40 * 4 * 2:,} requests, {40 * 4:,} arrivals" in outputs
    assert "p(95){step=search} < 800ms for 20s" in outputs  # the slowest step of *this* run
    assert "502" in outputs  # the failures table
    assert "verdict: FAILED (exit 1)" in outputs


@pytest.mark.notebooks
@pytest.mark.functional
def test_capacity_notebook_walks_its_synthetic_search(tmp_path: Path) -> None:
    outputs = execute("capacity-search.ipynb", tmp_path, {"LOADKIT_CAPACITY_DIR": ""})
    assert "holds" in outputs and "fails at" in outputs and "stopped: found" in outputs
    assert "error_rate < 1%" in outputs  # the first failing probe's gate
    assert "503" in outputs  # its failures table


@pytest.mark.notebooks
@pytest.mark.functional
def test_capacity_notebook_reads_a_chosen_folder(tmp_path: Path) -> None:
    from loadkit.results.synthetic import SyntheticRun, write_synthetic_run

    run_dir = write_synthetic_run(tmp_path / "probe", SyntheticRun(duration_s=10, workers=1))
    folder = tmp_path / "20261205-capacity-x" / "capacity"
    folder.mkdir(parents=True)
    probe = {"rate_per_s": 42.0, "outcome": "passed", "p50_ms": 10.0, "p95_ms": 20.0}
    probe |= {"p99_ms": 30.0, "error_rate": 0.0, "first_failed_gate": None, "run_dir": str(run_dir)}
    doc = {"answer": "holds at least 42.0/s (the --max)", "stop": "max_rate", "exit_code": 0}
    doc |= {"holds_per_s": 42.0, "fails_per_s": None, "signature": {}, "probes": [probe]}
    (folder / "capacity.json").write_text(json.dumps(doc))
    outputs = execute(
        "capacity-search.ipynb", tmp_path, {"LOADKIT_CAPACITY_DIR": str(folder.parent)}
    )
    assert "holds at least 42.0/s (the --max)" in outputs
    assert "no probe failed" in outputs
