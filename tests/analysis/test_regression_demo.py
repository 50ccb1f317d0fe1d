"""Two runs of the same build against the demo shop do not fail a regression gate.

Each run is `loadkit run` from the command line against its own fresh demo shop (so neither
finds the other's queue and sold seats), six seconds at 40 arrivals/s; then `loadkit analyze
RUN2 --baseline RUN1` judges `regression(p(95)) < 10%` on the interval.

The two runs go at the same time. On this shared two-core machine the demo shop's p95 (a few
milliseconds) moves by half from one minute to the next with what the other processes do;
that is a difference between the *machines* two runs had, which no statistic computed inside
the runs can see (docs/thresholds.md says so). Run side by side they share the machine, and
the test checks what the method promises: the noise of the same build is not a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ShopFactory

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scenarios" / "smoke.yaml"
STEADY = """\
name: steady
arrivals: poisson
duration: 6s
segments:
  - {kind: constant, from: 0s, to: 6s, rate: 40/s}
"""


def only(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def loadkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_two_runs_of_the_same_build_do_not_fail_a_p95_regression_gate(
    shop_factory: ShopFactory, tmp_path: Path
) -> None:
    profile = tmp_path / "steady.yaml"
    profile.write_text(STEADY)
    children, outs = [], []
    for seed in (1, 2):
        shop = shop_factory()
        outs.append(tmp_path / f"out{seed}")
        argv = [
            "run", str(SMOKE), "-p", str(profile), "--host", shop.url, "--out", str(outs[-1]),
            "--seed", str(seed), "--drain", "5s", "--no-analyze",
        ]  # fmt: skip
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "loadkit.cli", *argv],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        for child in children:
            output, _ = child.communicate(timeout=120)
            assert child.returncode == 0, output
    finally:
        for child in children:  # only ours, by handle, if one hung
            if child.poll() is None:
                child.kill()
                child.wait()
    runs = [only(out) for out in outs]
    gates = tmp_path / "gates.txt"
    gates.write_text("regression(p(95)) < 10%\nregression(p(95){step=landing}) < 10%\n")
    done = loadkit(
        "analyze", str(runs[1]), "--baseline", str(runs[0]), "-t", str(gates), cwd=tmp_path
    )
    verdict = json.loads((runs[1] / "analysis" / "verdict.json").read_text())
    regressions = [g for g in verdict["gates"] if g["kind"] == "regression"]
    assert len(regressions) == 2
    for gate in regressions:
        assert gate["status"] == "passed", gate  # never failed: at most not enough evidence
        assert "…" in gate["observed_text"]  # judged on an interval, not a bare ratio
    # exit 0, or 3 if this loaded machine made a generator fall behind: never 1 (a gate failed)
    assert done.returncode in (0, 3) and verdict["verdict"] != "failed", done.stdout + done.stderr
