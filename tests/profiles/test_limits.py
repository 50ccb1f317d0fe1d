"""Profiles: non-finite numbers, trace files outside the profile's folder, size limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.errors import InputError
from loadkit.profiles import load_profile, load_profile_text


def _error(text: str, path: str = "p.yaml") -> str:
    with pytest.raises(InputError) as info:
        load_profile_text(text, path)
    return str(info.value)


@pytest.mark.parametrize("rate", [".nan", ".inf", "-.inf", "'inf/s'", "'1e999'"])
def test_a_non_finite_rate_is_not_called_negative(rate: str) -> None:
    text = f"duration: 60s\nsegments:\n  - {{kind: constant, from: 0s, to: 60s, rate: {rate}}}\n"
    msg = _error(text)
    assert "p.yaml:3:" in msg
    assert "negative" not in msg
    if rate != "'inf/s'":  # not a rate at all: the accepted forms are listed instead
        assert "must be a finite number" in msg


def test_a_negative_rate_is_still_called_negative() -> None:
    text = "duration: 60s\nsegments:\n  - {kind: constant, from: 0s, to: 60s, rate: -3}\n"
    assert "'rate' must not be negative, got -3" in _error(text)


def test_a_non_finite_duration_is_refused() -> None:
    text = "duration: .inf\nsegments:\n  - {kind: constant, from: 0s, to: 60s, rate: 1}\n"
    assert "p.yaml:1:11: duration: bad value for 'duration': must be a finite number" in _error(
        text
    )


def _trace_profile(folder: Path, file: str, extra: str = "") -> Path:
    path = folder / "p.yaml"
    path.write_text(f"{extra}duration: 60s\nsegments:\n  - {{kind: trace, file: '{file}'}}\n")
    return path


def test_a_trace_outside_the_folder_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, folder = tmp_path / "shared", tmp_path / "profiles"
    shared.mkdir()
    folder.mkdir()
    (shared / "t.csv").write_text("time,rate\n0,1\n60,1\n")
    monkeypatch.delenv("LOADKIT_ALLOW_PATHS", raising=False)
    with pytest.raises(InputError) as info:
        load_profile(_trace_profile(folder, "../shared/t.csv"))
    assert "outside this file's folder" in str(info.value)
    assert "p.yaml:3:" in str(info.value)
    assert load_profile(_trace_profile(folder, "../shared/t.csv", "allow_paths: [../shared]\n"))
    monkeypatch.setenv("LOADKIT_ALLOW_PATHS", str(shared))
    assert load_profile(_trace_profile(folder, "../shared/t.csv"))


def test_a_special_or_oversized_trace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_profile(_trace_profile(tmp_path, "/dev/zero", "allow_paths: [/dev]\n"))
    assert "not a regular file" in str(info.value)
    (tmp_path / "big.csv").write_text("time,rate\n" + "1,1\n" * 600_000)
    with pytest.raises(InputError) as info:
        load_profile(_trace_profile(tmp_path, "big.csv"))
    assert "too large" in str(info.value) and "big.csv" in str(info.value)


def test_a_huge_trace_cell_is_a_located_problem_not_a_csv_traceback(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time,rate\n0," + "9" * 200_000 + "\n")
    with pytest.raises(InputError) as info:
        load_profile(_trace_profile(tmp_path, "t.csv"))
    assert "cannot read the trace file" in str(info.value)
    assert len(str(info.value)) < 500
