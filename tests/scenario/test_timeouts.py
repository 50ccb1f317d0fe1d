"""Impossible timeouts are bad input: exit 2 naming file:line, before any load is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.cli import main
from loadkit.errors import InputError, ValidationErrors
from loadkit.scenario import check_timeouts, load_scenario

PROFILE_1S = "name: p\nduration: 1s\nsegments:\n  - {kind: constant, from: 0s, to: 1s, rate: 1/s}\n"


def _scenario(tmp_path: Path, settings: str, step_timeout: str | None = None) -> Path:
    extra = f", timeout: {step_timeout}" if step_timeout is not None else ""
    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: t\nhost: http://127.0.0.1:9\nsettings:\n{settings}personas:\n  p:\n    steps:\n"
        f"      - name: pay\n        request: {{path: /x{extra}}}\n"
    )
    return path


@pytest.mark.parametrize("value", ["0", "0s", "-1", "-2s"])
def test_a_timeout_of_zero_or_less_names_its_line(tmp_path: Path, value: str) -> None:
    path = _scenario(tmp_path, f"  request_timeout: {value}\n  connect_timeout: {value}\n", value)
    with pytest.raises(ValidationErrors) as raised:
        load_scenario(path)
    lines = [(e.location.line if e.location else None) for e in raised.value.errors]
    assert lines == [4, 5, 10]
    assert all("longer than 0" in str(e) or "negative" in str(e) for e in raised.value.errors)


def test_connect_and_request_timeouts_are_read_separately(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "  request_timeout: 8s\n  connect_timeout: 750ms\n", "2s")
    scenario = load_scenario(path)
    assert (scenario.settings.request_timeout_s, scenario.settings.connect_timeout_s) == (8.0, 0.75)
    check_timeouts(scenario, run_s=8.0)  # as long as the run: fine


def test_a_timeout_longer_than_the_run_names_its_line(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "  request_timeout: 2m\n  connect_timeout: 1s\n", "10m")
    scenario = load_scenario(path)
    with pytest.raises(ValidationErrors) as raised:
        check_timeouts(scenario, run_s=61.0)
    (first, second) = raised.value.errors
    assert str(first).startswith(f"{path}:4:") and "120s is longer than the whole run" in str(first)
    assert str(second).startswith(f"{path}:10:") and "600s" in str(second)
    with pytest.raises(InputError, match="could never fire"):
        check_timeouts(load_scenario(_scenario(tmp_path, "  request_timeout: 2m\n")), run_s=61.0)


def test_run_refuses_a_timeout_longer_than_the_run_before_sending_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario(tmp_path, "  request_timeout: 30s\n")
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE_1S)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        main(["run", str(scenario), "-p", str(profile), "--drain", "5s", "--out", str(out)])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert f"{scenario}:4:" in err and "30s is longer than the whole run (6s" in err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # no run folder, no load
