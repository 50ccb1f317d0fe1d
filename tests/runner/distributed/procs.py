"""Helpers for the distributed tests: run specs, child processes (always reaped by PID), lines."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loadkit.runner.spec import RunMode, RunSpec

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = """\
name: tiny
host: {host}
allow_hosts: ["127.0.0.1", "10.200.*"]
personas:
  fan:
    weight: 3
    steps:
      - request: GET /hello
  bot:
    weight: 1
    steps:
      - request: GET /hello
"""
FEEDER = """\
feeders:
  fans: {file: data/fans.csv, mode: cyclic}
"""
TRACED_PROFILE = """\
name: traced
arrivals: uniform
duration: {duration}
segments:
  - {{kind: trace, file: traces/flat.csv, from: 0s}}
"""
PROFILE = """\
name: short
arrivals: uniform
duration: {duration}
segments:
  - {{kind: constant, from: 0s, to: {duration}, rate: {rate}/s}}
"""


def write_run(
    root: Path,
    *,
    host: str = "http://127.0.0.1:9",
    rate: int = 20,
    duration: str = "2s",
    settings: dict[str, Any] | None = None,
    run_id: str = "dist-test",
    referenced_files: bool = False,
    **spec_fields: Any,
) -> Path:
    """A run folder with a scenario, a profile and a master run spec; returns the folder.

    ``referenced_files``: the scenario has a feeder CSV and the profile is a constant-rate
    trace CSV, each in a subfolder of its own file's folder (files workers must be sent).
    """
    root.mkdir(parents=True, exist_ok=True)
    scenario = root / "scenario" / "tiny.yaml"
    profile = root / "profile" / "short.yaml"
    for folder in (scenario.parent, profile.parent):
        folder.mkdir(exist_ok=True)
    if referenced_files:
        (scenario.parent / "data").mkdir()
        (scenario.parent / "data" / "fans.csv").write_text("fan\nann\nbob\n")
        (profile.parent / "traces").mkdir()
        seconds = float(duration.removesuffix("s"))
        (profile.parent / "traces" / "flat.csv").write_text(
            f"time,rate\n0,{rate}\n{seconds:g},{rate}\n"
        )
        scenario.write_text(SCENARIO.format(host=host) + FEEDER)
        profile.write_text(TRACED_PROFILE.format(duration=duration))
    else:
        scenario.write_text(SCENARIO.format(host=host))
        profile.write_text(PROFILE.format(rate=rate, duration=duration))
    run_dir = root / run_id
    run_dir.mkdir()
    settings = dict(settings or {})
    if settings.get("master_port") == 0:  # a known port: workers can start with the master
        settings["master_port"] = free_port()
    spec = RunSpec(
        run_id=run_id,
        scenario_path=str(scenario),
        profile_path=str(profile),
        host=host,
        seed=1,
        mode=RunMode.MASTER,
        shards=8,
        flush_interval_s=0.3,
        progress_interval_s=1.0,
        start_delay_s=0.5,
        settings={k: {"value": v, "source": "cli"} for k, v in (settings or {}).items()},
        **spec_fields,
    )
    spec.dump(run_dir)
    return run_dir


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process whose output lines are collected by a reader thread."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
        new_session: bool = False,
        raw: bool = False,
    ) -> None:
        cmd = [*prefix, sys.executable, "-m", "tests.runner.distributed._proc", *argv]
        if raw:
            cmd = list(argv)
        self.popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
        )
        self.new_session = new_session
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_for(self, pattern: str, timeout_s: float = 15.0) -> re.Match[str]:
        """The first output line matching ``pattern`` (lines seen before count too)."""
        rx = re.compile(pattern)
        for line in self.lines:
            if m := rx.search(line):
                return m
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self.popen.poll() is not None and self._queue.empty():
                    break
                continue
            self.lines.append(line)
            if m := rx.search(line):
                return m
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + self.output())

    def finish(self, timeout_s: float = 20.0) -> int:
        code = self.popen.wait(timeout=timeout_s)
        time.sleep(0.05)
        self._collect()
        return code

    def _collect(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def output(self) -> str:
        self._collect()
        return "\n".join(self.lines)

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def signal_group(self, sig: int) -> None:
        """Signal the child's whole process group (it must have been started in a new session),
        as Ctrl-C in a terminal does."""
        assert self.new_session, "only a child in its own session may be signalled as a group"
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def reap(self) -> None:
        if self.popen.poll() is None:
            if self.new_session:  # its children (local workers) are in its group
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.kill()
        self.popen.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@dataclass
class Procs:
    started: list[Proc] = field(default_factory=list)

    def start(self, *argv: str, **kw: Any) -> Proc:
        """``python -m tests.runner.distributed._proc ARGV`` (the distributed entry point)."""
        proc = Proc(argv, **kw)
        self.started.append(proc)
        return proc

    def start_raw(self, cmd: Sequence[str]) -> Proc:
        """Any command line."""
        proc = Proc(cmd, raw=True)
        self.started.append(proc)
        return proc


@pytest.fixture
def procs() -> Iterator[Procs]:
    """Start child processes; every one is killed by PID at teardown, pass or fail."""
    box = Procs()
    try:
        yield box
    finally:
        for proc in box.started:
            proc.reap()


def start_master(procs: Procs, run_dir: Path) -> tuple[Proc, int]:
    """Start the master; workers may be started at once (they retry until it listens)."""
    master = procs.start("master", str(run_dir))
    entry = RunSpec.load(run_dir).settings.get("master_port")
    if entry and entry["value"]:
        return master, int(entry["value"])
    port = int(master.wait_for(r"listening on .*:(\d+)").group(1))
    return master, port


__all__ = [
    "PROFILE",
    "SCENARIO",
    "Proc",
    "Procs",
    "free_port",
    "procs",
    "signal",
    "start_master",
    "write_run",
]
