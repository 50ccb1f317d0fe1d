"""``make test``: the whole suite, using both cores where that cannot disturb a measurement.

1. The unit layer (no real load) runs as two pytest processes at once, each on half of the
   files (``LOADKIT_TEST_SHARD``, see tests/conftest.py), with the ``functional`` tests: they
   start the demo shop or a notebook kernel but check behaviour only, never timing.
2. Then the layers that time real load (integration, notebooks, browser, netns, less the
   functional tests) run in one process, alone on the machine, as they would on a laptop.

``python -m tests.suite [pytest args]`` passes the arguments to every pytest it starts. The
exit status is the first failing layer's pytest exit code (0 when all pass).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMED = "(integration or notebooks or netns or browser) and not functional"
SHARDS = 2


def _pytest(marks: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks, *extra]


def _unit_layer(extra: list[str]) -> int:
    print(f"unit layer: {SHARDS} processes at once ...", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loadkit-suite-") as tmp:
        logs = [Path(tmp) / f"shard-{k}.log" for k in range(SHARDS)]
        procs = []
        for k, log in enumerate(logs):
            env = {**os.environ, "LOADKIT_TEST_SHARD": f"{k}/{SHARDS}"}
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        _pytest(f"not ({TIMED})", extra),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        codes = [p.wait() for p in procs]
        for k, log in enumerate(logs):
            print(f"--- unit layer, shard {k + 1} of {SHARDS} (exit {codes[k]})")
            print(log.read_text(errors="replace"), end="", flush=True)
    print(f"unit layer: {time.monotonic() - started:.0f} s", flush=True)
    # A shard left without tests by a narrow selection is not a failure of the layer.
    failing = [c for c in codes if c not in (0, 5)]
    return failing[0] if failing else (5 if all(c == 5 for c in codes) else 0)


def main(extra: list[str]) -> int:
    unit = _unit_layer(extra)
    print("timed layers (integration, notebooks, browser, netns): one process ...", flush=True)
    timed = subprocess.call(_pytest(TIMED, extra))
    failing = [c for c in (unit, timed) if c not in (0, 5)]
    if failing:
        return failing[0]
    return 5 if unit == timed == 5 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
