"""`loadkit demo` (what `make demo` runs), on the smoke profile so it takes under a minute."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_demo_starts_the_shop_rehearses_prints_the_verdict_and_stops_the_shop(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadkit.cli",
            "demo",
            "--scenario",
            str(REPO / "scenarios" / "onsale-demo.yaml"),
            "--profile",
            str(REPO / "profiles" / "smoke.yaml"),
            "--seed",
            "5",  # 20 arrivals, 2 of them bots: someone tries the shop without a token
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "verdict: PASSED" in out
    assert "probe invariants: ok" in out  # the shop's own checks were asked after the run
    assert re.search(r"PASS +invariant\(no_shop_without_token\) +0 shop answers", out), out
    report = re.search(r"report: (\S+)", out)
    assert report and (tmp_path / report.group(1)).exists()
    pid = int(re.search(r"\(pid (\d+)\)", out).group(1))  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the demo shop was stopped
