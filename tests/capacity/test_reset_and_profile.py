"""The scenario's reset: request (parsed with file:line errors, sent on the allow-list) and the
probe profile (the user's shape scaled to a probe's peak rate)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from loadkit.capacity.probe_profile import write_probe_profile
from loadkit.capacity.reset import send_reset
from loadkit.errors import InputError, TargetError
from loadkit.profiles import load_profile
from loadkit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
BASE = """
name: s
personas:
  v:
    steps:
      - name: home
        request: GET /
env:
  SHOP_KEY: from-the-scenario
"""


def _scenario(tmp_path: Path, reset: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(BASE + reset)
    return path


def test_reset_is_parsed_with_defaults(tmp_path: Path) -> None:
    s = load_scenario(_scenario(tmp_path, "reset: {path: /admin/reset, body: {faults: false}}\n"))
    assert s.reset is not None
    assert (s.reset.method, s.reset.url, s.reset.timeout_s) == ("POST", "/admin/reset", 10.0)
    assert json.loads(s.reset.body or "") == {"faults": False}


@pytest.mark.parametrize(
    ("reset", "message"),
    [
        ("reset: {method: FETCH, path: /r}\n", "bad reset method"),
        ("reset: {method: POST}\n", "needs 'path'"),
        ("reset: {path: /r, header: {}}\n", "header"),
        ("reset: {path: /r, timeout: 0s}\n", "timeout"),
        ("reset: /admin/reset\n", "reset request"),
    ],
)
def test_bad_reset_names_the_line(tmp_path: Path, reset: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        load_scenario(_scenario(tmp_path, reset))
    text = str(exc.value)
    assert message in text
    assert "s.yaml:10" in text  # the line of reset: (after the 9 lines of BASE)


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str | None, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append((self.command, self.path, self.headers.get("x-admin-key"), body))
        status = 200 if self.path == "/admin/reset" else 404
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_reset_is_sent_with_the_key_from_env_or_scenario(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset = (
        'reset: {path: /admin/reset, headers: {X-Admin-Key: "{{ env.SHOP_KEY }}"}, body: "{}"}\n'
    )
    s = load_scenario(_scenario(tmp_path, reset))
    assert s.reset is not None
    assert send_reset(s.reset, server, s.allow_hosts, dict(s.env)) is None
    monkeypatch.setenv("SHOP_KEY", "from-env")
    assert send_reset(s.reset, server, s.allow_hosts, dict(s.env)) is None
    keys = [seen[2] for seen in _Recorder.seen]
    assert keys == ["from-the-scenario", "from-env"]
    assert _Recorder.seen[0][:2] == ("POST", "/admin/reset")


def test_a_reset_header_with_the_old_dollar_syntax_is_refused_with_the_fix(
    tmp_path: Path,
) -> None:
    bad = 'reset: {path: /admin/reset, headers: {X-Admin-Key: "${SHOP_KEY}"}}\n'
    with pytest.raises(InputError) as info:
        load_scenario(_scenario(tmp_path, bad))
    assert "${SHOP_KEY}" in str(info.value)
    assert "{{ env.SHOP_KEY }}" in str(info.value) + str(info.value.hint or "")


def test_a_reset_that_fails_says_why(tmp_path: Path, server: str) -> None:
    s = load_scenario(_scenario(tmp_path, "reset: {path: /nope}\n"))
    assert s.reset is not None
    assert send_reset(s.reset, server, s.allow_hosts) == f"reset POST {server}/nope: HTTP 404"


def test_a_reset_off_the_allow_list_is_refused(tmp_path: Path) -> None:
    s = load_scenario(_scenario(tmp_path, "reset: {url: 'http://example.com/reset'}\n"))
    assert s.reset is not None
    with pytest.raises(TargetError):
        send_reset(s.reset, "http://127.0.0.1:1", s.allow_hosts)


def test_probe_profile_keeps_the_shape_and_sets_the_peak(tmp_path: Path) -> None:
    source = ROOT / "profiles" / "spike-demo.yaml"
    profile = load_profile(source)
    probe = write_probe_profile(source, profile, 90.0, tmp_path / "p.yaml")
    peak, at = probe.peak_rate()
    assert peak == pytest.approx(90.0)
    assert at == pytest.approx(profile.peak_rate()[1])
    assert [p.name for p in probe.phases] == [p.name for p in profile.phases]
    assert probe.expected_arrivals(0, probe.duration_s) == pytest.approx(
        2 * profile.expected_arrivals(0, profile.duration_s)
    )
    short = write_probe_profile(source, profile, 90.0, tmp_path / "q.yaml", length_s=30)
    assert short.duration_s == pytest.approx(30)
    assert short.peak_rate()[0] == pytest.approx(90.0)


def test_probe_profile_of_a_trace_points_at_the_trace_file(tmp_path: Path) -> None:
    source = ROOT / "profiles" / "replay.yaml"
    profile = load_profile(source)
    probe = write_probe_profile(source, profile, 10.0, tmp_path / "r.yaml")
    assert probe.peak_rate()[0] == pytest.approx(10.0)
