"""The rules that end a wedged run with no stop asked for, without processes: the runner's
watchdog (a stalled loop past the planned end), the CLI's guard (a silent heartbeat past it)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gevent import monkey

from loadkit.runner.child import mark_unfinished
from loadkit.runner.overrun import SILENT_S, OverrunGuard, planned_end_epoch_s
from loadkit.runner.watchdog import OVERRUN_STALL_S, STALL_SAY_S, StopWatchdog


def _watchdog(planned_end_s: float | None, lines: list[str]) -> StopWatchdog:
    dog = StopWatchdog(lambda reason, overrun: None, say=lines.append, overrun_grace_s=5.0)
    dog.planned_end_s = planned_end_s
    # what start() records: this OS thread's id (not gevent's patched get_ident, which an
    # earlier test in this process may have installed and which names a greenlet)
    dog._main_thread = monkey.get_original("_thread", "get_ident")()
    return dog


def test_a_loop_that_ticks_is_never_forced_even_long_past_the_planned_end() -> None:
    lines: list[str] = []
    dog = _watchdog(time.monotonic() - 60, lines)
    dog.last_tick_s = time.monotonic()
    assert dog._look() is None and lines == []


def test_a_loop_stalled_before_the_planned_end_is_reported_once_not_forced() -> None:
    lines: list[str] = []
    dog = _watchdog(time.monotonic() + 60, lines)
    dog.last_tick_s = time.monotonic() - STALL_SAY_S - 1
    assert dog._look() is None and dog._look() is None
    assert len(lines) == 1 and lines[0].startswith("the event loop has not run for 4 s")
    assert "the main thread is at " in lines[0]


def test_a_loop_stalled_past_the_planned_end_and_its_grace_is_forced() -> None:
    lines: list[str] = []
    dog = _watchdog(time.monotonic() - 4, lines)  # within the 5 s grace: not yet
    dog.last_tick_s = time.monotonic() - OVERRUN_STALL_S - 1
    assert dog._look() is None
    dog.planned_end_s = time.monotonic() - 6
    reason = dog._look()
    assert reason is not None
    assert reason.startswith("the run did not end by itself: 6 s after its planned end")


def test_without_a_planned_end_a_stall_is_only_reported() -> None:
    lines: list[str] = []
    dog = _watchdog(None, lines)
    dog.last_tick_s = time.monotonic() - 600
    assert dog._look() is None and len(lines) == 1


def _manifest(run_dir: Path, *, t0_s: float, **extra: Any) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "schema_version": 1, "run_id": "r", "status": "running", "t0_ns": int(t0_s * 1e9),
        "duration_s": 2.0, "settings": {"drain_s": {"value": 1.0, "source": "flag"}},
        "workers": [{"id": 0, "fate": "running"}], **extra,
    }  # fmt: skip
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def test_the_planned_end_is_t0_plus_profile_plus_drain(tmp_path: Path) -> None:
    _manifest(tmp_path, t0_s=1000.0)
    assert planned_end_epoch_s(tmp_path) == 1003.0
    assert planned_end_epoch_s(tmp_path / "nothing-here") is None


def _guard(run_dir: Path, beat_ago_s: float | None) -> OverrunGuard:
    guard = OverrunGuard(run_dir, kill_after_s=10.0)
    guard.started()
    if beat_ago_s is not None:
        guard.last_beat_s = time.monotonic() - beat_ago_s
    return guard


def test_the_cli_kills_only_a_silent_runner_far_past_its_planned_end(tmp_path: Path) -> None:
    _manifest(tmp_path, t0_s=time.time() - 20)  # planned end 17 s ago
    cases = {
        "never beat (try, a master)": (None, None),
        "beating": (0.0, None),
        "silent": (SILENT_S + 1, "the runner was still going 17 s after the run's planned end"),
    }
    for name, (beat_ago_s, want) in cases.items():
        guard = _guard(tmp_path, beat_ago_s)
        try:
            got = guard.check()
        finally:
            guard.close()
        assert (got if want is None else (got or "")[: len(want)]) == want, name


def test_the_cli_leaves_a_silent_runner_alone_before_its_planned_end_and_margin(
    tmp_path: Path,
) -> None:
    _manifest(tmp_path, t0_s=time.time() - 8)  # planned end 5 s ago, kill 10 s after it
    guard = _guard(tmp_path, SILENT_S + 1)
    try:
        assert guard.check() is None
    finally:
        guard.close()


def test_a_heartbeat_on_the_pipe_is_heard(tmp_path: Path) -> None:
    guard = OverrunGuard(tmp_path)
    try:
        os.write(guard.write_fd, b"..")
        assert guard.check() is None and guard.last_beat_s is not None
    finally:
        guard.started()
        guard.close()


def test_a_killed_overrunning_runner_is_marked_failed_with_the_cause(tmp_path: Path) -> None:
    _manifest(tmp_path, t0_s=time.time() - 30)
    note = mark_unfinished(tmp_path, -9, stopped=False, overrun="the runner was still going")
    assert note == "the runner was still going: killed; records after its last flush were lost"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["records_complete"] is False
    assert manifest["workers"][0]["fate"] == "killed"
    assert manifest["crashed"]["cause"] == "the runner was still going"  # not "out of memory?"
