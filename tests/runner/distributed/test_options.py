"""Master and worker settings: addresses, defaults, and where the master reads them from."""

from __future__ import annotations

import pytest

from loadkit.errors import InputError
from loadkit.runner.distributed.options import MasterOptions, WorkerOptions, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", 5557)),
        ("master:6000", ("master", 6000)),
        ("[::1]:7000", ("::1", 7000)),
        ("[fe80::1]", ("fe80::1", 5557)),
    ],
)
def test_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [(":5557", "no host"), ("m:port", "not a number"), ("m:70000", "outside"), ("[::1", "']'")],
)
def test_bad_addresses_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_address(text)


def test_master_reads_settings_with_sources() -> None:
    opts = MasterOptions.from_settings(
        {
            "master_bind": {"value": "0.0.0.0", "source": "cli"},
            "master_port": {"value": 6000, "source": "env"},
            "expect_workers": {"value": 3, "source": "cli"},
        }
    )
    assert (opts.bind, opts.port, opts.expect_workers, opts.local_workers) == (
        "0.0.0.0",
        6000,
        3,
        0,
    )


def test_local_workers_bind_loopback_on_a_free_port_and_expect_themselves() -> None:
    opts = MasterOptions.from_settings({"local_workers": {"value": 2, "source": "cli"}})
    assert (opts.bind, opts.port, opts.expect_workers) == ("127.0.0.1", 0, 2)


def test_bad_master_settings_are_input_errors() -> None:
    with pytest.raises(InputError, match="expect_workers"):
        MasterOptions.from_settings({"expect_workers": {"value": 0, "source": "cli"}})
    with pytest.raises(InputError, match="bad master setting"):
        MasterOptions.from_settings({"master_port": {"value": "x", "source": "cli"}})


def test_worker_connect_retries_cover_the_timeout() -> None:
    assert WorkerOptions("m", connect_timeout_s=2.5).connect_retries == 3
    with pytest.raises(InputError, match="master timeout"):
        WorkerOptions("m", master_timeout_s=0.5)
