"""Probes obey the rules load obeys: the allow-list, http(s) only, redirects that keep secrets.

Two stdlib servers on 127.0.0.1 (different ports = different origins) stand in for the target
and for "another host"; hosts off the allow-list use reserved names (``.invalid``) so a refusal
is visible as "refused", never as a DNS failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loadkit.analysis import GateStatus, parse_probe, run_probes
from loadkit.analysis.probes import MAX_ANSWER_BYTES
from loadkit.cli import main
from loadkit.demo import ShopProcess
from loadkit.errors import InputError
from tests.analysis.conftest import Analyze

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "smoke.yaml"
PROFILE = REPO / "profiles" / "smoke.yaml"
SECRETS = {"X-Admin-Key": "sesame", "Authorization": "Bearer let-me-in"}


class _Server:
    """A 127.0.0.1 server: ``redirects`` maps a path to a Location; ``/drip`` sends a body one
    byte every 50 ms for ever (until the client leaves); every other path answers
    ``{"ok": true}`` (or ``bodies[path]``) and remembers the headers it was sent."""

    def __init__(self) -> None:
        self.redirects: dict[str, str] = {}
        self.bodies: dict[str, bytes] = {}
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000000")
                    self.end_headers()
                    try:
                        for _ in range(1200):  # at most a minute, well past any timeout
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass
                    return
                if self.path in outer.redirects:
                    self.send_response(302)
                    self.send_header("Location", outer.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.seen.append(dict(self.headers.items()))
                body = outer.bodies.get(self.path, b'{"ok": true}')
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def target() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.close()


@pytest.fixture
def other() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.close()


def _probe(path_or_url: str, **extra: object) -> dict[str, object]:
    return {"name": "inv", "url": path_or_url, "headers": SECRETS, "expect": {"ok": True}, **extra}


def test_a_redirect_to_another_origin_goes_without_the_admin_key(
    target: _Server, other: _Server, tmp_path: Path
) -> None:
    target.redirects["/admin/invariants"] = other.url + "/collect"
    result = run_probes([parse_probe(_probe("/admin/invariants"))], target.url, tmp_path)[0]
    assert result.ok, result
    assert len(other.seen) == 1
    sent = {k.lower() for k in other.seen[0]}
    assert "x-admin-key" not in sent and "authorization" not in sent


def test_a_same_origin_redirect_keeps_the_probe_headers(target: _Server, tmp_path: Path) -> None:
    target.redirects["/admin/old"] = "/admin/new"
    result = run_probes([parse_probe(_probe("/admin/old"))], target.url, tmp_path)[0]
    assert result.ok, result
    assert target.seen[0]["X-Admin-Key"] == "sesame"
    assert target.seen[0]["Authorization"] == "Bearer let-me-in"


def test_a_redirect_off_the_allow_list_is_refused_and_the_analysis_says_so(
    target: _Server, tmp_path: Path, check: Analyze
) -> None:
    target.redirects["/admin/invariants"] = "http://collector.invalid/steal"
    results = run_probes([parse_probe(_probe("/admin/invariants"))], target.url, tmp_path)
    assert results[0].error is not None
    assert results[0].error.startswith("refused:")
    assert "collector.invalid" in results[0].error and "allow-list" in results[0].error
    saved = json.loads((tmp_path / "analysis" / "probes" / "inv.json").read_text())
    assert saved["ok"] is False and saved["error"] == results[0].error
    analysis = check([], probes=results)
    gate = analysis.gates[0]
    assert gate.status is GateStatus.FAILED and "refused" in gate.detail
    assert analysis.exit_code == 1


def test_a_redirect_to_an_allowed_host_is_followed(target: _Server, tmp_path: Path) -> None:
    target.redirects["/a"] = "http://shop.invalid/b"  # allowed, so it is tried (and fails DNS)
    probe = parse_probe(_probe("/a", timeout="2s"))
    result = run_probes([probe], target.url, tmp_path, ["shop.invalid"])[0]
    assert result.error is not None and result.error.startswith("no answer")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "not an http(s) URL"),
        ("ftp://127.0.0.1/x", "not an http(s) URL"),
        ("data:,{}", "not an http(s) URL"),
        ("http://example.invalid/admin", "allow-list"),
    ],
)
def test_refused_probe_urls_are_a_failed_line_not_a_crash(
    url: str, why: str, tmp_path: Path
) -> None:
    result = run_probes([parse_probe(_probe(url))], "http://127.0.0.1:9", tmp_path)[0]
    assert result.status == 0 and result.error is not None
    assert result.error.startswith("refused:") and why in result.error
    assert (tmp_path / "analysis" / "probes" / "inv.json").exists()


def test_huge_or_deep_answers_fail_the_probe_cleanly(target: _Server, tmp_path: Path) -> None:
    target.bodies["/huge"] = b"[" + b"0," * (MAX_ANSWER_BYTES // 2) + b"0]"
    target.bodies["/deep"] = b"[" * 100_000 + b"]" * 100_000
    huge, deep = run_probes(
        [parse_probe(_probe("/huge", name="huge")), parse_probe(_probe("/deep", name="deep"))],
        target.url,
        tmp_path,
    )
    assert not huge.ok and "larger than" in huge.failures[0]
    assert not deep.ok and deep.failures == ("the answer is not JSON",)


def test_a_dripping_answer_ends_at_the_probe_timeout(target: _Server, tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_probes([parse_probe(_probe("/drip", timeout="1s"))], target.url, tmp_path)[0]
    assert time.monotonic() - start < 10  # each byte came within the socket timeout
    assert result.error is not None and "longer than the probe's timeout" in result.error


def test_a_header_that_reads_a_line_break_is_refused_without_its_value(
    target: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_KEY", "sesame\r\nX-Injected: 1")
    probe = parse_probe(_probe("/admin", headers={"X-Admin-Key": "{{ env.PROBE_KEY }}"}))
    result = run_probes([probe], target.url, tmp_path)[0]
    assert result.error is not None and "X-Admin-Key holds a line break" in result.error
    assert "sesame" not in (tmp_path / "analysis" / "probes" / "inv.json").read_text()
    assert target.seen == []


@pytest.mark.parametrize("timeout", ["0s", "-1s", "1h", ".nan"])
def test_a_probe_timeout_must_be_sensible(timeout: str) -> None:
    value: object = float("nan") if timeout == ".nan" else timeout
    expected = "must be a finite number" if timeout == ".nan" else "timeout must be more than 0s"
    with pytest.raises(InputError, match=expected):
        parse_probe({"name": "x", "path": "/", "timeout": value})


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 101])
def test_a_probe_name_must_be_a_plain_file_name(name: str) -> None:
    with pytest.raises(InputError, match="cannot be a file name"):
        parse_probe({"name": name, "path": "/"})


def _scenario_with(tmp_path: Path, probes: str, allow: str = "") -> Path:
    text = SCENARIO.read_text() + allow + "probes:\n" + probes
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    _, err = capsys.readouterr()
    assert isinstance(done.value.code, int)
    return done.value.code, err


def test_validate_refuses_probe_urls_the_files_show_are_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_with(
        tmp_path,
        "  - {name: local, url: 'file:///etc/passwd'}\n"
        "  - {name: away, url: 'http://metrics.example.com/x'}\n"
        "  - {name: fine, path: /admin/invariants}\n",
    )
    lines = path.read_text().splitlines()
    code, err = _cli(capsys, "validate", str(path))
    assert code == 2 and "Traceback" not in err
    local = lines.index("  - {name: local, url: 'file:///etc/passwd'}") + 1
    away = local + 1
    assert f"{path}:{local}" in err and "not an http(s) URL" in err
    assert f"{path}:{away}" in err and "'metrics.example.com' is not on" in err


def test_validate_accepts_a_probe_host_on_the_allow_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_with(
        tmp_path,
        "  - {name: away, url: 'https://metrics.example.com/x'}\n",
        allow='allow_hosts: ["*.example.com"]\n',
    )
    code, err = _cli(capsys, "validate", str(path))
    assert code == 0, err


def test_run_refuses_a_bad_probe_before_sending_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_with(tmp_path, "  - {name: local, url: 'file:///etc/passwd'}\n")
    out = tmp_path / "results"
    code, err = _cli(capsys, "run", str(path), "--profile", str(PROFILE), "--out", str(out))
    assert code == 2 and "not an http(s) URL" in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.integration
def test_a_run_whose_probe_is_refused_still_writes_its_analysis(
    demo_shop: ShopProcess, target: _Server, tmp_path: Path
) -> None:
    target.redirects["/leak"] = "http://collector.invalid/steal"
    path = _scenario_with(
        tmp_path,
        f"  - {{name: leak, url: '{target.url}/leak', headers: {{X-Admin-Key: k}}}}\n",
    )
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "loadkit.cli", "run", str(path), "-p", str(PROFILE),
         "--host", demo_shop.url, "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "probe leak: FAILED (refused: redirect to host 'collector.invalid'" in done.stdout
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    verdict = json.loads((run / "analysis" / "verdict.json").read_text())
    gate = next(g for g in verdict["gates"] if g["text"] == "probe(leak)")
    assert gate["status"] == "failed" and "refused" in gate["detail"]
    assert (run / "analysis" / "summary.md").exists()
