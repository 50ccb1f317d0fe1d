"""Record the HTML storefront journey as a browser would (HAR 1.2), import it, validate it, and
``loadkit try`` the generated scenario against the storefront it came from."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from loadkit.cli import cli
from loadkit.demo import ShopProcess
from loadkit.results import open_run
from loadkit.scenario import load_scenario
from tests.conftest import FAST_CONFIG, FAST_FAULTS
from tests.demo.browser import Browser, Page
from tests.demo.client import configure, invariants
from tests.har.recorder import HarRecorder

pytestmark = pytest.mark.integration

CARD = "4111111111111111"


@pytest.fixture(scope="module")
def storefront() -> Iterator[ShopProcess]:
    shop = ShopProcess.start(faults=FAST_FAULTS, storefront="html", **FAST_CONFIG)
    try:
        yield shop
    finally:
        shop.stop()


def _try(
    scenario: Path, host: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``loadkit try SCENARIO --host HOST ...`` as a user runs it (the installed command)."""
    command = str(Path(sys.executable).with_name("loadkit"))
    return subprocess.run(
        [command, "try", str(scenario), "--host", host, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def _record_journey(shop: ShopProcess, path: Path) -> tuple[Path, Page]:
    """A fan buys 2 general-admission tickets; the queue is held shut for two refreshes."""
    b = Browser(shop.url)
    rec = HarRecorder(b)
    landing = b.get("/")
    rec.assets(landing)
    rec.third_party("https://tags.analytics.example/collect.js", "application/javascript")
    configure(shop, admission_rate_per_min=0)
    time.sleep(0.4)  # reading the landing page: a think time
    queue = b.post("/shop/join", {"csrf_token": landing.hidden("csrf_token")})
    rec.assets(queue)
    for _ in range(2):
        time.sleep(0.25)
        queue = b.get("/shop/queue")
    configure(shop, admission_rate_per_min=6000)
    while 'data-queue-state="admitted"' not in queue.text:
        time.sleep(0.25)
        queue = b.get("/shop/queue")
    event = b.get("/shop/event")
    rec.assets(event)
    rec.third_party("https://fonts.cdn.example/css2?family=Inter", "text/css")
    time.sleep(0.4)
    cart = b.post(
        "/shop/hold", {"csrf_token": event.hidden("csrf_token"), "kind": "ga", "quantity": "2"}
    )
    form = {f: cart.hidden(f) for f in ("csrf_token", "hold_id", "idempotency_key")}
    order = b.post("/shop/checkout", {**form, "card_number": CARD})
    assert 'id="order-status">paid<' in order.text
    return rec.write(path), landing


def _run_one_visitor(scenario: Path, host: str, tmp_path: Path) -> pd.DataFrame:
    """``loadkit run`` with a profile of one arrival; its request records."""
    profile = tmp_path / "one.yaml"
    profile.write_text(
        "name: one\narrivals: uniform\nduration: 1s\n"
        "segments:\n  - {kind: constant, from: 0s, to: 1s, rate: 1/s}\n"
    )
    command = str(Path(sys.executable).with_name("loadkit"))
    done = subprocess.run(
        [command, "run", str(scenario), "-p", str(profile), "--host", host,
         "--out", str(tmp_path / "out"), "--no-analyze"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "CARD_NUMBER": "4242424242424242"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    return open_run(run).requests


def test_a_recorded_storefront_journey_becomes_a_scenario_that_validates_and_tries(
    storefront: ShopProcess, tmp_path: Path
) -> None:
    har, landing = _record_journey(storefront, tmp_path / "shop.har")
    out = tmp_path / "recorded.yaml"
    result = CliRunner().invoke(cli, ["import-har", str(har), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()

    # readable, and nothing recorded that a replay must not copy
    assert CARD not in text and "{{ env.CARD_NUMBER }}" in text and "CARD_NUMBER: null" in text
    assert landing.hidden("csrf_token") not in text and "lk_sess" not in text
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "cookie" in line.lower()], code
    assert "# Left out, static asset (" in text and "/static/shop.css" in text
    assert "# Left out, third-party host (2):" in text and "tags.analytics.example" in text

    scenario = load_scenario(out)  # what `loadkit validate` checks
    steps = yaml.safe_load(text)["personas"]["visitor"]["steps"]
    kinds = [next(k for k in ("request", "poll", "think") if k in s) for s in steps]
    requests = [s["request"] for s in steps if "request" in s]
    assert requests[0] == "GET /"
    assert kinds.count("poll") == 1 and "think" in kinds
    poll = next(s["poll"] for s in steps if "poll" in s)
    assert poll["interval"]["header"] == "Refresh"
    assert poll["steps"][0]["request"] == "GET /shop/queue"
    assert "data-queue-state" in poll["steps"][0]["capture"]["ready"]["regex"]

    # each POST -> 302 -> GET chain is one step that follows it, expecting the final page
    posts = {s["name"]: s for s in steps if isinstance(s.get("request"), dict)}
    assert list(posts) == ["shop.join", "shop.hold", "shop.checkout"]
    assert [s["expect"] for s in posts.values()] == [{"status": 200}] * 3
    assert "follow_redirects" not in text and "next_url" not in text and "status: 302" not in text
    assert [r for r in requests if isinstance(r, str)] == ["GET /", "GET /shop/event"]
    assert posts["shop.join"]["request"]["form"] == {"csrf_token": "{{ csrf_token }}"}
    assert posts["shop.hold"]["request"]["form"] == {
        "csrf_token": "{{ csrf_token }}",
        "kind": "ga",
        "quantity": "2",
    }
    # the cart page (the hold's final answer) served what the checkout sends
    assert posts["shop.hold"]["capture"] == {
        "csrf_token": {"form_field": "csrf_token"},
        "hold_id": {"form_field": "hold_id"},
        "idempotency_key": {"form_field": "idempotency_key"},
    }
    checkout = posts["shop.checkout"]["request"]
    assert checkout["form"]["hold_id"] == "{{ hold_id }}"
    assert checkout["form"]["idempotency_key"] == "{{ idempotency_key }}"
    assert [p.name for p in scenario.personas] == ["visitor"]

    before = invariants(storefront.url, storefront.admin_key)["checks"]["ga_within_quota"]
    tried = _try(out, storefront.url, env={"CARD_NUMBER": "4242424242424242"})
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert "→ completed" in tried.stdout, tried.stdout
    lines = tried.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("shop.checkout"))
    assert " 302 " in lines[at] and "↳ redirect 1" in lines[at + 1] and " 200 " in lines[at + 1]
    after = invariants(storefront.url, storefront.admin_key)
    assert after["ok"], after
    assert after["checks"]["ga_within_quota"]["detail"]["sold"] == before["detail"]["sold"] + 2

    # the records keep every hop, under the step that started the chain
    records = _run_one_visitor(out, storefront.url, tmp_path)
    assert set(records["outcome"]) == {"ok"}, records[["step", "status", "error"]]
    for step in ("shop.join", "shop.hold", "shop.checkout"):
        chain = records[records["step"] == step].sort_values("hop")
        assert list(chain["hop"]) == [0, 1], chain
        assert list(chain["method"]) == ["POST", "GET"] and list(chain["status"]) == [302, 200]
        assert chain["intent_ns"].nunique() == 1 and chain["name"].nunique() == 1
    after_run = invariants(storefront.url, storefront.admin_key)
    assert after_run["ok"], after_run
    sold = after_run["checks"]["ga_within_quota"]["detail"]["sold"]
    assert sold == before["detail"]["sold"] + 4


@pytest.mark.parametrize("persona", ["fan", "forger"])
def test_the_shipped_onsale_html_scenario_tries_clean_against_the_storefront(
    storefront: ShopProcess, tmp_path: Path, persona: str
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "scenarios" / "onsale-html.yaml"
    text = shipped.read_text()
    assert "time_scale: 0.2" in text
    fast = tmp_path / "onsale-html.yaml"  # the same journey on a faster clock
    fast.write_text(text.replace("time_scale: 0.2", "time_scale: 0.01"))
    before = invariants(storefront.url, storefront.admin_key)["checks"]
    tried = _try(fast, storefront.url, "--persona", persona)
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert "→ completed" in tried.stdout, tried.stdout
    after = invariants(storefront.url, storefront.admin_key)
    assert after["ok"], after
    orders = after["checks"]["payments_match_orders"]["detail"]["paid_orders"]
    if persona == "fan":
        assert orders == before["payments_match_orders"]["detail"]["paid_orders"] + 1
    if persona == "forger":
        assert (
            "403" in tried.stdout
            and orders == before["payments_match_orders"]["detail"]["paid_orders"]
        )
