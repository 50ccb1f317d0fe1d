"""`python -m bench --help` lists every area, the live and capacity ones included; nothing runs."""

from __future__ import annotations

import pytest

from bench.__main__ import main


def test_help_lists_every_area_with_its_first_docstring_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  live         What ``--live`` costs the generator" in out
    assert "  capacity     How close ``loadkit capacity`` lands to a wall" in out
    assert "  runner       Runner speed" in out


def test_an_unknown_area_is_refused_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["livee"]) == 2
    out = capsys.readouterr().out
    assert "unknown benchmark area(s): livee" in out and "capacity" in out and "live" in out
