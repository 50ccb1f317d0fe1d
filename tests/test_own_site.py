"""docs/own-site.md ("Rehearse your own site"), run as the page says, so it cannot rot silently.

Every command in the page's ``sh`` blocks is listed in ``COMMANDS`` with the exit code and the
output the page promises; the unit test pins the list to the page, the integration test runs
it against the demo shop's HTML storefront standing in for "your site": a HAR recorded from
the storefront → ``import-har`` → ``validate`` → ``try`` → a small ``run`` with the page's
gates → ``analyze`` with an invariant the skeleton cannot feed. The page's gates files are its
``text`` blocks whose first line names the file. Only 127.0.0.1 is sent anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from loadkit.demo import ShopProcess
from loadkit.scenario import load_scenario
from tests.conftest import FAST_CONFIG, FAST_FAULTS
from tests.har.test_import_storefront import _record_journey
from tests.own_site_stub import TEST_CARD as STUB_CARD
from tests.own_site_stub import TICKET as STUB_TICKET
from tests.own_site_stub import ShopStub

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "own-site.md"
TEMPLATE = REPO / "scenarios" / "template-real-site.yaml"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# command as the page writes it → (exit code, texts its output must hold); None: not run here
COMMANDS: dict[str, tuple[int | None, tuple[str, ...]]] = {
    # the fixture starts the same storefront on a port of the OS's choosing
    "loadkit demo-shop --port 8000 --storefront html --refresh-interval 1 --admission-rate 6000 &":
        (None, ()),
    "loadkit import-har recording.har -o scenarios/my-site.yaml":
        (0, ("wrote scenarios/my-site.yaml",)),
    "export SITE=http://127.0.0.1:8000": (None, ()),  # the fixture's URL instead
    "export CARD_NUMBER=4242424242424242": (None, ()),
    "loadkit validate scenarios/my-site.yaml": (0, ("ok (1 personas: visitor 1)",)),
    "loadkit try scenarios/my-site.yaml --host $SITE --time-scale 0.1":
        (0, ("→ completed", "csrf_token=[redacted]", "↳ redirect 1", "(×0.1 → ")),
    "loadkit validate scenarios/my-site.yaml -p profiles/smoke.yaml -t gates.txt":
        (0, ("3 thresholds: ok",)),
    "loadkit plan scenarios/my-site.yaml -p profiles/smoke.yaml": (0, ("peak rate", "workers")),
    "loadkit run scenarios/my-site.yaml -p profiles/smoke.yaml --host $SITE -t gates.txt "
    "--run-id first-rehearsal":
        (0, ("verdict: PASSED (exit 0)", "how journeys ended (per persona)")),
    "loadkit analyze results/first-rehearsal -t gates-ga.txt":
        (3, ("verdict: INCONCLUSIVE (exit 3)",
             "not applicable: no visitor recorded a purchase (record: {tickets_bought: N}")),
}  # fmt: skip


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(PAGE.read_text()) if lang == language]


def page_commands() -> list[str]:
    """The page's ``sh`` lines: continuations joined, comments and blank lines dropped."""
    out: list[str] = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                out.append(" ".join(command.split()))
    return out


def page_file(name: str) -> str:
    """The page's ``text`` block whose first line is ``# NAME``."""
    (block,) = [b for b in _blocks("text") if b.startswith(f"# {name}\n")]
    return block


def test_the_page_runs_exactly_the_commands_this_test_checks() -> None:
    assert page_commands() == list(COMMANDS)
    for name in ("gates.txt", "gates-ga.txt"):
        assert page_file(name).count("\n") >= 2


def test_the_page_and_the_template_say_the_same_things(tmp_path: Path) -> None:
    text = PAGE.read_text()
    scenario = load_scenario(TEMPLATE)
    missing = [t.text for t in scenario.thresholds if f"`{t.text}`" not in text]
    assert not missing, f"template gates the page does not explain: {missing}"
    # the commented probe at the template's end is the page's probe example, and it validates
    template = TEMPLATE.read_text()
    commented = template[template.index("# probes:") :]
    probes = "\n".join(line[2:] for line in commented.splitlines()) + "\n"
    assert probes in _blocks("yaml"), probes
    shutil.copytree(TEMPLATE.parent / "data", tmp_path / "data")  # its feeder's file
    uncommented = tmp_path / "with-probes.yaml"
    uncommented.write_text(template[: template.index("# probes:")] + probes)
    probed = load_scenario(uncommented)
    assert [p.name for p in probed.probes] == ["stats"]


@pytest.fixture(scope="module")
def storefront() -> Iterator[ShopProcess]:
    shop = ShopProcess.start(faults=FAST_FAULTS, storefront="html", **FAST_CONFIG)
    try:
        yield shop
    finally:
        shop.stop()


@pytest.mark.integration
def test_the_pages_path_from_a_recording_to_a_verdict_works_on_the_storefront(
    storefront: ShopProcess, tmp_path: Path
) -> None:
    _record_journey(storefront, tmp_path / "recording.har")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "profiles").mkdir()
    shutil.copy(REPO / "profiles" / "smoke.yaml", tmp_path / "profiles" / "smoke.yaml")
    for name in ("gates.txt", "gates-ga.txt"):
        (tmp_path / name).write_text(page_file(name))
    bin_dir = str(Path(sys.executable).parent)  # the installed `loadkit` command
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    for command, (code, texts) in COMMANDS.items():
        if command.startswith("export "):
            name, value = command.removeprefix("export ").split("=", 1)
            env[name] = storefront.url if name == "SITE" else value
            continue
        if code is None:
            continue
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        shown = f"{command}\n{done.stdout}\n{done.stderr}"
        assert done.returncode == code, shown
        for expected in texts:
            assert expected in done.stdout, f"{expected!r} not in the output of {shown}"
        if command.startswith("loadkit import-har"):
            # the steps the page names, from the storefront recording
            steps = yaml.safe_load((tmp_path / "scenarios" / "my-site.yaml").read_text())
            names = [s["name"] for s in steps["personas"]["visitor"]["steps"] if "name" in s]
            assert names == ["home", "shop.join", "shop.queue", "shop.event", "shop.hold",
                             "shop.checkout"]  # fmt: skip
    assert (tmp_path / "results" / "first-rehearsal" / "analysis" / "report.html").is_file()


@pytest.fixture
def stub_shop() -> Iterator[ShopStub]:
    server = ShopStub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _try_template(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("loadkit"))
    return subprocess.run(
        [command, "try", str(TEMPLATE), "--host", host, "--time-scale", "0.01", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TEST_CARD": STUB_CARD},
        timeout=120,
    )


def _ending(output: str, persona: str) -> str:
    """The ``→ ...`` line that ends the persona's journey in ``try``'s output."""
    block = output.split(f"persona {persona} ")[1]
    return next(line.strip() for line in block.splitlines() if line.strip().startswith("→"))


@pytest.mark.integration
def test_the_template_runs_as_written_against_a_site_built_as_it_describes(
    stub_shop: ShopStub,
) -> None:
    tried = _try_template(stub_shop.url)
    out = tried.stdout
    assert tried.returncode == 0, out + tried.stderr
    fan = _ending(out, "fan")
    assert fan.startswith("→ completed"), out
    assert "order_id=o-1" in fan and "joined" in fan and "admitted" in fan, fan
    assert "tickets_bought=" in fan, fan  # the quantity, for invariant(quota, max=N)
    assert _ending(out, "looker").startswith("→ abandoned") and "just looking" in out, out
    assert _ending(out, "bot").startswith("→ completed"), out
    # the login's 302 was followed; the payment carried a fresh idempotency key
    assert "↳ redirect 1" in out and stub_shop.orders[-1]["paid"], stub_shop.orders
    # the CSRF token and the secret queue ticket never reach the terminal
    assert STUB_TICKET not in out and not any(t in out for t in stub_shop.csrf_served), out
    assert "[redacted]" in out

    stub_shop.sold_out = True  # a 200 page that says so: a labelled answer and a leave reason
    tried = _try_template(stub_shop.url, "--persona", "fan")
    assert tried.returncode == 0, tried.stdout + tried.stderr
    fan = _ending(tried.stdout, "fan")
    assert fan.startswith("→ abandoned") and "sold out (event page)" in fan, tried.stdout
    assert "sold_out" in tried.stdout, tried.stdout  # the label `try` shows beside the status
