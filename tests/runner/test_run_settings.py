"""Settings reach every process one way: resolved once (flag > env > file > default), typed,
recorded with their source; local runs and workers build their plan and engine alike."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from loadkit.errors import ExitCode, InputError
from loadkit.runner import defaults
from loadkit.runner.distributed.job import build_engine, prepare, warm_flusher
from loadkit.runner.distributed.messages import FilePayload
from loadkit.runner.distributed.messages import Plan as WirePlan
from loadkit.runner.engine_types import EngineOptions
from loadkit.runner.run_settings import RunFlags, resolve_run_settings
from loadkit.runner.spec import RunSpec
from loadkit.scenario import load_scenario
from loadkit.scenario.models import ScenarioSettings

SCENARIO = """\
name: mini
host: http://127.0.0.1:9
settings:
  request_timeout: 4s
personas:
  fan:
    steps:
      - request: GET /
"""

PROFILE = """\
name: mini
arrivals: uniform
duration: 1s
segments:
  - {kind: constant, from: 0s, to: 1s, rate: 10/s}
phases:
  - {name: main, from: 0s, to: 1s}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def test_each_value_comes_from_the_first_place_that_sets_it(scenario: Any) -> None:
    env = {"LOADKIT_DRAIN_S": "5s", "LOADKIT_SEED": "9", "LOADKIT_SHARDS": "16"}
    s = resolve_run_settings(RunFlags(seed=3), scenario, environ=env)
    assert (s["seed"].value, s["seed"].source.value) == (3, "cli")  # flag beats env
    assert (s["drain_s"].value, s["drain_s"].source.value) == (5.0, "env")
    assert (s["shards"].value, s["shards"].detail) == (16, "LOADKIT_SHARDS")
    assert (s["request_timeout_s"].value, s["request_timeout_s"].source.value) == (4.0, "file")
    assert s["max_in_flight"].value == defaults.DEFAULT_MAX_IN_FLIGHT
    assert s["max_in_flight"].source.value == "default"


def test_a_duration_with_units_is_read_from_the_environment(scenario: Any) -> None:
    env = {"LOADKIT_REQUEST_TIMEOUT_S": "8s"}
    s = resolve_run_settings(RunFlags(), scenario, environ=env)
    assert (s["request_timeout_s"].value, s["request_timeout_s"].source.value) == (8.0, "env")


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "soon"])
def test_an_impossible_timeout_is_bad_input_naming_the_variable(scenario: Any, raw: str) -> None:
    with pytest.raises(InputError, match="LOADKIT_REQUEST_TIMEOUT_S") as err:
        resolve_run_settings(RunFlags(), scenario, environ={"LOADKIT_REQUEST_TIMEOUT_S": raw})
    assert err.value.exit_code == ExitCode.BAD_INPUT


def test_a_master_listens_on_loopback_unless_told_otherwise(scenario: Any) -> None:
    s = resolve_run_settings(RunFlags(master=True), scenario, environ={})
    assert s["master_bind"].value == "127.0.0.1"
    assert "workers" not in s
    told = resolve_run_settings(
        RunFlags(master=True), scenario, environ={"LOADKIT_MASTER_BIND": "0.0.0.0"}
    )
    assert (told["master_bind"].value, told["master_bind"].source.value) == ("0.0.0.0", "env")


def test_the_models_share_the_resolved_defaults(scenario: Any) -> None:
    bare = dataclasses.replace(scenario, settings=ScenarioSettings())
    s = resolve_run_settings(RunFlags(), bare, environ={})
    spec = RunSpec(run_id="r", scenario_path="-", profile_path="-", host="http://x", seed=1)
    assert spec.shards == EngineOptions().shards == s["shards"].value
    assert spec.max_in_flight == EngineOptions().max_in_flight == s["max_in_flight"].value
    assert spec.request_timeout_s == s["request_timeout_s"].value


def _wire_plan(host: str) -> WirePlan:
    return WirePlan(
        worker_id=0,
        run_id="r1",
        seed=2,
        shards=(0, 2),
        total_shards=4,
        clock_offset_ns=0,
        host=host,
        scenario=FilePayload.of("s.yaml", SCENARIO.encode()),
        profile=FilePayload.of("p.yaml", PROFILE.encode()),
        spec=RunSpec(
            run_id="r1", scenario_path="-", profile_path="-", host=host, seed=2, shards=4
        ).to_dict(),
    )


def test_a_worker_resolves_the_target_once_before_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = socket.getaddrinfo

    def counting(host: Any, *args: Any, **kw: Any) -> Any:
        calls.append(host)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    prepared = prepare(_wire_plan("http://localhost:9"), tmp_path / "job", dry_run=True)
    from loadkit.runner.distributed.job import StreamingWriter

    flusher = warm_flusher(prepared, StreamingWriter(tmp_path / "job", 0))
    engine = build_engine(prepared, flusher, t0_ns=0)
    assert engine.target.addrinfo is not None  # visitors connect without a lookup each
    assert calls == ["localhost"]
    # the worker's plan is the local run's plan of its shards
    assert set(prepared.plan.arrivals.ids.tolist()) <= {i for i in range(100) if i % 4 in (0, 2)}
    assert len(prepared.plan.arrivals) > 0


def test_try_takes_seed_and_host_from_the_same_places_as_run(tmp_path: Path) -> None:
    import io

    from loadkit.runner import trial
    from tests.runner.journey_server import serve

    path = tmp_path / "t.yaml"
    path.write_text("name: t\npersonas:\n  fan:\n    steps:\n      - request: GET /form\n")
    with serve() as server:
        out = io.StringIO()
        env = {"LOADKIT_SEED": "7", "LOADKIT_HOST": server.url}
        code = trial.trial([str(path)], out, environ=env)
    assert code == 0
    assert f"→ {server.url} (seed 7)" in out.getvalue()


@pytest.mark.integration
@pytest.mark.parametrize("workers", [1, 2])
def test_a_value_set_once_reaches_the_manifest_with_its_source(
    tmp_path: Path, tiny_server: Any, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from loadkit.rehearsal import RunRequest, rehearse

    (tmp_path / "s.yaml").write_text(SCENARIO.replace("http://127.0.0.1:9", tiny_server.url))
    (tmp_path / "p.yaml").write_text(PROFILE)
    monkeypatch.setenv("LOADKIT_DRAIN_S", "7s")
    monkeypatch.setenv("LOADKIT_SHARDS", "8")
    request = RunRequest(
        scenario=tmp_path / "s.yaml",
        profile=tmp_path / "p.yaml",
        out_dir=tmp_path / "results",
        run_id="r",
        workers=workers,
        analyze=False,
    )
    assert rehearse(request, echo=lambda line: None) == 0
    manifest = json.loads((tmp_path / "results" / "r" / "manifest.json").read_text())
    settings = manifest["settings"]
    assert settings["drain_s"] == {"value": 7.0, "source": "env", "detail": "LOADKIT_DRAIN_S"}
    assert settings["request_timeout_s"]["source"] == "file"
    assert manifest["shards"] == 8 and settings["shards"]["source"] == "env"
    assert manifest["status"] == "completed" and len(manifest["workers"]) == workers


@pytest.mark.integration
def test_loadkit_try_hands_its_resolved_settings_to_the_trial_process(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loadkit.cli import main
    from tests.runner.journey_server import serve

    path = tmp_path / "t.yaml"
    path.write_text("name: t\npersonas:\n  fan:\n    steps:\n      - request: GET /form\n")
    monkeypatch.setenv("LOADKIT_SEED", "11")
    with serve() as server, pytest.raises(SystemExit) as done:
        main(["try", str(path), "--host", server.url])
    out, err = capfd.readouterr()
    assert done.value.code == 0, err
    assert f"loadkit try t → {server.url} (seed 11)" in out
    assert "→ completed" in out
