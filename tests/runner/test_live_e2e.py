"""``loadkit run --live`` for real: the demo shop, a short rehearsal, /metrics scraped while it
runs and checked against the records it wrote; the live page in headless Chromium, whose Stop
button ends the run as Ctrl-C would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadkit.demo import ShopProcess
from tests.runner.cdp import CHROMIUM, Browser

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
SMOKE_PROFILE = ROOT / "profiles" / "smoke.yaml"
LONG_PROFILE = """\
name: long
arrivals: poisson
duration: 40s
segments:
  - {kind: constant, from: 0s, to: 40s, rate: 6/s}
phases:
  - {name: steady, from: 0s, to: 40s}
"""
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class LiveRun:
    """``loadkit run ... --live 127.0.0.1:0 --no-analyze`` in the background."""

    def __init__(self, tmp_path: Path, host: str, profile: Path, *extra: str) -> None:
        self.out = tmp_path / "out"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadkit.cli",
                "run",
                str(SMOKE),
                "-p",
                str(profile),
                "--host",
                host,
                "--out",
                str(self.out),
                "--no-analyze",
                "--live",
                "127.0.0.1:0",
                *extra,
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # a master says where it listens on stdout
            text=True,
        )
        self.stderr: list[str] = []
        self._found = threading.Event()
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self._found.wait(60), "no 'live view at' line:\n" + "".join(self.stderr)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stderr.append(line)
            if "live view at " in line and not self._found.is_set():
                self.url = line.split("live view at ", 1)[1].strip()
                self._found.set()
        self.proc.stdout.close()

    def wait(self, timeout_s: float = 90) -> int:
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(10)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)

    def run_dir(self) -> Path:
        (run,) = [p for p in self.out.iterdir() if p.is_dir()]
        return run


@pytest.fixture
def live_run(demo_shop: ShopProcess, tmp_path: Path) -> Iterator[type[LiveRun]]:
    started: list[LiveRun] = []

    class Tracked(LiveRun):
        def __init__(self, profile: Path, *extra: str) -> None:  # type: ignore[override]
            super().__init__(tmp_path, demo_shop.url, profile, *extra)
            started.append(self)

    try:
        yield Tracked  # type: ignore[misc]
    finally:
        for run in started:
            run.stop()


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url + "metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items()
    )


def records(run_dir: Path, kind: str) -> list[dict[str, object]]:
    files = sorted(str(p) for p in (run_dir / "records").glob(f"{kind}-w*.parquet"))
    return ds.dataset(files, format="parquet").to_table().to_pylist()


def wait_until(check: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_metrics_move_during_the_run_and_agree_with_the_records(
    live_run: type[LiveRun], tmp_path: Path
) -> None:
    profile = tmp_path / "steady.yaml"  # arrivals until t0+14s: both scrapes fall inside
    profile.write_text(LONG_PROFILE.replace("40s", "14s"))
    run = live_run(profile)
    wait_until(lambda: total(scrape(run.url), "loadkit_requests_total") > 0)
    first = scrape(run.url)
    time.sleep(3.0)
    second = scrape(run.url)
    assert run.wait() == 0, "".join(run.stderr)
    for name in (
        "loadkit_requests_total",
        "loadkit_arrivals_started_total",
        "loadkit_arrivals_scheduled_total",
    ):
        assert total(second, name) > total(first, name) > 0, name
    requests = records(run.run_dir(), "requests")
    arrivals = records(run.run_dir(), "arrivals")
    for scraped in (first, second):
        tick_ns = total(scraped, "loadkit_live_tick_timestamp_seconds") * 1e9
        slack_ns = 0.1e9  # a row is recorded microseconds after its request ends

        def ended_by(t_ns: float, step: str | None = None) -> int:
            return sum(
                1
                for r in requests
                if int(r["start_ns"]) + float(r["service_ms"]) * 1e6 <= t_ns  # type: ignore[arg-type]
                and (step is None or r["step"] == step)
            )

        for step in ("landing", "queue.join", "queue.poll"):
            counted = total(scraped, "loadkit_requests_total", step=step)
            assert (
                ended_by(tick_ns - slack_ns, step) <= counted <= ended_by(tick_ns + slack_ns, step)
            )
            ok = total(scraped, "loadkit_requests_total", step=step, outcome="ok")
            assert total(scraped, "loadkit_response_time_seconds_count", step=step) == ok
        started = total(scraped, "loadkit_arrivals_started_total")
        began = [int(a["actual_ns"]) for a in arrivals if a["actual_ns"] is not None]  # type: ignore[call-overload]
        assert (
            sum(t <= tick_ns - slack_ns for t in began)
            <= started
            <= sum(t <= tick_ns + slack_ns for t in began)
        )
        assert total(scraped, "loadkit_arrival_lateness_seconds_count") == started
        assert total(scraped, "loadkit_funnel_visitors_total", stage="arrived") <= started
        gate = "error_rate < 1%"
        assert total(scraped, "loadkit_gate_state", gate=gate) == 1  # one state at a time
        assert total(scraped, "loadkit_gate_state", gate=gate, state="breach") == 0
    assert total(second, "loadkit_requests_total") <= len(requests)
    assert total(second, "loadkit_worker_up", worker="0") == 1


def test_a_distributed_master_serves_the_workers_totals_and_stops(live_run: type[LiveRun]) -> None:
    run = live_run(SMOKE_PROFILE, "--workers", "2")
    wait_until(lambda: total(scrape(run.url), "loadkit_requests_total", worker="1") > 0, 40)
    scraped = scrape(run.url)
    stop = urllib.request.Request(run.url + "stop", method="POST", headers={"X-Loadkit-Stop": "1"})
    with urllib.request.urlopen(stop, timeout=10) as resp:
        assert resp.status == 202
    assert run.wait() == 130, "".join(run.stderr)  # Stop interrupts a master as Ctrl-C does
    manifest = json.loads((run.run_dir() / "manifest.json").read_text())
    assert manifest["status"] == "aborted" and manifest["records_complete"] is True
    requests = records(run.run_dir(), "requests")
    for worker in ("0", "1"):
        counted = total(scraped, "loadkit_requests_total", worker=worker)
        assert 0 < counted <= sum(1 for r in requests if str(r["worker"]) == worker)
        assert total(scraped, "loadkit_worker_up", worker=worker) == 1
    assert total(scraped, "loadkit_run_info", mode="master") == 1


def page_figures(browser: Browser) -> dict[str, str]:
    figures: dict[str, str] = browser.js(
        "Object.fromEntries(['run','phase','status','elapsed','scheduled','started','inflight',"
        "'requests'].map((id) => [id, document.getElementById(id).textContent]))"
    )
    return figures


@pytest.mark.browser
def test_the_live_page_renders_updates_and_its_stop_button_ends_the_run(
    live_run: type[LiveRun], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "long.yaml"
    profile.write_text(LONG_PROFILE)
    run = live_run(profile)
    with Browser(tmp_path / "chromium") as browser:
        browser.open(run.url)
        browser.wait_for(
            "Number(document.getElementById('requests').textContent.replace(/,/g, '')) > 0"
        )
        before = page_figures(browser)
        time.sleep(2.5)
        after = page_figures(browser)
        assert before["status"] == after["status"] == "running" and after["phase"] == "steady"
        assert int(after["started"]) > int(before["started"]) > 0
        assert after["elapsed"] != before["elapsed"]
        # the tables and the charts are drawn from the data
        steps = browser.js(
            "[...document.querySelectorAll('#steps td:first-child')].map((td) => td.textContent)"
        )
        assert set(steps) == {"landing", "queue.join", "queue.poll"}
        assert browser.js("document.querySelectorAll('#rate polyline').length") == 3
        gates = browser.js(
            "[...document.querySelectorAll('#gates .gate')].map((g) => "
            "[g.dataset.state, g.querySelector('.dot').classList[1]])"
        )  # the smoke scenario's two gates, coloured by state (no abort: a breach is red)
        colour = {"pass": "green", "breach": "red", "no_data": "grey"}
        assert len(gates) == 2 and all(colour[state] == dot for state, dot in gates), gates
        assert (
            browser.js("document.querySelector('#workers td:nth-child(3)').textContent")
            == "running"
        )
        funnel = browser.js("document.querySelector('#funnel td:nth-child(2)').textContent")
        assert int(funnel) > 0
        # a reload (a browser reconnecting) redraws the run so far at once
        browser.send("Page.reload")
        browser.wait_for("document.getElementById('conn').textContent === 'live'")
        assert browser.js("document.querySelectorAll('#flight polyline').length") == 1
        # the network drops (the laptop's wifi) and comes back: the page says so, then resumes
        offline = {"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        browser.send("Network.enable")
        browser.send("Network.emulateNetworkConditions", {**offline, "offline": True})
        browser.wait_for("document.getElementById('conn').textContent === 'reconnecting…'")
        ticks = browser.js("document.getElementById('elapsed').textContent")
        browser.send("Network.emulateNetworkConditions", {**offline, "offline": False})
        browser.wait_for("document.getElementById('conn').textContent === 'live'")
        browser.wait_for(f"document.getElementById('elapsed').textContent !== {ticks!r}")
        browser.click("#stop")  # first click arms, second stops
        assert browser.js("document.getElementById('stop').textContent") == "Click again to stop"
        browser.click("#stop")
        browser.wait_for("document.getElementById('stopmsg').textContent.startsWith('stopping')")
    assert run.wait(60) == 130, "".join(run.stderr)
    manifest = json.loads((run.run_dir() / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    assert manifest["stop_reason"] == "stopped from the live page (127.0.0.1)"
    assert manifest["planned"]["arrivals"] > len(records(run.run_dir(), "arrivals")) > 0
    assert manifest["records_complete"] is True
