"""Synthetic runs with known answers, and a helper to analyze them with threshold texts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from loadkit.analysis import Analysis, analyze
from loadkit.gates import parse_threshold
from loadkit.results.reader import Run, open_run
from loadkit.results.synthetic import SyntheticRun, write_synthetic_run

MakeRun = Callable[..., Run]
Analyze = Callable[..., Analysis]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """``make_run(**SyntheticRun fields)`` → an opened synthetic run (small by default)."""
    counter = iter(range(1000))

    def make(**fields: Any) -> Run:
        fields.setdefault("duration_s", 100.0)
        fields.setdefault("arrivals_per_s", 10.0)
        path = write_synthetic_run(tmp_path / f"run{next(counter)}", SyntheticRun(**fields))
        return open_run(path)

    return make


@pytest.fixture
def check(make_run: MakeRun) -> Analyze:
    """``check(["p95 < 1s"], **SyntheticRun fields)`` → the Analysis."""

    def run_check(texts: Sequence[str], run: Run | None = None, **fields: Any) -> Analysis:
        kwargs = {k: fields.pop(k) for k in ("baseline", "budget", "probes") if k in fields}
        target = run if run is not None else make_run(**fields)
        return analyze(target, [parse_threshold(t) for t in texts], **kwargs)

    return run_check
