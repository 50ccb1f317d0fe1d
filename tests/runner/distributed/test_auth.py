"""The cluster key: workers prove it once, fresh, with the right key; masters beyond loopback
need one; it is read from a file or the environment and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.errors import ExitCode, InputError
from loadkit.runner.distributed.auth import (
    ClusterKey,
    ProofChecker,
    load_cluster_key,
    make_proof,
    require_key_beyond_loopback,
)
from loadkit.runner.distributed.messages import Hello, MessageType, from_wire, to_wire

KEY = ClusterKey(b"0123456789abcdef-cluster", "test")


def _hello(key: ClusterKey | None = KEY) -> dict[str, object]:
    hello = to_wire(Hello("0.1.0", "2.0", "3.11", "w1", 42))
    if key is not None:
        hello["proof"] = make_proof(key, hello)
    return to_wire(from_wire(MessageType.HELLO, hello))  # as the master receives it


def test_a_worker_with_the_key_joins_once() -> None:
    checker = ProofChecker(KEY)
    hello = _hello()
    assert checker.check(hello) is None
    assert checker.check(hello) == "cluster key proof was already used (a replay)"


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        (_hello(None), "this master requires the cluster key"),
        (_hello(ClusterKey(b"another-key-of-16-chars", "x")), "wrong cluster key"),
    ],
)
def test_a_worker_without_the_right_key_is_refused(hello: dict[str, object], reason: str) -> None:
    assert (ProofChecker(KEY).check(hello) or "").startswith(reason)


def test_a_proof_cannot_be_replayed_later() -> None:
    hello = _hello()
    later_ns = hello["proof"]["time_ns"] + int(3600e9)  # type: ignore[index]
    assert "off this master's clock" in (ProofChecker(KEY).check(hello, now_ns=later_ns) or "")


def test_a_proof_covers_the_hello_it_came_with() -> None:
    hello = _hello()
    hello["host"] = "somebody-else"
    assert ProofChecker(KEY).check(hello) == "wrong cluster key"


def test_without_a_key_anyone_may_join_on_loopback() -> None:
    assert ProofChecker(None).check(_hello(None)) is None


def test_the_key_comes_from_a_file_first_then_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-the-file-0123456789\n")
    env = {"LOADKIT_CLUSTER_KEY": "from-the-environment-0123"}
    key = load_cluster_key(key_file, env)
    assert key is not None and key.secret == b"from-the-file-0123456789"
    assert "from-the-file" not in repr(key)  # never shown
    from_env = load_cluster_key(None, env)
    assert from_env is not None and from_env.source == "LOADKIT_CLUSTER_KEY"
    assert load_cluster_key(None, {}) is None


@pytest.mark.parametrize("text", ["", "short"])
def test_an_empty_or_short_key_is_bad_input(tmp_path: Path, text: str) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(text)
    with pytest.raises(InputError, match="openssl rand -hex 32") as err:
        load_cluster_key(key_file, {})
    assert err.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize("bind", ["0.0.0.0", "*", "10.0.0.5", "master.example"])
def test_a_master_beyond_loopback_needs_a_key(bind: str) -> None:
    with pytest.raises(InputError, match="without a cluster key"):
        require_key_beyond_loopback(bind, None)
    require_key_beyond_loopback(bind, KEY)


@pytest.mark.parametrize("bind", ["127.0.0.1", "::1", "localhost"])
def test_a_master_on_loopback_needs_none(bind: str) -> None:
    require_key_beyond_loopback(bind, None)
