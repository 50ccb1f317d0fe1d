"""RunSpec (the CLI → runner contract) and the target allow-list; importable without gevent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadkit.errors import InputError, TargetError
from loadkit.runner import RunMode, RunSpec, check_target


def _spec(**kw: object) -> RunSpec:
    base: dict[str, object] = dict(
        run_id="r1",
        scenario_path="s.yaml",
        profile_path="p.yaml",
        host="http://127.0.0.1:8080",
        seed=7,
    )
    base.update(kw)
    return RunSpec(**base)  # type: ignore[arg-type]


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    spec = _spec(thresholds=("p(95) < 1s",), settings={"seed": {"value": 7, "source": "flag"}},
                 duration_limit_s=30.0)  # fmt: skip
    path = spec.dump(tmp_path)
    assert path.name == "run-spec.json"
    data = json.loads(path.read_text())
    assert data["spec_version"] == 1 and data["mode"] == "local" and data["shards"] == 64
    assert RunSpec.load(tmp_path) == spec
    assert RunSpec.load(path).mode is RunMode.LOCAL


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    data = _spec().to_dict() | {"max_inflight": 5}
    (tmp_path / "run-spec.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"max_inflight.*max_in_flight"):
        RunSpec.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"shards": 0}, "shards"), ({"flush_interval_s": 0}, "flush_interval_s"),
     ({"spec_version": 2}, "spec_version"), ({"mode": "cluster"}, "mode")],
)  # fmt: skip
def test_bad_values_are_input_errors(change: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RunSpec.from_dict(_spec().to_dict() | change)


def test_missing_required_key_is_an_input_error() -> None:
    data = _spec().to_dict()
    del data["host"]
    with pytest.raises(InputError, match="host"):
        RunSpec.from_dict(data)


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8080", "http://localhost", "https://[::1]:8443/", "http://127.0.0.5"]
)
def test_loopback_is_always_allowed(host: str) -> None:
    assert check_target(host) == host.rstrip("/")


def test_listed_hosts_and_patterns_are_allowed_and_credentials_dropped() -> None:
    assert (
        check_target("https://u:p@shop.staging.test/api/", ["*.staging.test"])
        == "https://shop.staging.test/api"
    )
    assert check_target("http://box:8080", ["box:8080"]) == "http://box:8080"


@pytest.mark.parametrize("host", ["http://example.com", "http://10.0.0.1", "http://box:9090"])
def test_other_hosts_are_refused(host: str) -> None:
    with pytest.raises(TargetError, match="allow-list"):
        check_target(host, ["box:8080"])
    assert TargetError("x").exit_code == 2


def test_not_a_url_is_refused() -> None:
    with pytest.raises(TargetError, match="http"):
        check_target("127.0.0.1:8080")


def test_importing_the_runner_package_does_not_import_gevent() -> None:
    code = "import sys, loadkit.runner; print('gevent' in sys.modules or 'locust' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
