"""Runs ``fuzz_cases.py`` in a child pytest whose resources the kernel bounds.

The child caps its own address space (500 MB over its imports) and each example's CPU time
(2 s, ``ITIMER_PROF``); this parent adds ``RLIMIT_CPU`` over the whole batch, so a case that
hangs in C code (where no Python signal handler runs) still ends the child.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

BATCH_CPU_S = 240
ROOT = Path(__file__).parents[2]


def _batch_cpu_limit() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (BATCH_CPU_S, BATCH_CPU_S + 1))


def test_fuzz_cases_pass_within_resource_limits() -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/hostile/fuzz_cases.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=_batch_cpu_limit,
        timeout=600,  # a wall-clock backstop only
    )
    assert child.returncode == 0, (child.stdout + child.stderr)[-6000:]
    assert " passed" in child.stdout and "failed" not in child.stdout, child.stdout[-2000:]
