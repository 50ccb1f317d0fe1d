"""The threshold language: what parses into what, and what the errors say."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.errors import ExitCode, InputError, Location
from loadkit.gates import (
    Comparison,
    StatKind,
    ThresholdSpec,
    TimeRef,
    load_thresholds_file,
    parse_threshold,
)


def test_the_design_example_parses_into_every_part() -> None:
    th = parse_threshold(
        "p(95){step=checkout} < 1.5s over 10s for 30s during spike, abort after 60s"
    )
    assert th.stat.kind is StatKind.RESPONSE and th.stat.q == 95.0
    assert th.selector == (("step", "checkout"),)
    assert th.op is Comparison.LT and th.value == 1500.0
    assert (th.over_s, th.for_s, th.phase) == (10.0, 30.0, "spike")
    assert th.abort and th.abort_after_s == 60.0 and not th.warn


@pytest.mark.parametrize(
    ("text", "kind", "q", "value"),
    [
        ("p95 < 800ms", StatKind.RESPONSE, 95.0, 800.0),
        ("p99.9 < 2s", StatKind.RESPONSE, 99.9, 2000.0),
        ("p(99.9) < 2s", StatKind.RESPONSE, 99.9, 2000.0),
        ("max < 1m", StatKind.RESPONSE, 100.0, 60000.0),
        ("med < 100ms", StatKind.RESPONSE, 50.0, 100.0),
        ("service_p(99) < 250ms", StatKind.SERVICE, 99.0, 250.0),
        ("lateness_p99 < 50ms", StatKind.LATENESS, 99.0, 50.0),
        ("error_rate{step=queue.poll} < 0.1%", StatKind.ERROR_RATE, None, 0.001),
        ("rate{outcome=dropped} == 0", StatKind.RATE, None, 0.0),
        ("rate{step=landing} > 30/min", StatKind.RATE, None, 0.5),
        ("drops == 0", StatKind.DROPS, None, 0.0),
        ("count{step=checkout} >= 100", StatKind.COUNT, None, 100.0),
    ],
)
def test_stats_and_units(text: str, kind: StatKind, q: float | None, value: float) -> None:
    th = parse_threshold(text)
    assert th.stat.kind is kind
    assert th.stat.q == q
    assert th.value == pytest.approx(value)


def test_avg_is_a_mean_not_a_percentile() -> None:
    th = parse_threshold("avg{persona=fan} < 300ms")
    assert th.stat.is_mean and th.select("persona") == "fan"


def test_window_phase_sample_and_action_clauses() -> None:
    th = parse_threshold(
        "p(99) < 1s in 95% of windows from onsale-10s to t0+5m min 20 samples, as warn"
    )
    assert th.in_windows == 0.95
    assert th.start == TimeRef("onsale", -10.0) and th.end == TimeRef("t0", 300.0)
    assert th.start.resolve_s(30.0) == 20.0
    assert th.min_samples == 20 and th.warn


def test_invariants_and_regressions() -> None:
    th = parse_threshold("invariant(admission_rate, max=600/min)")
    assert th.invariant == "admission_rate" and th.param("max", 0) == 10.0
    assert parse_threshold("invariant(fifo, max=2%)").param("max", 0) == 0.02
    reg = parse_threshold("regression(p(95){step=checkout}) < 10%")
    assert reg.regression and reg.value == 0.1 and reg.select("step") == "checkout"


def _error(text: str, location: Location | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        parse_threshold(text, location)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return info.value


def test_unknown_stat_has_a_caret_and_did_you_mean() -> None:
    err = _error("p95x{step=checkout} < 800ms")
    text = str(err)
    assert "unknown stat 'p95x'" in text
    assert "    p95x{step=checkout} < 800ms\n    ^" in text
    assert "Did you mean 'p95'?" in text
    assert err.location is not None and err.location.column == 1


def test_unknown_selector_key_points_at_the_key() -> None:
    err = _error("p(95){stp=checkout} < 800ms")
    assert "Did you mean 'step'?" in str(err)
    assert err.location is not None and err.location.column == 7
    assert "\n          ^" in str(err)


def test_column_is_offset_by_the_file_location() -> None:
    err = _error("error_rate < 1% durng spike", Location("gates.txt", 4, 3))
    assert err.location == Location("gates.txt", 4, 3 + 16)
    assert str(err).startswith("gates.txt:4:19: cannot parse threshold: unexpected 'durng'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p(95) < 800", "has no unit"),
        ("p(95){step=checkout} 800ms", "one of <, <=, >, >=, ==, !="),
        ("p(101) < 1s", "out of range"),
        ("invariant(no_oversel)", "Did you mean 'no_oversell'?"),
        ("invariant(admission_rate)", "max=RATE"),
        ("invariant(fifo, maxx=1%)", "Did you mean 'max'?"),
        ("error_rate < 1%, abort after soon", "a duration"),
        ("error_rate < 1%, shout", "'abort after DURATION' or 'as warn'"),
        ("error_rate < 1% in 95%", "of windows"),
        ("", "empty"),
    ],
)
def test_parse_errors_say_what_was_expected(text: str, expected: str) -> None:
    assert expected in str(_error(text))


def test_thresholds_file_plain_text_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "gates.txt"
    path.write_text("# gates for CI\np(95) < 800ms\n\n  error_rate < 1%   # keep it low\n")
    specs = load_thresholds_file(path)
    assert specs == (
        ThresholdSpec("p(95) < 800ms", Location(str(path), 2, 1)),
        ThresholdSpec("error_rate < 1%", Location(str(path), 4, 3)),
    )


def test_thresholds_file_yaml_list_keeps_lines(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text('# gates\n- "p(95) < 800ms"\n- invariant(no_oversell)\n')
    specs = load_thresholds_file(path)
    assert [s.text for s in specs] == ["p(95) < 800ms", "invariant(no_oversell)"]
    assert [s.location.line for s in specs if s.location] == [2, 3]
    for spec in specs:
        parse_threshold(spec.text, spec.location)


def test_thresholds_file_missing_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the thresholds file"):
        load_thresholds_file(tmp_path / "nope.txt")
