"""Hostile inputs too big to check in, generated at test time (each up to 100 MB).

Every case ends with exit 2 and a message naming the file, within the CPU and memory limits
of ``harness.run_loadkit`` (the limits, not a clock, are the assertion).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.hostile.harness import assert_refused, run_loadkit, write_ok_scenario

MB = 1_000_000
_FEED = "personas: {p: {steps: [{feed: f}]}}\n"


def _write_big(path: Path, head: bytes, unit: bytes, total_bytes: int, tail: bytes = b"") -> None:
    """``head`` + ``unit`` repeated + ``tail``, about ``total_bytes`` long, written in chunks."""
    chunk = unit * (1 << 20 // len(unit) + 1)
    with path.open("wb") as fh:
        fh.write(head)
        while fh.tell() < total_bytes - len(tail):
            fh.write(chunk)
        fh.write(tail)


def test_a_50_mb_one_line_flow_list_is_refused_before_parsing(tmp_path: Path) -> None:
    _write_big(tmp_path / "s.yaml", b"personas: [", b"1,", 50 * MB, b"1]\n")
    assert_refused(run_loadkit(["validate", "s.yaml"], tmp_path), "s.yaml", "too large")


def test_a_scenario_just_under_the_size_limit_is_refused_by_its_value_count(
    tmp_path: Path,
) -> None:
    _write_big(tmp_path / "s.yaml", b"personas: [", b"1,", 250_000, b"1]\n")
    outcome = run_loadkit(["validate", "s.yaml"], tmp_path)
    assert_refused(outcome, "s.yaml:1:", "more than 100,000 values")


def test_a_100_mb_profile_and_thresholds_file_are_refused(tmp_path: Path) -> None:
    write_ok_scenario(tmp_path)
    _write_big(tmp_path / "p.yaml", b"duration: 60s\nsegments:\n", b"# padding\n", 100 * MB)
    _write_big(tmp_path / "t.txt", b"", b"p(95) < 800ms\n", 100 * MB)
    profile = run_loadkit(["validate", "ok.yaml", "-p", "p.yaml"], tmp_path)
    assert_refused(profile, "p.yaml", "too large")
    thresholds = run_loadkit(["validate", "ok.yaml", "-t", "t.txt"], tmp_path)
    assert_refused(thresholds, "t.txt", "too large")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("personas: " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "b.yaml").write_text(
        "personas:\n" + "".join(" " * i + "- \n" for i in range(1, 600))
    )
    assert_refused(run_loadkit(["validate", "s.yaml"], tmp_path), "s.yaml:1:")
    assert_refused(run_loadkit(["validate", "b.yaml"], tmp_path), "b.yaml:", "levels of nesting")


def test_a_100_mb_feeder_is_refused_by_its_size(tmp_path: Path) -> None:
    _write_big(tmp_path / "big.csv", b"id\n", b"1234567\n", 110 * MB)
    (tmp_path / "s.yaml").write_text("feeders:\n  f: {file: big.csv}\n" + _FEED)
    assert_refused(run_loadkit(["validate", "s.yaml"], tmp_path), "s.yaml:2:", "too large")


def test_a_feeder_of_one_100_mb_line_is_refused_without_reading_it(tmp_path: Path) -> None:
    _write_big(tmp_path / "line.csv", b"", b"abcdefgh", 99 * MB)
    (tmp_path / "s.yaml").write_text("feeders:\n  f: {file: line.csv}\n" + _FEED)
    outcome = run_loadkit(["validate", "s.yaml"], tmp_path)
    assert_refused(outcome, "s.yaml:2:", "first line is over")


def test_a_100_mb_trace_is_refused_by_its_size(tmp_path: Path) -> None:
    write_ok_scenario(tmp_path)
    _write_big(tmp_path / "t.csv", b"time,rate\n", b"1,2\n", 100 * MB)
    (tmp_path / "p.yaml").write_text("duration: 60s\nsegments:\n  - {kind: trace, file: t.csv}\n")
    outcome = run_loadkit(["validate", "ok.yaml", "-p", "p.yaml"], tmp_path)
    assert_refused(outcome, "t.csv", "too large")


def test_a_fifo_feeder_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "s.yaml").write_text("feeders:\n  f: {file: pipe.csv}\n" + _FEED)
    outcome = run_loadkit(["validate", "s.yaml"], tmp_path)
    assert_refused(outcome, "s.yaml:2:", "a device, pipe or socket")


def test_a_symlink_out_of_the_folder_is_refused_and_allow_paths_admits_it(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "users.csv").write_text("id\n1\n")
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "users.csv").symlink_to(outside / "users.csv")
    (folder / "s.yaml").write_text("feeders:\n  f: {file: users.csv}\n" + _FEED)
    refused = run_loadkit(["validate", "s.yaml"], folder)
    assert_refused(refused, "s.yaml:2:", "outside this file's folder", "allow_paths")
    by_env = run_loadkit(["validate", "s.yaml"], folder, {"LOADKIT_ALLOW_PATHS": str(outside)})
    assert by_env.code == 0, by_env.text
    (folder / "s.yaml").write_text("allow_paths: [../shared]\n" + (folder / "s.yaml").read_text())
    by_file = run_loadkit(["validate", "s.yaml"], folder)
    assert by_file.code == 0, by_file.text


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"pad": "' + b"x" * (20 * MB) + b'"}', "too large"),
        (b"\xff\xfe not text", "not UTF-8"),
    ],
    ids=["deep", "20MB", "binary"],
)
def test_a_damaged_manifest_is_refused_by_analyze(
    tmp_path: Path, manifest: bytes, expected: str
) -> None:
    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    (run / "manifest.json").write_bytes(manifest)
    assert_refused(run_loadkit(["analyze", "run"], tmp_path), "manifest.json", expected)


def test_a_good_worker_manifest_still_reads(tmp_path: Path) -> None:
    from loadkit.results.merge import read_worker_manifest

    (tmp_path / "worker.json").write_text(json.dumps({"worker_id": 3}))
    assert read_worker_manifest(tmp_path)["worker_id"] == 3


def test_files_just_under_their_limits_still_validate_within_the_limits(tmp_path: Path) -> None:
    """The limits are sized so the largest accepted file still costs under 2 s and 500 MB."""
    write_ok_scenario(tmp_path)
    with (tmp_path / "t.csv").open("w") as fh:
        fh.write("time,rate\n")
        row = 0
        while fh.tell() < (2 << 20) - 20:
            fh.write(f"{row},1\n")
            row += 1
    (tmp_path / "p.yaml").write_text(
        f"duration: {row}s\nsegments:\n  - {{kind: trace, file: t.csv}}\n"
    )
    _write_big(tmp_path / "big.csv", b"id,email\n", b"1234567,a@example.com\n", 99 * MB)
    (tmp_path / "s.yaml").write_text("feeders:\n  f: {file: big.csv}\n" + _FEED)
    profile = run_loadkit(["validate", "ok.yaml", "-p", "p.yaml"], tmp_path)
    assert profile.code == 0, profile.text[-2000:]
    feeder = run_loadkit(["validate", "s.yaml"], tmp_path)
    assert feeder.code == 0, feeder.text[-2000:]


def test_a_file_of_15_000_mistakes_reports_the_first_50_and_a_count(tmp_path: Path) -> None:
    lines = "".join(f"key{i}: {i}\n" for i in range(15_000))
    (tmp_path / "s.yaml").write_text(lines + "personas: {}\n")
    outcome = run_loadkit(["validate", "s.yaml"], tmp_path)
    assert_refused(outcome, "s.yaml:1:1: key0: unknown key", "and 14,951 more problems")
    assert outcome.err.count("\n") == 51


def test_100_000_unclosed_holes_are_refused_in_linear_time(tmp_path: Path) -> None:
    hole = "{{" * 100_000
    (tmp_path / "s.yaml").write_text(f"personas:\n  p:\n    steps:\n      - set: {{x: '{hole}'}}\n")
    outcome = run_loadkit(["validate", "s.yaml"], tmp_path)
    assert_refused(outcome, "s.yaml:4:", "'{{' without a closing '}}'")
