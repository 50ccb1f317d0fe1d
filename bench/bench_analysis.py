"""Analyzer speed: 1 and 10 million request records, and rendering every report.

Each measurement runs in a fresh process, so its peak RSS (``resource.getrusage``) is its own.
Synthetic 10-minute runs are written once under ``.bench/analysis-runs/`` and reused.
Targets (issue 6): 10 M records ≤ 30 s and ≤ 4 GB; 1 M ≤ 3 s; all reports of a 10-minute run
≤ 10 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNS = Path(".bench") / "analysis-runs"
GATES = [
    "p(95){step=checkout} < 800ms over 10s for 30s",
    "error_rate < 1%",
    "p(99) < 2s in 95% of windows during spike",
    "lateness_p(99) < 100ms",
    "invariant(no_oversell)",
    "invariant(fifo)",
]

_ANALYZE = """
import json, resource, sys, time
from loadkit.analysis import analyze
from loadkit.results.reader import open_run
from loadkit.gates import parse_threshold
t = time.perf_counter()  # imports excluded: a CLI pays them once, whatever the run size
c = time.process_time()
run = open_run(sys.argv[1])
analysis = analyze(run, [parse_threshold(g) for g in json.loads(sys.argv[2])])
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
t = time.perf_counter()
if sys.argv[3] == "report":
    from loadkit.report import render_terminal, write_reports
    write_reports(analysis, sys.argv[1])
    render_terminal(analysis)
print(json.dumps({"analyze_s": elapsed, "analyze_cpu_s": cpu,
                  "report_s": time.perf_counter() - t,
                  "requests": int(analysis.steps.query("step == 'all' and phase == 'all'")
                                  ["requests"].iloc[0]),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


_WRITE = """
import sys
from loadkit.results.synthetic import LatencyBreach, SyntheticRun, write_synthetic_run
requests = int(sys.argv[2])
write_synthetic_run(sys.argv[1], SyntheticRun(
    run_id=f"bench-{requests}", duration_s=600.0, onsale_offset_s=60.0,
    arrivals_per_s=requests / 5 / 600.0,  # five steps per arrival
    breaches=(LatencyBreach("checkout", 200.0, 260.0, 2000.0),), workers=4,
    segments_per_worker=5))
"""


def _ensure_run(requests: int) -> Path:
    """Write the synthetic run once, in a child process: Linux keeps a process's peak RSS
    across exec, so the measuring processes must not descend from a big writer."""
    path = RUNS / f"run-{requests}"
    if not (path / "manifest.json").exists():
        subprocess.run([sys.executable, "-c", _WRITE, str(path), str(requests)], check=True)
    return path


def _measure(path: Path, report: bool) -> dict[str, float]:
    argv = [
        sys.executable,
        "-c",
        _ANALYZE,
        str(path),
        json.dumps(GATES),
        "report" if report else "-",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run() -> str:
    rows = []
    for requests, target in ((1_000_000, "≤ 3 s"), (10_000_000, "≤ 30 s, ≤ 4 GB")):
        m = _measure(_ensure_run(requests), report=False)
        rows.append(
            f"| analyze {m['requests']:,} request records | {m['analyze_s']:.1f} s "
            f"({m['analyze_cpu_s']:.1f} s) | {m['peak_rss_mb']:,.0f} MB | {target} |"
        )
    m = _measure(_ensure_run(1_000_000), report=True)
    rows.append(
        f"| every plot and report of a 10-minute run | {m['report_s']:.1f} s | "
        f"{m['peak_rss_mb']:,.0f} MB | ≤ 10 s |"
    )
    return "\n".join(
        [
            "## Analysis",
            "",
            "Synthetic 10-minute runs (5 steps, 4 workers, a 60 s checkout breach), "
            f"{len(GATES)} gates incl. windowed ones and invariants; each row is a fresh process "
            "(times exclude Python imports, about 1 s; the machine is shared, expect noise).",
            "",
            "| what | wall time (CPU time) | peak RSS | target |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            "Reproduce: `python -m bench analysis`",
        ]
    )
