"""Run loadkit in a child process under hard resource limits, and judge what a person sees.

The limits are the issue's promise for hostile input: any input up to 100 MB ends within
2 CPU-seconds and 500 MB. They are enforced by the kernel (``RLIMIT_CPU``, ``RLIMIT_AS``) on
the child, not measured with a clock: a child over its CPU time is killed by SIGXCPU, one
over its memory gets a MemoryError, and either fails the test. The memory limit is 500 MB on
top of what the same command takes on a tiny valid file (imports alone reserve a few hundred
MB of address space), so it measures what the input costs.
"""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CPU_S = 2  # on top of the baseline's own CPU time, rounded up by the kernel to whole seconds
EXTRA_MEMORY_BYTES = 500 * 1024 * 1024
# What a person must never see: a traceback, Python's or loadkit's internal type names.
FORBIDDEN = ("Traceback", "YamlList", "YamlMap", "NoneType", "MemoryError", "RecursionError")

_RUN = "import sys\nfrom loadkit.cli import main\nmain(sys.argv[1:])\n"
_PEAK = (
    "import sys\nfrom loadkit.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "import resource\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_utime"
    " + resource.getrusage(resource.RUSAGE_SELF).ru_stime)\n"
    "print(open('/proc/self/status').read().split('VmPeak:')[1].split()[0])\n"
)
_OK_SCENARIO = "personas:\n  p:\n    steps:\n      - set: {x: 1}\n"


@dataclass(frozen=True)
class Outcome:
    """How the child ended: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@functools.cache
def baseline() -> tuple[float, int]:
    """(CPU seconds, peak address space in bytes) of ``loadkit validate`` on a tiny file."""
    folder = Path(tempfile.mkdtemp(prefix="loadkit-hostile-"))
    (folder / "ok.yaml").write_text(_OK_SCENARIO)
    child = subprocess.run(
        [sys.executable, "-c", _PEAK, "validate", "ok.yaml"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    cpu_s, peak_kb = child.stdout.splitlines()[-2:]
    return float(cpu_s), int(peak_kb) * 1024


def _limits(cpu_s: int, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def run_loadkit(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Outcome:
    """``loadkit ARGS`` in ``cwd`` within the CPU and memory limits above."""
    base_cpu_s, base_bytes = baseline()
    cpu_s = int(base_cpu_s + CPU_S) + 1
    memory = base_bytes + EXTRA_MEMORY_BYTES
    child = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=functools.partial(_limits, cpu_s, memory),
        timeout=120,  # a wall-clock backstop only: the CPU limit is what the test asserts
    )
    return Outcome(child.returncode, child.stdout, child.stderr)


def assert_refused(outcome: Outcome, *expected: str) -> None:
    """Exit 2, one readable ``error:`` message containing each of ``expected``, no traceback,
    no internal type names, and no more than a few lines of it."""
    shown = outcome.text[-3000:]
    assert outcome.code == 2, f"exit {outcome.code} (killed by a limit if negative):\n{shown}"
    assert outcome.err.startswith("error: "), shown
    for word in FORBIDDEN:
        assert word not in outcome.text, f"{word!r} shown:\n{shown}"
    for part in expected:
        assert part in outcome.err, f"{part!r} not in:\n{shown}"
    assert len(outcome.err) < 20_000, f"a {len(outcome.err)}-character message"


def write_ok_scenario(folder: Path) -> Path:
    """A tiny valid scenario, to validate a profile or a thresholds file next to it."""
    path = folder / "ok.yaml"
    path.write_text(_OK_SCENARIO)
    return path
