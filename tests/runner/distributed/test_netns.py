"""A real multi-host run: master, two workers and a shop in their own network namespaces.

Four namespaces joined by veth pairs to a bridge that lives in a fifth one, addresses in a
private /24 (10.200.N.0/24) that exists only inside them: nothing touches the machine's own
interfaces and no packet leaves it. The workers reach the master and the shop over those
addresses, as separate machines would. Needs root and ``ip``; skipped otherwise, except
under CI=true, where it fails instead (CI must run it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.runner.distributed.procs import Procs, write_run
from tests.runner.distributed.test_exchange import arrivals_of, manifest_of
from tests.runner.distributed.test_faults import requests_of

pytestmark = [pytest.mark.integration, pytest.mark.netns]

HOSTS = ("shop", "master", "w1", "w2")  # .1 .2 .3 .4 on the private /24


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs the 'ip' command (iproute2)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Net:
    tag: str
    subnet: str  # "10.200.N"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def addr(self, host: str) -> str:
        return f"{self.subnet}.{HOSTS.index(host) + 1}"

    def exec_prefix(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host)]


def _build(net: Net) -> None:
    bridge_ns = net.ns("br")
    _ip("netns", "add", bridge_ns)
    _ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
    _ip("-n", bridge_ns, "link", "set", "br0", "up")
    for i, host in enumerate(HOSTS):
        ns = net.ns(host)
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        # both ends are created inside the namespaces: the root namespace never sees them
        _ip(
            "link",
            "add",
            "eth0",
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            f"p{i}",
            "netns",
            bridge_ns,
        )
        _ip("-n", bridge_ns, "link", "set", f"p{i}", "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{net.addr(host)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")


@pytest.fixture
def net() -> Iterator[Net]:
    reason = _why_not()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"netns test cannot run under CI: {reason}")
        pytest.skip(reason)
    n = os.getpid() % 200 + 20
    net = Net(tag=f"lk{os.getpid()}", subnet=f"10.200.{n}")
    try:
        _build(net)
        yield net
    finally:  # always: deleting a namespace deletes its veth ends too
        for host in (*HOSTS, "br"):
            subprocess.run(["ip", "netns", "del", net.ns(host)], capture_output=True, timeout=10)


def test_master_and_two_workers_on_separate_hosts_record_the_schedule(
    tmp_path: Path, procs: Procs, net: Net
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "hello").write_text("hello\n")
    shop_url = f"http://{net.addr('shop')}:8080"
    shop = procs.start_raw(
        [
            *net.exec_prefix("shop"),
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            net.addr("shop"),
            "--directory",
            str(www),
        ]
    )
    run_dir = write_run(
        tmp_path,
        host=shop_url,
        settings={
            "master_bind": net.addr("master"),
            "master_port": 5557,
            "expect_workers": 2,
            "worker_wait_s": 20,
        },
    )
    # beyond loopback the cluster is closed: the master and its workers share a key
    key = {"LOADKIT_CLUSTER_KEY": "netns-test-cluster-key-0123456789"}
    master = procs.start("master", str(run_dir), prefix=net.exec_prefix("master"), env=key)
    workers = [  # started at once: a worker keeps trying until the master listens
        procs.start(
            "worker",
            "--master",
            f"{net.addr('master')}:5557",
            "--worker-dir",
            str(tmp_path / host),
            prefix=net.exec_prefix(host),
            env=key,
        )
        for host in ("w1", "w2")
    ]

    code = master.finish(timeout_s=40)
    assert code == 0, master.output()
    assert [w.finish() for w in workers] == [0, 0], [master.output()] + [
        w.output() for w in workers
    ]

    manifest = manifest_of(run_dir)
    assert manifest["records_complete"] is True
    shards = {w["id"]: set(w["shards"]) for w in manifest["workers"]}
    assert len(shards) == 2
    arrivals = arrivals_of(run_dir).to_pylist()
    assert sorted(a["arrival_id"] for a in arrivals) == list(range(40))
    assert all(a["arrival_id"] % 8 in shards[a["worker"]] for a in arrivals)
    requests = requests_of(run_dir)
    assert len(requests) == 40 and {r["status"] for r in requests} == {200}
    assert {r["worker"] for r in requests} == {0, 1}

    shop.signal(15)
    shop.finish()
    clients = set(re.findall(r"^(\d+\.\d+\.\d+\.\d+) - - ", shop.output(), re.MULTILINE))
    assert clients == {net.addr("w1"), net.addr("w2")}  # the load came from the worker hosts
