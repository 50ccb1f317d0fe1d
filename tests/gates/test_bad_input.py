"""Bad gate lines: exit 2, one paragraph, a caret under the problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.errors import ExitCode, InputError, Location
from loadkit.gates import Threshold, parse_threshold
from tests.test_cli import PROFILE, SCENARIO, run_cli


def _caret_at(text: str) -> tuple[str, int]:
    """The error text and the 0-based column its caret points at."""
    with pytest.raises(InputError) as info:
        parse_threshold(text)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    message = str(info.value)
    lines = message.splitlines()
    echoed = lines.index(f"    {text}")
    caret = lines[echoed + 1]
    assert caret.strip() == "^" or caret.strip().startswith("^ ")
    return message, caret.index("^") - 4


@pytest.mark.parametrize(
    ("text", "at", "says"),
    [
        ("p(95) < -1s", "-1s", "'-1s' is negative"),
        ("p(95) < 1s over -5s", "-5s", "negative"),
        ("p(95) < 1s for -30s", "-30s", "negative"),
        ("p(95) < 1s, abort after -1s", "-1s", "negative"),
        ("p(95) < 1s from t0+-5s to t0+10s", "-5s", "negative"),
        ("error_rate < 1e309%", "1e309%", "must be a finite number"),
        ("rate < 1e309/s", "1e309/s", "bad value"),
        ("count > 1e400", "1e400", "too large"),
        ("p(95) < 1s min 1e400 samples", "1e400", "too large"),
        ("error_rate < 150%", "150%", "more than 100%"),
        ("error_rate < -1%", "-1%", "negative"),
        ("rate < -5/s", "-5/s", "bad value"),
        ("drops < -1", "-1", "negative"),
        ("p(95) < 1s over 0s", "over", "0s wide"),
        ("p(95) < 1s in 0% of windows", "0%", "not a share of windows"),
        ("p(95) < 1s in 150% of windows", "150%", "not a share of windows"),
        ("p(95) < 1s min 2.5 samples", "2.5", "not a whole number"),
        ("p(95) < 1s min -3 samples", "-3", "negative"),
        ("error_rate{outcome=timout} < 1%", "timout", "Did you mean 'timeout'?"),
        ("p(95){step=checkout < 1s", "<", "',' or '}'"),
        ("p(95) < 1s durng spike", "durng", "unexpected 'durng'"),
        ("p(95) << 1s", "< 1s", "missing value"),
        ("p(95) < 1s,", "", "unknown action"),
        ("p(95) < 1s from t0+50s to t0+10s", "from", "ends before it starts"),
    ],
)
def test_each_malformed_line_is_refused_with_the_caret_under_the_problem(
    text: str, at: str, says: str
) -> None:
    message, column = _caret_at(text)
    assert says in message
    expected = text.rindex(at) if at else len(text)
    assert column == expected, message


def test_negative_offsets_are_written_with_the_minus_sign() -> None:
    th = parse_threshold("p(95) < 1s from onsale-10s to onsale+5s")
    assert th.start is not None and th.start.offset_s == -10.0


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("p(95){}step=ckou<>!=,.0123456789e%/smin -_abortafterwnds*")),
        max_size=40,
    )
)
def test_any_text_parses_or_is_an_input_error_never_a_crash(text: str) -> None:
    try:
        th = parse_threshold(text, Location("gates.txt", 3, 1))
    except InputError as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT
        assert "^" in str(exc) and str(exc).startswith("gates.txt:3:")
    else:
        assert isinstance(th, Threshold)


def test_validate_refuses_a_step_the_scenario_does_not_define(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gates = tmp_path / "gates.txt"
    gates.write_text("error_rate < 1%\n  p(95){step=queue.pol} < 1s\nrate{step=seat*} < 5/s\n")
    code, _, err = run_cli(
        capsys, "validate", str(SCENARIO), "--profile", str(PROFILE), "-t", str(gates)
    )
    assert code == 2
    assert "Traceback" not in err
    assert f"{gates}:2:14: threshold names step 'queue.pol', which the scenario does not" in err
    assert "Did you mean 'queue.poll'?" in err
    assert "    p(95){step=queue.pol} < 1s\n               ^" in err
    assert f"{gates}:3:11: threshold step 'seat*' matches no step the scenario defines" in err


def test_validate_refuses_a_phase_the_profile_does_not_have(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gates = tmp_path / "gates.txt"
    gates.write_text("p(95) < 1s during peak\np(95) < 1s during drain\n")
    code, _, err = run_cli(
        capsys, "validate", str(SCENARIO), "--profile", str(PROFILE), "-t", str(gates)
    )
    assert code == 2
    assert f"{gates}:1:19: threshold names phase 'peak'" in err
    assert ":2:" not in err  # drain is always a phase
