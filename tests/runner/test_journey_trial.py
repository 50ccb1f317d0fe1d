"""``loadkit try``: one traced visitor per persona against a local server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadkit.runner import trial
from tests.runner.journey_server import JourneyServer, serve

SCENARIO = """\
name: trial-demo
personas:
  shopper:
    steps:
      - name: login.page
        request: GET /form
        capture: {csrf: {form_field: csrf_token}}
      - think: 10ms
      - name: login
        request: {method: POST, path: /login, form: {csrf_token: "{{ csrf }}"}}
        expect: {json: {$.ok: true}}
  broken:
    steps:
      - name: pay
        request: GET /status/500
"""


@pytest.fixture(scope="module")
def server() -> Iterator[JourneyServer]:
    with serve() as s:
        yield s


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


def test_trial_prints_each_request_capture_and_ending(
    tmp_path: Path, server: JourneyServer
) -> None:
    out = io.StringIO()
    code = trial.trial([_write(tmp_path, SCENARIO), "--host", server.url], out)
    text = out.getvalue()
    assert "persona shopper (arrival 0)" in text
    assert "login.page" in text and "GET    /form" in text and " 200 " in text
    assert "captured csrf=tok&123" in text
    assert "… wait 0.01s" in text
    assert "→ completed (last step login)" in text
    assert "→ failed: pay: unexpected status 500 (last step pay)" in text
    assert code == 1  # a journey failed


def test_trial_runs_one_chosen_persona(tmp_path: Path, server: JourneyServer) -> None:
    out = io.StringIO()
    code = trial.trial(
        [_write(tmp_path, SCENARIO), "--host", server.url, "--persona", "shopper"], out
    )
    assert code == 0 and "broken" not in out.getvalue()


def test_bad_input_is_exit_2_without_traceback(
    tmp_path: Path, server: JourneyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, SCENARIO)
    assert trial.main([path, "--host", server.url, "--persona", "shoper"]) == 2
    assert "Did you mean 'shopper'?" in capsys.readouterr().err
    assert trial.main([path, "--host", "http://example.com"]) == 2
    assert "allow-list" in capsys.readouterr().err
    bad = _write(tmp_path, "personas: {p: {steps: [{thnk: 1s}]}}\n")
    assert trial.main([bad, "--host", server.url]) == 2
    err = capsys.readouterr().err
    assert "s.yaml:1:25" in err and "Traceback" not in err
