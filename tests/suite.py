"""``make test``: the whole suite, using both cores where that cannot disturb a measurement.

1. The unit layer (no real load) runs as two pytest processes at once, each on half of the
   files by time (``LOADKIT_TEST_SHARD``, see tests/sharding.py), with the ``functional`` tests: they
   start the demo shop or a notebook kernel but check behaviour only, never timing.
2. The layers that send real load (integration, notebooks, browser, netns) run next, again as
   two processes at once: their tests mostly wait on real clocks (think times, drains, shops
   that answer slowly) and use under half a core each, so two of them leave the machine idle
   enough for the budgets they check (lateness, validity, verdicts).
3. The ``exclusive`` tests, which time real work against the clock to the millisecond
   (timeouts on time, a start before the target's receive, admission rates, a capacity found
   within 15 %), run last in one process, alone on the machine, as they would on a laptop.

``python -m tests.suite [pytest args]`` passes the arguments to every pytest it starts. The
exit status is the first failing layer's pytest exit code (0 when all pass).
``python -m tests.suite --record-durations`` also rewrites tests/durations.json (what the
shards are balanced by) from this run's times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import sharding

REAL = "(integration or notebooks or netns or browser) and not functional"
LAYERS = (  # (what make test prints, the tests, how many processes at once)
    ("unit layer", f"not ({REAL})", 2),
    ("real-load layers (integration, notebooks, browser, netns)", f"({REAL}) and not exclusive", 2),
    ("exclusive tests, alone on the machine", f"({REAL}) and exclusive", 1),
)


def _pytest(marks: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks, *extra]


def _layer(title: str, marks: str, shards: int, extra: list[str]) -> int:
    if shards == 1:
        print(f"{title}: one process ...", flush=True)
        started = time.monotonic()
        code = subprocess.call(_pytest(marks, extra))
        print(f"{title}: {time.monotonic() - started:.0f} s", flush=True)
        return code
    print(f"{title}: {shards} processes at once ...", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loadkit-suite-") as tmp:
        logs = [Path(tmp) / f"shard-{k}.log" for k in range(shards)]
        procs = []
        for k, log in enumerate(logs):
            env = {**os.environ, "LOADKIT_TEST_SHARD": f"{k}/{shards}"}
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        _pytest(marks, extra), stdout=out, stderr=subprocess.STDOUT, env=env
                    )
                )
        codes = [p.wait() for p in procs]
        for k, log in enumerate(logs):
            print(f"--- {title}, shard {k + 1} of {shards} (exit {codes[k]})")
            print(log.read_text(errors="replace"), end="", flush=True)
    print(f"{title}: {time.monotonic() - started:.0f} s", flush=True)
    # A shard left without tests by a narrow selection is not a failure of the layer.
    failing = [c for c in codes if c not in (0, 5)]
    return failing[0] if failing else (5 if all(c == 5 for c in codes) else 0)


def main(extra: list[str]) -> int:
    record = "--record-durations" in extra
    extra = [arg for arg in extra if arg != "--record-durations"]
    with tempfile.NamedTemporaryFile(prefix="loadkit-durations-", suffix=".jsonl") as times:
        if record:
            os.environ["LOADKIT_TEST_DURATIONS_OUT"] = times.name
        codes = [_layer(title, marks, shards, extra) for title, marks, shards in LAYERS]
        if record:
            kept = sharding.write_durations(Path(times.name).read_text().splitlines())
            print(f"{sharding.DURATIONS}: {kept} tests over {sharding.RECORDED_MIN_S} s")
    failing = [c for c in codes if c not in (0, 5)]
    if failing:
        return failing[0]
    return 5 if all(c == 5 for c in codes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
