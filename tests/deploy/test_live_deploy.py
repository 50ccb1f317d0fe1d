"""deploy/ and the live view agree: the scrape annotations point at the master's --live port,
its key comes from a Secret, and the Grafana dashboard asks only for series loadkit exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from loadkit.runner.live_address import KEY_ENV, check_live, parse_live_address
from loadkit.runner.live_board import (
    ArrivalBatch,
    Arrivals,
    GateReading,
    LiveBoard,
    RequestBatch,
    WorkerHealth,
)
from loadkit.runner.live_metrics import registry_for, render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MASTER_JOB = yaml.safe_load((DEPLOY / "k8s" / "master-job.yaml").read_text())
DASHBOARD = json.loads((DEPLOY / "grafana" / "loadkit-rehearsal.json").read_text())


def _master() -> dict[str, Any]:
    (container,) = MASTER_JOB["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_prometheus_scrapes_the_port_the_master_serves_live_on() -> None:
    args = _master()["args"]
    address = parse_live_address(args[args.index("--live") + 1])
    annotations = MASTER_JOB["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == address.port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert not address.loopback  # a scraper in another pod must reach it...
    with pytest.raises(Exception, match="without a key"):
        check_live(address, None)  # ...so it needs a key, which comes from a Secret
    (key_env,) = [e for e in _master()["env"] if e["name"] == KEY_ENV]
    assert "secretKeyRef" in key_env["valueFrom"]
    assert "--live-key" not in args  # never in args, where `kubectl describe` shows it


def _exported_names() -> set[str]:
    board = LiveBoard(
        run_id="r",
        mode="master",
        arrivals=Arrivals(1, 1, 0, 1),
        arrivals_by_worker={0: Arrivals(1, 1, 0, 1)},
        gates=(GateReading("x < 1", "breach", value=2.0, abort_after_s=5.0, abort_in_s=3.0),),
        workers=(WorkerHealth(0, "h", "running", True, cpu_percent=1.0, last_heard_s=0.1),),
    )
    board.add_requests(RequestBatch([0], ["s"], ["ok"], [200], [1.0]))
    board.add_arrivals(
        ArrivalBatch([0], ["abandoned"], ["r"], [1.0], [True], [True], [True], [True]),
        lateness=True,
    )
    text = render(registry_for(board)).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _exprs(panels: list[dict[str, Any]]) -> list[str]:
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_the_dashboard_uses_only_series_loadkit_exports() -> None:
    exported = _exported_names()
    used = {
        name for expr in _exprs(DASHBOARD["panels"]) for name in re.findall(r"loadkit_\w+", expr)
    }
    assert used and used <= exported, used - exported


def test_the_dashboard_asks_for_its_datasource_on_import() -> None:
    (ds_input,) = DASHBOARD["__inputs"]
    assert ds_input["type"] == "datasource" and ds_input["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in DASHBOARD["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    # the target's own metrics sit beside the rehearsal's
    assert any('job=~"$target_job"' in e for e in _exprs(DASHBOARD["panels"]))
