"""One analysed synthetic run with a failing gate, a passing one, a no-data one and a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.analysis import Analysis, analyze
from loadkit.gates import parse_threshold
from loadkit.report import write_reports
from loadkit.results.reader import open_run
from loadkit.results.synthetic import LatencyBreach, SyntheticRun, write_synthetic_run

GATES = (
    "p(95){step=checkout} < 800ms for 20s",
    "error_rate < 1%",
    "p(99){step=landing} < 1s over 1s min 1000 samples",
    "p(99){step=queue.poll} < 10ms, as warn",
    "invariant(no_oversell)",
)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Analysis, Path]:
    spec = SyntheticRun(
        duration_s=90, arrivals_per_s=10, breaches=(LatencyBreach("checkout", 40, 70, 2000.0),)
    )
    run_dir = write_synthetic_run(tmp_path_factory.mktemp("report") / "run", spec)
    return analyze(open_run(run_dir), [parse_threshold(t) for t in GATES]), run_dir


@pytest.fixture(scope="module")
def reports(analysed: tuple[Analysis, Path]) -> dict[str, Path]:
    """``write_reports`` once for the module (plots take a second)."""
    return write_reports(*analysed)
