"""``--live`` bad input: refused with exit 2 before any load (a taken port, no key beyond
loopback), by the CLI and by the runner itself."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadkit.errors import ExitCode, InputError
from loadkit.runner.live_address import (
    KEY_ENV,
    LiveAddress,
    check_live,
    parse_live_address,
    prepare_live,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (":9646", LiveAddress("127.0.0.1", 9646)),
        ("9646", LiveAddress("127.0.0.1", 9646)),
        ("0.0.0.0:9000", LiveAddress("0.0.0.0", 9000)),
        ("[::1]:9646", LiveAddress("::1", 9646)),
        ("localhost:0", LiveAddress("localhost", 0)),
    ],
)
def test_addresses_parse_with_loopback_by_default(text: str, want: LiveAddress) -> None:
    assert parse_live_address(text) == want


@pytest.mark.parametrize("text", ["host:port", ":70000", "::1:9646", "[::1]9646"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--live"):
        parse_live_address(text)


def test_beyond_loopback_needs_a_key() -> None:
    check_live(LiveAddress("127.0.0.1", 1), None)
    check_live(LiveAddress("::1", 1), None)
    with pytest.raises(InputError, match="without a key") as exc:
        check_live(LiveAddress("0.0.0.0", 9646), None)
    assert "--live-key" in str(exc.value) and KEY_ENV in str(exc.value)
    with pytest.raises(InputError, match="at least 8"):
        check_live(LiveAddress("10.0.0.5", 9646), "short")
    check_live(LiveAddress("10.0.0.5", 9646), "long-enough-key")


def test_a_taken_port_is_named(taken_port: int) -> None:
    with pytest.raises(
        InputError, match=f"--live port {taken_port} on 127.0.0.1 is already in use"
    ):
        prepare_live(f":{taken_port}", None, {})


def test_the_key_comes_from_the_flag_else_the_environment() -> None:
    assert prepare_live(None, None, {KEY_ENV: "from-the-env"}) == (None, None)
    assert prepare_live("0.0.0.0:0", None, {KEY_ENV: "from-the-env"}) == (
        "0.0.0.0:0",
        "from-the-env",
    )
    assert prepare_live("0.0.0.0:0", "from-the-flag", {KEY_ENV: "x"})[1] == "from-the-flag"
    with pytest.raises(InputError, match="only used with --live"):
        prepare_live(None, "a-key-but-no-live", {})


def _loadkit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env=env,
    )


def _run_args(tmp_path: Path, *live: str) -> list[str]:
    return [
        "run",
        str(ROOT / "scenarios" / "smoke.yaml"),
        "-p",
        str(ROOT / "profiles" / "smoke.yaml"),
        "--host",
        "http://127.0.0.1:9",  # nothing may be sent: a closed port, so a request would fail
        "--out",
        str(tmp_path / "out"),
        *live,
    ]


def test_cli_refuses_a_taken_port_before_any_load(tmp_path: Path, taken_port: int) -> None:
    done = _loadkit(*_run_args(tmp_path, "--live", f":{taken_port}"), cwd=tmp_path)
    assert done.returncode == ExitCode.BAD_INPUT, done.stdout + done.stderr
    assert f"--live port {taken_port} on 127.0.0.1 is already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # no run folder, no runner, no load


def test_cli_refuses_a_public_address_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != KEY_ENV}
    done = _loadkit(*_run_args(tmp_path, "--live", "0.0.0.0:0"), cwd=tmp_path, env=env)
    assert done.returncode == ExitCode.BAD_INPUT, done.stdout + done.stderr
    assert "refusing to serve it without a key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_runner_refuses_a_port_taken_after_the_cli_checked(
    tmp_path: Path, taken_port: int
) -> None:
    from loadkit.runner import RunSpec

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunSpec(
        run_id="late",
        scenario_path=str(ROOT / "scenarios" / "smoke.yaml"),
        profile_path=str(ROOT / "profiles" / "smoke.yaml"),
        host="http://127.0.0.1:9",
        seed=1,
        live=f"127.0.0.1:{taken_port}",
    ).dump(run_dir)
    done = subprocess.run(
        [sys.executable, "-m", "loadkit.runner", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    assert f"--live port {taken_port} on 127.0.0.1 is already in use" in done.stderr
    assert not list(run_dir.glob("records/*.parquet"))  # nothing ran
