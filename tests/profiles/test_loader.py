"""Loading profile files: the shipped examples, and every mistake reported with its place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loadkit.errors import ExitCode, InputError, ValidationErrors
from loadkit.profiles import (
    DEFAULT_PHASE,
    ArrivalProcess,
    Profile,
    Scale,
    compile_schedule,
    load_profile,
    load_profile_text,
    parse_scale,
)

PROFILES = Path(__file__).resolve().parents[2] / "profiles"

SPIKE = """\
name: spike-demo
arrivals: poisson
onsale_at: 60s
duration: 150s
segments:
  - {kind: constant, from: 0s, to: onsale, rate: 5/s}
  - {kind: spike, at: onsale, until: 150s, baseline: 5/s, peak: 80/s, rise: 2s, decay: 20s}
phases:
  - {name: prequeue, from: 0s, to: 60s}
  - {name: spike, from: onsale, to: onsale+30s}
  - {name: tail, from: 90s, to: 150s}
"""


def problems_of(text: str, path: str = "p.yaml") -> list[str]:
    with pytest.raises(InputError) as info:
        load_profile_text(text, path)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    err = info.value
    return [str(e) for e in err.errors] if isinstance(err, ValidationErrors) else [str(err)]


def one_problem(text: str, path: str = "p.yaml") -> str:
    found = problems_of(text, path)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_profile_loads_and_compiles(path: Path) -> None:
    profile = load_profile(path)
    schedule = compile_schedule(profile, 1)
    assert len(schedule) > 0
    assert profile.phases[0].start_s == 0.0
    assert profile.phases[-1].end_s == pytest.approx(profile.duration_s)


def test_spike_demo_fits_a_laptop() -> None:
    profile = load_profile(PROFILES / "spike-demo.yaml")
    assert 120.0 <= profile.duration_s <= 180.0
    assert 1000 <= profile.expected_arrivals() <= 5000
    assert 30.0 <= profile.peak_rate()[0] <= 60.0
    assert profile.phase_names == ("prequeue", "spike", "tail")


def test_smoke_is_short_and_light() -> None:
    profile = load_profile(PROFILES / "smoke.yaml")
    assert profile.duration_s == 10.0
    assert profile.expected_arrivals() < 50


def test_reference_profile_is_full_scale_and_rehearsal_shrinks_it() -> None:
    full = load_profile(PROFILES / "onsale-reference.yaml")
    assert full.expected_arrivals(0.0, full.onsale_at_s) == pytest.approx(0.7 * 150_000)
    small = load_profile(PROFILES / "onsale-rehearsal.yaml")
    assert 120.0 <= small.duration_s <= 180.0
    assert small.expected_arrivals() == pytest.approx(1500.0)
    shrunk = load_profile(PROFILES / "onsale-reference.yaml", scale=Scale(1 / 25, 1 / 100))
    assert shrunk.expected_arrivals() == pytest.approx(small.expected_arrivals())
    assert shrunk.phases == small.phases


def test_replay_reads_the_trace_counts() -> None:
    profile = load_profile(PROFILES / "replay.yaml")
    csv = (PROFILES / "traces" / "onsale-sample.csv").read_text().splitlines()
    counts = [float(line.split(",")[1]) for line in csv if line[:1].isdigit()]
    assert profile.expected_arrivals() == pytest.approx(sum(counts))
    assert profile.expected_arrivals(60.0, 70.0) == pytest.approx(counts[6])


def test_example_from_the_brief() -> None:
    profile = load_profile_text(SPIKE, "spike.yaml")
    assert isinstance(profile, Profile)
    assert profile.onsale_at_s == 60.0
    assert profile.arrival_process is ArrivalProcess.POISSON
    assert [(p.name, p.start_s, p.end_s) for p in profile.phases] == [
        ("prequeue", 0.0, 60.0),
        ("spike", 60.0, 90.0),
        ("tail", 90.0, 150.0),
    ]
    assert profile.sha256 and profile.source == "spike.yaml"


def test_phases_default_to_one_phase() -> None:
    text = "duration: 30s\nsegments:\n  - {kind: constant, from: 0s, to: 30s, rate: 2/s}\n"
    profile = load_profile_text(text, "p.yaml")
    assert profile.phase_names == (DEFAULT_PHASE,)
    assert profile.name == "p"
    assert profile.expected_arrivals() == pytest.approx(60.0)


def test_scale_number_keeps_rates() -> None:
    text = (
        "duration: 100s\nscale: 0.5\n"
        "segments:\n  - {kind: constant, from: 0s, to: 100s, rate: 4/s}\n"
    )
    profile = load_profile_text(text)
    assert profile.duration_s == 50.0
    assert profile.rate_per_s(10.0).tolist() == 4.0


def test_unknown_top_level_key_has_line_and_did_you_mean() -> None:
    msg = one_problem(SPIKE.replace("arrivals:", "arivals:"))
    assert msg.startswith("p.yaml:2:1: arivals: unknown key 'arivals'")
    assert "Did you mean 'arrivals'?" in msg


def test_unknown_segment_kind_has_did_you_mean() -> None:
    msg = one_problem(SPIKE.replace("kind: spike", "kind: spiek"))
    assert msg.startswith("p.yaml:7:12: segments[1].kind:")
    assert "'spiek'" in msg and "Did you mean 'spike'?" in msg
    assert "Accepted: constant, ramp, steps, spike, trace, onsale-reference" in msg


def test_unknown_segment_key_has_did_you_mean() -> None:
    msg = one_problem(SPIKE.replace("decay: 20s", "decay: 20s, rize: 1s"))
    assert msg.startswith("p.yaml:7:")
    assert "segments[1].rize: unknown key 'rize'" in msg and "Did you mean 'rise'?" in msg


def test_negative_rate() -> None:
    msg = one_problem(SPIKE.replace("rate: 5/s", "rate: -5/s"))
    assert msg.startswith("p.yaml:6:")
    assert "segments[0].rate: 'rate' must not be negative, got '-5/s'" in msg


def test_negative_decay() -> None:
    msg = one_problem(SPIKE.replace("decay: 20s", "decay: -3s"))
    assert msg.startswith("p.yaml:7:")
    assert "'decay' must be a positive duration, got '-3s'" in msg


def test_duration_zero_is_reported() -> None:
    found = problems_of(
        "duration: 0s\nsegments:\n  - {kind: constant, from: 0s, to: 1s, rate: 1}\n"
    )
    assert any(m.startswith("p.yaml:1:11: duration:") and "positive duration" in m for m in found)


def test_phase_gap_and_overlap() -> None:
    gap = one_problem(SPIKE.replace("{name: spike, from: onsale,", "{name: spike, from: 65s,"))
    assert gap.startswith("p.yaml:10:")
    assert "phase 'spike' starts at 65s but the previous one ends at 60s: a gap" in gap
    overlap = one_problem(SPIKE.replace("{name: tail, from: 90s", "{name: tail, from: 80s"))
    assert overlap.startswith("p.yaml:11:")
    assert "an overlap" in overlap


def test_phases_must_reach_the_end() -> None:
    msg = one_problem(
        SPIKE.replace("{name: tail, from: 90s, to: 150s}", "{name: tail, from: 90s, to: 140s}")
    )
    assert "the last phase 'tail' ends at 140s but the profile lasts 150s" in msg


def test_duplicate_phase_names() -> None:
    msg = one_problem(SPIKE.replace("name: tail", "name: spike"))
    assert "phase 'spike' is defined twice (first at line 10)" in msg


def test_time_outside_the_profile() -> None:
    msg = one_problem(SPIKE.replace("until: 150s", "until: 200s"))
    assert msg.startswith("p.yaml:7:")
    assert "'until' is '200s' = 200s, outside the profile (0s to 150s)" in msg


def test_onsale_time_needs_onsale_at() -> None:
    found = problems_of(SPIKE.replace("onsale_at: 60s\n", ""))
    assert any("uses 'onsale' but the profile has no 'onsale_at'" in m for m in found)


def test_all_problems_in_one_pass() -> None:
    text = (
        SPIKE.replace("arrivals: poisson", "arrivals: poison")
        .replace("rate: 5/s", "rate: lots")
        .replace("kind: spike", "kind: spik")
    )
    found = problems_of(text)
    assert len(found) == 3
    assert "Did you mean 'poisson'?" in found[0]
    assert "got 'lots'" in found[1]
    assert "Did you mean 'spike'?" in found[2]


def test_trace_file_missing(tmp_path: Path) -> None:
    text = "duration: 60s\nsegments:\n  - {kind: trace, file: traces/nope.csv}\n"
    path = tmp_path / "replay.yaml"
    path.write_text(text)
    msg = one_problem(text, str(path))
    assert msg.startswith(f"{path}:3:25: segments[0].file: trace file not found: 'traces/nope.csv'")


def test_trace_malformed_rows_point_at_the_csv(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time,rate\n0,1\n10,x\n20,3\n15,2\n30,-1\n")
    path = tmp_path / "replay.yaml"
    path.write_text("duration: 60s\nsegments:\n  - {kind: trace, file: t.csv}\n")
    found = problems_of(path.read_text(), str(path))
    csv = str(tmp_path / "t.csv")
    assert found == [
        f"{csv}:3:4: bad value 'x': expected a number >= 0.",
        f"{csv}:5:1: time '15' does not come after the previous row's (20s): times must "
        "strictly increase.",
        f"{csv}:6:4: bad value '-1': a rate or count must be >= 0 and finite.",
    ]


def test_trace_bad_header(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("# exported\nt,visitors\n0,1\n")
    path = tmp_path / "replay.yaml"
    path.write_text("duration: 60s\nsegments:\n  - {kind: trace, file: t.csv}\n")
    msg = one_problem(path.read_text(), str(path))
    assert msg.startswith(f"{tmp_path / 't.csv'}:2:1: the trace's header must be 'time,rate'")


def test_trace_longer_than_the_profile(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time,count\n0,10\n60,10\n120,10\n")
    path = tmp_path / "replay.yaml"
    path.write_text("duration: 60s\nsegments:\n  - {kind: trace, file: t.csv}\n")
    msg = one_problem(path.read_text(), str(path))
    assert "runs from 0s to 180s, outside the profile (0s to 60s)" in msg


def test_rates_all_zero_is_an_error() -> None:
    msg = one_problem(
        "duration: 10s\nsegments:\n  - {kind: constant, from: 0s, to: 10s, rate: 0}\n"
    )
    assert "it would send nobody" in msg


def test_not_a_mapping_and_bad_yaml() -> None:
    assert "a profile must be a mapping" in one_problem("- just\n- a list\n")
    assert one_problem("duration: [\n").startswith("p.yaml:2:1: this is not valid YAML")


def test_load_profile_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="profile file not found"):
        load_profile(tmp_path / "nope.yaml")


def test_reference_segment_needs_room_before_the_onsale() -> None:
    text = (
        "duration: 10m\nonsale_at: 5m\nsegments:\n"
        "  - {kind: onsale-reference, visitors: 1000, rush: 1m, tail: 4m}\n"
    )
    msg = one_problem(text)
    assert "runs from -1500s to 600s, outside the profile" in msg


def test_reference_segment_shares() -> None:
    text = (
        "duration: 10m\nonsale_at: 5m\nsegments:\n"
        "  - {kind: onsale-reference, visitors: 1000, prequeue: 5m, build_up: 1m, rush: 1m,"
        " tail: 4m, tail_decay: 1m, shares: {prequeue: 50%, rush: 0.3, tail: 20%}}\n"
    )
    p = load_profile_text(text)
    assert p.expected_arrivals(0, 300) == pytest.approx(500.0)
    assert p.expected_arrivals(300, 360) == pytest.approx(300.0)
    bad = one_problem(text.replace("rush: 0.3", "rush: lots"))
    assert "bad share 'lots'" in bad


def test_hash_covers_the_trace(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time,count\n0,10\n10,10\n")
    path = tmp_path / "replay.yaml"
    path.write_text("duration: 60s\nsegments:\n  - {kind: trace, file: t.csv}\n")
    before = load_profile(path).sha256
    (tmp_path / "t.csv").write_text("time,count\n0,10\n10,11\n")
    after = load_profile(path)
    assert before != after.sha256
    assert after.expected_arrivals() == pytest.approx(21.0)


def test_to_dict_is_json_ready() -> None:
    profile = load_profile(PROFILES / "spike-demo.yaml")
    data = json.loads(json.dumps(profile.to_dict()))
    assert data["name"] == "spike-demo"
    assert data["onsale_at_s"] == 60.0
    assert [p["name"] for p in data["phases"]] == ["prequeue", "spike", "tail"]
    assert data["segments"][1] == {
        "kind": "spike",
        "start_s": 60.0,
        "end_s": 150.0,
        "baseline_per_s": 6.0,
        "peak_per_s": 45.0,
        "rise_s": 2.0,
        "decay_s": 20.0,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5", Scale(0.5, 0.5)),
        ("1/25", Scale(0.04, 0.04)),
        ("time=1/25,crowd=1/100", Scale(0.04, 0.01)),
        ("crowd=2", Scale(1.0, 2.0)),
    ],
)
def test_parse_scale(text: str, expected: Scale) -> None:
    assert parse_scale(text) == expected


@pytest.mark.parametrize("text", ["fast", "time=", "speed=2", "0", "time=-1"])
def test_parse_scale_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_scale(text)


def test_bad_scale_in_file() -> None:
    found = problems_of(
        SPIKE.replace("duration: 150s", "duration: 150s\nscale: {time: 0, crowd: x}")
    )
    assert any("'time' must be a number greater than zero" in m for m in found)
    assert any("'crowd' must be a number greater than zero" in m for m in found)


def test_trace_rate_mode_is_joined_linearly(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time,rate\n100,0\n110,10\n2m,10\n")
    path = tmp_path / "replay.yaml"
    path.write_text("duration: 60s\nsegments:\n  - {kind: trace, file: t.csv, from: 5s}\n")
    profile = load_profile(path)
    # shifted so the first row (100 s) lands at 5 s: 0 → 10/s over 5..15 s, 10/s to 15..25 s
    assert profile.rate_per_s(np.array([4.0, 10.0, 20.0, 26.0])).tolist() == pytest.approx(
        [0.0, 5.0, 10.0, 0.0]
    )
    assert profile.expected_arrivals() == pytest.approx(50.0 + 100.0)


def test_onsale_at_outside_the_profile() -> None:
    msg = one_problem(SPIKE.replace("onsale_at: 60s", "onsale_at: 3m"))
    assert msg.startswith("p.yaml:3:12: onsale_at: 'onsale_at' is '3m' = 180s, outside")


def test_bad_phase_name() -> None:
    msg = one_problem(SPIKE.replace("name: tail", "name: 2nd tail"))
    assert msg.startswith("p.yaml:11:")
    assert "bad phase name '2nd tail'" in msg


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ("5", "'rates' must be a list"),
        ("[]", "'rates' must list at least one rate"),
        ("[1/s, -2/s]", "'rates[1]' must not be negative"),
    ],
)
def test_steps_rates_problems(rates: str, message: str) -> None:
    text = f"duration: 60s\nsegments:\n  - {{kind: steps, from: 0s, every: 10s, rates: {rates}}}\n"
    assert message in one_problem(text)


def test_too_big_to_schedule_is_caught_when_loading() -> None:
    many = "duration: 1h\nsegments:\n  - {kind: constant, from: 0s, to: 1h, rate: 50k/s}\n"
    assert "more than a schedule can hold (100,000,000)" in one_problem(many)
    long = SPIKE.replace("duration: 150s", "duration: 150s\nscale: {time: 1e9, crowd: 1}")
    assert "longer than a schedule can span" in one_problem(long)
