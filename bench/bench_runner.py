"""Runner speed: loadkit's visitor path vs plain Locust, and schedule accuracy.

Setup (2-core machine): our own nginx (``apt-get install nginx-light``) serves a static file on
127.0.0.1, pinned to core 0; the load generator is pinned to core 1 (``taskset``).

* Throughput: the same number of concurrent users/visitors loop the same GET with keep-alive.
  Plain Locust: ``locust -f bench/locust_plain.py --headless`` (FastHttpUser, ``constant(0)``).
  loadkit: visitors that each run one journey repeating the GET (``visitor.http`` +
  ``visitor.record``, recording on, Parquet segments flushed every second). Both are counted
  over the same window after a warm-up; rounds alternate so machine noise hits both.
* Schedule accuracy: Poisson arrivals at 500/s and a 2,000/s spike, each a new visitor doing one
  GET on a new connection (or, "scheduler alone", a visitor that sends nothing); lateness
  (actual - scheduled start) from the arrival records.
* Recording cost: ``Visitor.record`` alone, in a loop.

``LOADKIT_BENCH_BEFORE_REV=<git rev> python -m bench runner`` also measures the schedule rows
with the runner of that revision (``git archive`` into a temporary folder), alternating with
the working tree's, so a change is compared on the same machine in the same minute.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
USERS = 32
WARM_S = 2.0
MEASURE_S = 5.0
ROUNDS = 3
TARGET_CORE = "0"
GENERATOR_CORE = "1"
BODY = b"<html><body>loadkit bench: a small static page</body></html>\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_conf(prefix: Path, port: int) -> str:
    return f"""
worker_processes 1;
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
    }}
}}
"""


@contextmanager
def nginx() -> Iterator[str]:
    """Our own nginx on a free loopback port, pinned to the target core; stopped by PID."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx-light")
    prefix = Path(tempfile.mkdtemp(prefix="loadkit-nginx-"))
    (prefix / "www").mkdir()
    (prefix / "tmp").mkdir()
    (prefix / "www" / "index.html").write_bytes(BODY)
    port = _free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(_nginx_conf(prefix, port))
    cmd = [
        "taskset",
        "-c",
        TARGET_CORE,
        exe,
        "-p",
        str(prefix),
        "-c",
        str(conf),
        "-e",
        str(prefix / "error.log"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                    ) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(prefix, ignore_errors=True)


def _child(
    cmd: list[str], env: dict[str, str] | None = None, timeout_s: float = 120, cwd: Path = ROOT
) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    full_env = {**os.environ, **(env or {}), "LOADKIT_BENCH_OUT": str(out), "PYTHONPATH": str(cwd)}
    cmd = [arg if arg != "{out}" else str(out) for arg in cmd]
    proc = subprocess.run(
        ["taskset", "-c", GENERATOR_CORE, *cmd],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        timeout=timeout_s,
    )
    try:
        return dict(json.loads(out.read_text()))
    except (json.JSONDecodeError, FileNotFoundError):
        raise RuntimeError(
            f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        ) from None
    finally:
        out.unlink(missing_ok=True)


@dataclass(frozen=True)
class Loop:
    """One throughput round: requests/s over the window and CPU µs per request."""

    rps: float
    cpu_us: float


def _loop(r: dict[str, Any]) -> Loop:
    n = max(1.0, float(r["requests"]))
    return Loop(n / float(r["seconds"]), float(r["cpu_s"]) / n * 1e6)


def plain_locust(url: str) -> Loop:
    locust = str(Path(sys.executable).with_name("locust"))
    run_s = int(WARM_S + MEASURE_S + 2)
    cmd = [
        locust, "-f", "bench/locust_plain.py", "--headless", "-u", str(USERS), "-r", "10000",
        "-t", f"{run_s}s", "--host", url, "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {"LOADKIT_BENCH_WARM_S": str(WARM_S), "LOADKIT_BENCH_MEASURE_S": str(MEASURE_S)}
    return _loop(_child(cmd, env))


def loadkit_loop(url: str) -> Loop:
    cmd = [
        sys.executable, "-m", "bench._runner_loadkit", "loop", url, str(USERS), str(WARM_S),
        str(MEASURE_S), "{out}",
    ]  # fmt: skip
    return _loop(_child(cmd))


def schedule_accuracy(
    url: str, rate: float, seconds: float, gets: int = 1, tree: Path = ROOT, timer: str = "timerfd"
) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "bench._runner_loadkit", "schedule", url, str(rate), str(seconds),
        "{out}", str(gets), timer,
    ]  # fmt: skip
    figures = _child(cmd, cwd=tree)
    if tree == ROOT and figures.get("start_timer") != timer:
        raise RuntimeError(f"asked for the {timer} start timer, the run used {figures}")
    return figures


def noise_floor(rate: float, seconds: float, timer: str) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "bench._runner_loadkit", "floor", str(rate), str(seconds), "{out}",
        timer,
    ]  # fmt: skip
    return _child(cmd)


def _cpu_ticks(core: str) -> tuple[int, int]:
    """(steal, total) jiffies of one CPU from /proc/stat: the hypervisor's share of the core."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                ticks = [int(x) for x in line.split()[1:]]
                return ticks[7], sum(ticks)
    return 0, 0


def _with_steal(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a measurement and add the steal time of the generator's core over it (percent)."""
    steal0, total0 = _cpu_ticks(GENERATOR_CORE)
    figures = measure()
    steal1, total1 = _cpu_ticks(GENERATOR_CORE)
    figures["steal_pct"] = 100.0 * (steal1 - steal0) / max(1, total1 - total0)
    return figures


@contextmanager
def source_tree(rev: str) -> Iterator[Path]:
    """The repository at ``rev`` in a temporary folder (``git archive``; git state untouched)."""
    folder = Path(tempfile.mkdtemp(prefix="loadkit-before-"))
    try:
        archive = subprocess.run(
            ["git", "archive", rev], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SCHEDULES = (  # (label, rate per s, seconds, GETs per arrival)
    ("500/s for 8 s, one GET each", 500, 8, 1),
    ("2,000/s spike for 4 s, one GET each", 2000, 4, 1),
    ("500/s for 8 s, scheduler alone", 500, 8, 0),
    ("2,000/s for 4 s, scheduler alone", 2000, 4, 0),
)


SCHEDULE_ROUNDS = int(os.environ.get("LOADKIT_BENCH_SCHEDULE_ROUNDS", "3"))


def _schedule_runs(
    url: str, trees: list[tuple[str, Path]], rate: float, seconds: float, gets: int
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The runners of one schedule: this tree with its timerfd start timer and with the
    portable libev timer, any older tree, and for the scheduler alone the machine's noise floor
    (bare loops on the same due times)."""
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    for name, tree in trees:
        runs.append((name, functools.partial(schedule_accuracy, url, rate, seconds, gets, tree)))
        if tree == ROOT:
            libev = functools.partial(schedule_accuracy, url, rate, seconds, gets, tree, "libev")
            runs.append((f"{name}, libev timer", libev))
    if gets == 1:
        cmd = [
            sys.executable, "-m", "bench._runner_loadkit", "floor_get", url, str(rate),
            str(seconds), "{out}",
        ]  # fmt: skip
        runs.append(
            ("bare loop, timerfd + plain greenlet per GET (floor)", functools.partial(_child, cmd))
        )
    if gets == 0:
        for timer, label in (("timerfd", "timerfd"), ("sleep", "gevent.sleep")):
            runs.append(
                (
                    f"bare loop, {label} (noise floor)",
                    functools.partial(noise_floor, rate, seconds, timer),
                )
            )
    return runs


def _spread(values: list[float], fmt: str) -> str:
    """``median (min-max)`` of the rounds, or the one value."""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    if len(ordered) == 1:
        return format(median, fmt)
    return f"{median:{fmt}} ({ordered[0]:{fmt}}-{ordered[-1]:{fmt}})"


def _schedule_rows(url: str, trees: list[tuple[str, Path]]) -> list[str]:
    """One table row per (schedule, runner), over SCHEDULE_ROUNDS rounds; within a round the
    runners alternate, so a noisy minute hits all of them."""
    rows = []
    for label, rate, seconds, gets in SCHEDULES:
        runs = _schedule_runs(url, trees, rate, seconds, gets)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in runs}
        for _ in range(SCHEDULE_ROUNDS):
            for name, measure in runs:
                results[name].append(_with_steal(measure))
        for name, rounds in results.items():
            first = rounds[0]

            def col(key: str, fmt: str, rounds: list[dict[str, Any]] = rounds) -> str:
                return _spread([float(r[key]) for r in rounds], fmt)

            rows.append(
                f"| {label} | {name} | {first['arrivals']:,} "
                f"| {sum(int(r['dropped']) for r in rounds)} | {col('p50_ms', '.2f')} ms "
                f"| **{col('p99_ms', '.2f')} ms** | {col('max_ms', '.1f')} ms "
                f"| {col('cpu_us_per_arrival', '.0f')} µs | {col('steal_pct', '.1f')}% |"
            )
    return rows


def micro() -> dict[str, Any]:
    return _child([sys.executable, "-m", "bench._runner_loadkit", "micro", "{out}"])


def _rounds(values: list[Loop]) -> str:
    return ", ".join(f"{x.rps:,.0f} ({x.cpu_us:.0f} µs)" for x in values)


def run() -> str:
    before_rev = os.environ.get("LOADKIT_BENCH_BEFORE_REV")
    if before_rev:
        with source_tree(before_rev) as before:
            return _run([("this tree", ROOT), (f"`{before_rev}`", before)], before_rev)
    return _run([("this tree", ROOT)], None)


def _run(trees: list[tuple[str, Path]], before_rev: str | None) -> str:
    load_before = os.getloadavg()[0]
    with nginx() as url:
        locust: list[Loop] = []
        loadkit: list[Loop] = []
        for _ in range(ROUNDS):
            locust.append(plain_locust(url))
            loadkit.append(loadkit_loop(url))
        schedule_rows = _schedule_rows(url, trees)
    costs = micro()
    load_after = os.getloadavg()[0]
    best_locust = max(x.rps for x in locust)
    best_loadkit = max(x.rps for x in loadkit)
    cpu_locust = min(x.cpu_us for x in locust)
    cpu_loadkit = min(x.cpu_us for x in loadkit)
    lines = [
        "## Runner (`python -m bench runner`)",
        "",
        f"nginx serving a {len(BODY)}-byte static file on core {TARGET_CORE}, load generator on "
        f"core {GENERATOR_CORE} (taskset). {USERS} concurrent users / visitors looping the same "
        f"keep-alive GET; {WARM_S:g} s warm-up, {MEASURE_S:g} s window; {ROUNDS} alternating "
        f"rounds. Machine load average {load_before:.1f} before, {load_after:.1f} after: other "
        "processes share both cores, so requests/s vary from round to round; the generator's "
        "CPU time per request (user + system, over the window) is the steadier figure.",
        "",
        "| what | requests/s, best | CPU per request, best | rounds: req/s (CPU/req) |",
        "| --- | ---: | ---: | --- |",
        f"| plain Locust: FastHttpUser, `constant(0)`, `self.client.get` | {best_locust:,.0f} "
        f"| {cpu_locust:.0f} µs | {_rounds(locust)} |",
        f"| loadkit: one journey per visitor repeating `visitor.http` + `visitor.record`, "
        f"recording to Parquet | {best_loadkit:,.0f} | {cpu_loadkit:.0f} µs | {_rounds(loadkit)} |",
        f"| **loadkit / Locust** | **{best_loadkit / best_locust:.2f}x** "
        f"| **{cpu_locust / cpu_loadkit:.2f}x** as efficient | |",
        "",
        "Schedule accuracy: one seeded Poisson schedule per row, run by a `Session` pinned to "
        f"core {GENERATOR_CORE} (recording on, segments flushed every second). *One GET each*: "
        "every arrival is a new visitor that opens a new connection to nginx and sends one GET. "
        "*Scheduler alone*: every arrival is a visitor that sends nothing (what starting "
        "arrivals costs). *this tree* starts arrivals from its `timerfd` start timer (Linux), "
        "*libev timer* from the portable one (gevent's loop timer, ~1 ms grid), same engine. "
        "*Bare loop (noise floor)*: no loadkit engine, one loop waking at the same due times on "
        "the same core, by the same `timerfd` or by `gevent.sleep`: the best a gevent "
        "scheduler reaches on this machine now. *Steal*: the share of the generator core's "
        "time the hypervisor gave to other guests during the row (/proc/stat); late tails "
        "follow it. Lateness = actual start - scheduled start of each arrival, from the "
        "arrival records (p50/p99 numpy linear, max); CPU = the generator process's user + system "
        "time over the run / arrivals. Targets (issue 2): 500/s p99 ≤ 2 ms with no drops; "
        "2,000/s spike p99 ≤ 20 ms.",
        "",
        f"Each cell: median (min-max) over {SCHEDULE_ROUNDS} rounds "
        "(`LOADKIT_BENCH_SCHEDULE_ROUNDS`); dropped: the sum.",
        "",
        "| schedule | runner | arrivals | dropped | lateness p50 | p99 | max "
        "| generator CPU per arrival | steal |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *schedule_rows,
    ]
    if before_rev:
        lines += [
            "",
            f"`{before_rev}`: the runner at that revision (`git archive`), measured alternately "
            "with this tree, same schedules, same nginx.",
        ]
    lines += [
        "",
        f"Costs without network: `Visitor.record` {costs['record_us']:.2f} µs per row; a new "
        f"visitor with its client {costs['visitor_us']:.1f} µs (geventhttpclient `HTTPClient` "
        f"alone {costs['httpclient_us']:.1f} µs, a Locust `FastHttpSession` "
        f"{costs['fasthttpsession_us']:.1f} µs).",
        "",
        "Reproduce: `python -m bench runner` (needs nginx: `apt-get install nginx-light`); add "
        "`LOADKIT_BENCH_BEFORE_REV=<rev>` to compare the schedule rows with an older runner.",
        "",
    ]
    return "\n".join(lines)
