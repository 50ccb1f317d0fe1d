"""``python -m tests.runner.child_driver [--run-dir DIR] [--kill-after S] [--overrun-kill S]
-- ARGV...``: wait on
ARGV with ``loadkit.runner.child.run_child`` (what ``loadkit run`` does) and exit with its code.

The stop tests signal this process, never pytest's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loadkit.runner.child import run_child
from loadkit.runner.defaults import OVERRUN_KILL_S, STOP_KILL_S


def main(argv: list[str]) -> int:
    split = argv.index("--")
    opts, child = argv[:split], argv[split + 1 :]
    run_dir = Path(opts[opts.index("--run-dir") + 1]) if "--run-dir" in opts else None
    kill_s = float(opts[opts.index("--kill-after") + 1]) if "--kill-after" in opts else STOP_KILL_S
    overrun_s = (
        float(opts[opts.index("--overrun-kill") + 1])
        if "--overrun-kill" in opts
        else OVERRUN_KILL_S
    )
    return run_child(child, lambda line: print(line, flush=True), run_dir=run_dir,
                     kill_after_s=kill_s, overrun_kill_s=overrun_s)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
