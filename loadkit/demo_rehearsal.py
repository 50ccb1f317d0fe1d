"""``loadkit demo``: start the bundled ticket shop, rehearse the on-sale against it, stop it.

The shop is a separate process (``loadkit.demo`` imports nothing from loadkit); this module
matches its clock and settings to the rehearsal and runs ``loadkit.rehearsal.rehearse``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from loadkit.errors import InputError
from loadkit.profiles import load_profile
from loadkit.rehearsal import Echo, RunRequest, rehearse


def _repo_file(relative: str) -> Path:
    here = Path(relative)
    if here.exists():
        return here
    packaged = Path(__file__).resolve().parent.parent / relative
    if packaged.exists():
        return packaged
    raise InputError(f"cannot find {relative}", hint="Run from the loadkit checkout, or pass it.")


# The demo shop's clock, matched to the rehearsal: the scenario's time_scale is 0.2, so the
# room asks for a poll every 20 s × 0.2 and holds last 8 min × 0.2; admission is fast enough
# that the 150 s crowd is through the room by the end (the scenario's gates say 900/min).
DEMO_SHOP_CONFIG: dict[str, Any] = {
    "refresh_interval_s": 4.0,
    "admission_rate_per_min": 900.0,
    "hold_ttl_s": 96.0,
    "queue_silence_s": 60.0,
}
DEMO_START_DELAY_S = 5.0


def _put_admin_json(base_url: str, admin_key: str, path: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "X-Admin-Key": admin_key},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
        answer.read()


def run_demo(
    scenario: Path | None, profile: Path | None, port: int, seed: int | None, echo: Echo
) -> int:
    """Start the demo shop, rehearse the on-sale against it, stop it, print the verdict."""
    from loadkit.demo import ShopProcess

    scenario = scenario or _repo_file("scenarios/onsale-demo.yaml")
    profile = profile or _repo_file("profiles/spike-demo.yaml")
    onsale_s = load_profile(profile).onsale_at_s or 0.0
    echo("starting the demo ticket shop on 127.0.0.1 ...")
    with ShopProcess.start(port=port, **DEMO_SHOP_CONFIG) as shop:
        # One clock for both: the room opens at the profile's on-sale second.
        t0_ns = time.time_ns() + int(DEMO_START_DELAY_S * 1e9)
        _put_admin_json(
            shop.url, shop.admin_key, "/admin/config", {"onsale_at": t0_ns / 1e9 + onsale_s}
        )
        echo(f"demo shop: {shop.url} (pid {shop.pid}); the room opens at t0+{onsale_s:g}s")
        request = RunRequest(
            scenario=scenario,
            profile=profile,
            host=shop.url,
            seed=seed,
            drain_s=30.0,
            t0_ns=t0_ns,
            extra_env={"LOADKIT_DEMO_ADMIN_KEY": shop.admin_key},
        )
        os.environ["LOADKIT_DEMO_ADMIN_KEY"] = shop.admin_key  # for the probes, asked from here
        code = rehearse(request, echo)
        echo("stopping the demo shop")
    return code


__all__ = ["DEMO_SHOP_CONFIG", "run_demo"]
