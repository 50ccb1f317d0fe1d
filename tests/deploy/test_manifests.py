"""deploy/ agrees with the CLI: names, ports, arguments, files. Parsed, never applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from loadkit.profiles import load_profile
from loadkit.runner.distributed.__main__ import build_parser
from loadkit.runner.distributed.options import DEFAULT_PORT, parse_address
from loadkit.runner.spec import check_target
from loadkit.scenario import load_scenario

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"


def _docs() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


DOCS = _docs()
MASTER = DOCS[("Job", "loadkit-master")]
WORKER = DOCS[("Job", "loadkit-worker")]
SERVICE = DOCS[("Service", "loadkit-master")]
CONFIG = DOCS[("ConfigMap", "loadkit-rehearsal")]


def _container(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one process per pod"
    return containers[0]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_workers_reach_the_master_through_its_service() -> None:
    host, port = parse_address(_option(_container(WORKER)["args"], "--master"))
    assert host == SERVICE["metadata"]["name"]
    master_args = _container(MASTER)["args"]
    assert port == int(_option(master_args, "--port")) == DEFAULT_PORT
    (svc_port,) = SERVICE["spec"]["ports"]
    assert svc_port["port"] == port
    (container_port,) = _container(MASTER)["ports"]
    assert svc_port["targetPort"] == container_port["name"]
    assert container_port["containerPort"] == port
    labels = MASTER["spec"]["template"]["metadata"]["labels"]
    assert SERVICE["spec"]["selector"].items() <= labels.items()


def test_the_master_expects_as_many_workers_as_the_worker_job_runs() -> None:
    expected = int(_option(_container(MASTER)["args"], "--expect-workers"))
    assert WORKER["spec"]["parallelism"] == WORKER["spec"]["completions"] == expected


def test_pods_are_never_retried_or_restarted() -> None:
    for job in (MASTER, WORKER):
        assert job["spec"]["backoffLimit"] == 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_both_jobs_run_the_same_image() -> None:
    assert _container(MASTER)["image"] == _container(WORKER)["image"]


def test_the_master_reads_the_scenario_and_profile_from_the_configmap() -> None:
    args = _container(MASTER)["args"]
    mounts = {m["name"]: m["mountPath"] for m in _container(MASTER)["volumeMounts"]}
    volumes = {v["name"]: v for v in MASTER["spec"]["template"]["spec"]["volumes"]}
    (config_volume,) = [n for n, v in volumes.items() if "configMap" in v]
    assert volumes[config_volume]["configMap"]["name"] == CONFIG["metadata"]["name"]
    for path in (args[1], _option(args, "--profile")):
        folder, _, key = path.rpartition("/")
        assert folder == mounts[config_volume]
        assert key in CONFIG["data"]


def test_the_configmap_scenario_and_profile_load(tmp_path: Path) -> None:
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(CONFIG["data"]["scenario.yaml"])
    profile_file = tmp_path / "profile.yaml"
    profile_file.write_text(CONFIG["data"]["profile.yaml"])
    scenario = load_scenario(scenario_file)
    load_profile(profile_file)
    assert scenario.host is not None
    check_target(scenario.host, scenario.allow_hosts)  # its target is on its own allow-list


def test_worker_args_parse_with_the_worker_entry_point() -> None:
    args = build_parser().parse_args(_container(WORKER)["args"])
    assert args.role == "worker" and args.worker_dir == "/data"


def _cli_command(name: str) -> click.Command:
    from loadkit import cli

    command = cli.cli.commands.get(name)
    if command is None:
        pytest.skip(f"loadkit.cli has no '{name}' command yet (issue 5: the lead adds it)")
    return command


@pytest.mark.parametrize("job", ["master", "worker"])
def test_container_args_are_accepted_by_the_cli(job: str) -> None:
    args = _container(MASTER if job == "master" else WORKER)["args"]
    assert args[0] == job
    command = _cli_command(job)
    ctx = command.make_context(f"loadkit {job}", list(args[1:]))
    assert ctx.params  # parsed without a usage error


def test_dockerfile_installs_the_project_on_python_311_slim() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text.splitlines()
    assert "pip install ." in text
    assert 'ENTRYPOINT ["loadkit"]' in text
    assert f"EXPOSE {DEFAULT_PORT}" in text
    image = _container(MASTER)["image"]
    assert image.startswith("loadkit:")
    from loadkit import __version__

    assert image == f"loadkit:{__version__}"


def test_the_cluster_is_closed_with_a_key_from_a_secret() -> None:
    from loadkit.errors import InputError
    from loadkit.runner.distributed.auth import KEY_ENV, require_key_beyond_loopback

    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (generator,) = kustomization["secretGenerator"]
    assert generator["options"]["disableNameSuffixHash"] is True  # the jobs name it as is
    (entry,) = generator["files"]
    secret_key, _, source = entry.partition("=")
    assert source in (K8S / ".gitignore").read_text().split()  # the key is never committed
    for job in (MASTER, WORKER):
        container = _container(job)
        (env,) = [e for e in container["env"] if e["name"] == KEY_ENV]
        ref = env["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (generator["name"], secret_key)
        assert not any(KEY_ENV in str(a) or "key" in str(a).lower() for a in container["args"])
    # the master listens beyond loopback: without the key the CLI would refuse to start it
    bind = _option(_container(MASTER)["args"], "--bind")
    with pytest.raises(InputError, match="without a cluster key"):
        require_key_beyond_loopback(bind, None)
