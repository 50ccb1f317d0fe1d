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
    assert "captured csrf=[redacted]" in text and "tok&123" not in text  # a CSRF token
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


SECRETS = """\
name: secrets
personas:
  p:
    steps:
      - request: GET /page/shop
        capture: {token: {csrf: true}, key: {regex: nope, default: k-9876, secret: true}}
      - request: GET /form
        capture: {sid: {cookie: sid}, session_cookie: {cookie: sid}}
      - repeat:
          times: 2
          as: i
          steps:
            - request: "GET /status/{{ 200 + i }}"
      - request:
          path: "/echo?t={{ token }}&k={{ key }}&s={{ sid }}{{ session_cookie }}"
          headers: {Authorization: "Bearer abcdefgh12345"}
        expect: {text: never-there}
"""


def test_try_redacts_secrets_names_steps_readably_and_shows_the_failing_body(
    tmp_path: Path, server: JourneyServer
) -> None:
    from loadkit.runner.clock import Clock
    from loadkit.runner.journey import compile_scenario
    from loadkit.runner.recorder import Recorder
    from loadkit.runner.visitor import Target, Visitor
    from loadkit.scenario import load_scenario

    compiled = compile_scenario(load_scenario(_write(tmp_path, SECRETS)), seed=1, environ={})
    recorder = Recorder()

    def make(arrival_id: int, persona: str) -> Visitor:
        return Visitor(arrival_id, persona, seed=1, target=Target.from_url(server.url),
                       recorder=recorder, clock=Clock.measure())  # fmt: skip

    out = io.StringIO()
    trial.run_trial(compiled, make, out)
    text = out.getvalue()
    for secret in ("form-tok", "k-9876", "s-42", "abcdefgh12345"):
        assert secret not in text  # not in the captures, the URLs, the errors, the ending
    assert "captured token=[redacted], key=[redacted]" in text
    assert "captured sid=[redacted], session_cookie=[redacted]" in text
    assert "GET /status/{200 + i}" in text and "{{" not in text  # a readable request name
    assert 'expected the body to contain \'never-there\'; it starts \'{"method": "GET"' in text
    errors = [row[12] for row in recorder.requests if row[12]]
    assert errors and not any(s in e for e in errors for s in ("form-tok", "k-9876"))


def test_the_try_command_takes_time_scale(
    tmp_path: Path, server: JourneyServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from loadkit.cli import main

    path = _write(tmp_path, SCENARIO.replace("think: 10ms", "think: 2s"))
    with pytest.raises(SystemExit) as done:
        main(["try", path, "--host", server.url, "--persona", "shopper", "--time-scale", "0.01"])
    assert done.value.code == 0
    assert "… wait 2.00s (×0.01 → 0.02s)" in capfd.readouterr().out  # from the child process
    with pytest.raises(SystemExit) as bad:
        main(["try", path, "--time-scale", "0"])
    assert bad.value.code == 2 and "--time-scale" in capfd.readouterr().err


def test_try_shows_that_the_shop_refused_a_probe_without_a_token(
    tmp_path: Path, server: JourneyServer
) -> None:
    """0 breaches is what a prober's trace is for: it is shown, not folded into "facts: none"."""
    prober = """\
name: probe
personas:
  bot:
    steps:
      - name: shop.probe
        request: GET /status/403
        expect: {outcomes: {403: refused}}
      - record: {shop_ok_without_token: "{{ status < 300 }}"}
"""
    out = io.StringIO()
    assert trial.trial([_write(tmp_path, prober), "--host", server.url], out) == 0
    assert "facts: shop_ok_without_token=0" in out.getvalue(), out.getvalue()
