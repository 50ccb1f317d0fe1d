"""The generator's own limits: which errors are its fault, the open-files limit at start, and
the descriptors the record writer keeps back from the crowd."""

from __future__ import annotations

import errno
import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadkit.analysis.model import ValidityBudget
from loadkit.analysis.validity import check_validity
from loadkit.results.schema import GENERATOR_FAULT_PREFIX, Outcome
from loadkit.runner.generator_faults import (
    generator_fault,
    hard_open_files_limit,
    open_files_limit,
    open_files_warning,
    raise_open_files_limit,
)
from loadkit.runner.progress import Progress, format_progress
from loadkit.runner.visitor import _classify

FAULTS = {
    errno.EMFILE: ("EMFILE", "file descriptors", "ulimit -n"),
    errno.ENFILE: ("ENFILE", "system-wide open-file limit", "fs.file-max"),
    errno.EADDRNOTAVAIL: ("EADDRNOTAVAIL", "local ports", "ip_local_port_range"),
    errno.ENOBUFS: ("ENOBUFS", "socket buffer space", "more memory"),
    errno.ENOMEM: ("ENOMEM", "memory for a socket", "more memory"),
}


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_each_errno_of_the_generators_own_resources_is_a_generator_fault(code: int) -> None:
    name, what, fix = FAULTS[code]
    kind, text = _classify(OSError(code, os.strerror(code)), "GET", None)  # type: ignore[arg-type]
    assert kind == Outcome.CONNECTION_ERROR.value
    assert text.startswith(f"{GENERATOR_FAULT_PREFIX} ({name}")
    assert what in text and fix in text and text.endswith("not the target's fault")


def test_running_out_of_descriptors_names_the_limit() -> None:
    text = generator_fault(OSError(errno.EMFILE, "Too many open files"))
    assert text is not None and f"limit {open_files_limit():,}" in text


def test_a_fault_wrapped_by_the_client_is_still_the_generators() -> None:
    try:
        try:
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        except OSError as inner:
            raise RuntimeError("connect failed") from inner
    except RuntimeError as outer:
        text = generator_fault(outer)
    assert text is not None and "EADDRNOTAVAIL" in text


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        OSError("no errno at all"),
    ],
)
def test_the_targets_refusals_stay_ordinary_connection_errors(exc: OSError) -> None:
    assert generator_fault(exc) is None
    kind, text = _classify(exc, "GET", None)  # type: ignore[arg-type]
    assert kind == Outcome.CONNECTION_ERROR.value
    assert not text.startswith(GENERATOR_FAULT_PREFIX)


@pytest.fixture
def restore_nofile() -> Iterator[tuple[int, int]]:
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield limits
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def test_the_soft_open_files_limit_is_raised_to_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 300:
        pytest.skip(f"the hard limit here ({hard}) leaves no room to raise")
    # in a child: a soft limit of 256 here would refuse other tests' threads their sockets
    code = (
        "import resource; from loadkit.runner.generator_faults import open_files_limit,"
        " raise_open_files_limit; hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1];"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard));"
        "print(open_files_limit(), raise_open_files_limit(cap=4096),"
        " *resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    expected = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    # raised to the hard limit (capped), and the hard limit stays as it was
    assert out.stdout.split() == ["256", str(expected), str(expected), str(hard)], out.stderr


def test_the_limit_is_never_lowered_and_a_capped_hard_limit_is_kept(
    restore_nofile: tuple[int, int],
) -> None:
    soft, _hard = restore_nofile
    assert raise_open_files_limit(cap=16) == soft  # a cap below the soft limit lowers nothing
    # soft == hard (a hard limit cannot be raised back, so in a child): nothing to raise
    code = (
        "import resource; from loadkit.runner.generator_faults import raise_open_files_limit;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200));"
        "print(raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.split("\n")[0] == "200 (200, 200)", out.stdout + out.stderr


def _in_a_child(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.runner.fd_child", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip().endswith("ok"), done.stdout + done.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_records_are_written_when_the_crowd_took_every_descriptor(tmp_path: Path) -> None:
    """The flusher's reserve lets it write when every other descriptor is taken (in a child:
    see tests/runner/fd_child.py)."""
    _in_a_child("records", str(tmp_path))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_reserve_gives_back_what_it_holds() -> None:
    _in_a_child("reserve")


def test_the_progress_line_shows_generator_faults_only_when_there_are_some() -> None:
    calm = Progress(3.0, "spike", 10, 10, 0, 1, 5.0, 0, 1.0)
    assert "generator" not in format_progress(calm)
    bad = Progress(3.0, "spike", 10, 10, 0, 1, 5.0, 7, 1.0, generator_faults=4)
    assert format_progress(bad).endswith("4 generator faults (run invalid: see the error text)")


def _arrivals() -> Any:
    import pandas as pd

    return pd.DataFrame({"lateness_ms": [0.5, 0.7], "outcome": ["completed", "failed"]})


def test_any_generator_fault_makes_the_run_invalid_and_says_what_ran_out() -> None:
    text = generator_fault(OSError(errno.EMFILE, "Too many open files"))
    assert text is not None
    budget = ValidityBudget()
    manifest: dict[str, Any] = {"status": "completed", "workers": []}
    bad = check_validity(
        manifest, _arrivals(), partial_reasons=(), budget=budget, generator_faults={text: 3}
    )
    assert not bad.valid
    (check,) = [c for c in bad.checks if c.name == "generator faults"]
    assert (check.observed_text, check.budget_text) == ("3 requests", "≤ 0")
    assert "ran out of file descriptors" in check.detail and "ulimit -n" in check.detail
    good = check_validity(
        manifest, _arrivals(), partial_reasons=(), budget=budget, generator_faults={}
    )
    assert good.valid and any(c.name == "generator faults" for c in good.checks)


REPO = Path(__file__).resolve().parents[2]


def _plan(limit: int | None) -> str:
    def lower() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "loadkit.cli", "plan", "scenarios/onsale-demo.yaml", "-p",
         "profiles/spike-demo.yaml"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        preexec_fn=lower,  # one setrlimit call in the child
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_plan_warns_when_the_peak_crowd_needs_more_descriptors_than_the_machine_allows() -> None:
    out = _plan(256)  # the demo's peak: ~600 visitors in flight, one connection each
    (line,) = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert "may open 256 files" in line and "ulimit -Hn" in line and "--workers" in line
    assert open_files_warning(600, 256) is not None
    assert open_files_warning(600, 20_000) is None and open_files_warning(None, 256) is None


def test_plan_says_nothing_of_descriptors_when_the_crowd_fits() -> None:
    limit = hard_open_files_limit()
    if limit is None or limit < 2_000:
        pytest.skip(f"this machine's open-files limit ({limit}) is below the demo's crowd")
    assert "file descriptor" not in _plan(None)
