"""`python -m bench capacity`: reading capacity.json, the truth and the verdict (no load here)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.bench_capacity import Search, render, truth_per_s, verdict


def _doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "capacity_schema": 1,
        "answer": "holds 38.3/s (2 of 2 repeats), fails at 40.0/s (2 of 2 repeats)",
        "stop": "found",
        "holds_per_s": 38.3,
        "fails_per_s": 40.0,
        "holds_repeats": [2, 2],
        "fails_repeats": [2, 2],
        "exit_code": 0,
        "elapsed_s": 120.4,
        "probes": [
            {"rate_per_s": 10.0, "outcome": "passed", "run_dir": "/r/p1", "verdict": "passed"},
            {"rate_per_s": 40.0, "outcome": "failed", "run_dir": "/r/p2", "verdict": "failed"},
            {"rate_per_s": 38.3, "outcome": "passed", "run_dir": "/r/p3", "verdict": "passed"},
        ],
    }
    return {**doc, **over}


def test_capacity_json_is_read_with_its_uncertainty_and_probes() -> None:
    search = Search.from_json(_doc())
    assert (search.holds_per_s, search.fails_per_s) == (38.3, 40.0)
    assert (search.holds_repeats, search.fails_repeats) == ((2, 2), (2, 2))
    assert search.passed_run_dirs == ["/r/p1", "/r/p3"]
    assert len(search.probes) == 3
    none = Search.from_json(_doc(holds_per_s=None, stop="generator_bound", exit_code=3))
    assert none.holds_per_s is None
    with pytest.raises(KeyError):
        Search.from_json({"answer": "x"})


def test_the_truth_is_the_limit_over_the_service_time() -> None:
    assert truth_per_s(20, 500.0) == pytest.approx(40.0)
    assert truth_per_s(20, 501.0) == pytest.approx(39.92, abs=0.01)
    with pytest.raises(ValueError, match="service time"):
        truth_per_s(20, 0.0)


def test_the_verdict_holds_the_answer_to_15_percent_and_10_minutes() -> None:
    search = Search.from_json(_doc())
    assert verdict(search, 39.9, 125.0).startswith(
        "Verdict (issue 14: within ±15% of the wall in ≤ 10 min): **met**: holds 38.3/s "
        "against 39.9/s (-4.0 %), in 125 s."
    )
    far = verdict(search, 46.0, 125.0)  # 38.3 is 16.7 % below
    assert "**not met**" in far and "outside" in far
    slow = verdict(search, 39.9, 601.0)
    assert "**not met**" in slow and "too long" in slow
    bound = Search.from_json(_doc(holds_per_s=None, stop="generator_bound"))
    assert "**not met**: no rate held (stop: generator_bound)" in verdict(bound, 39.9, 30.0)


def test_the_section_names_the_command_the_truth_and_the_answer() -> None:
    search = Search.from_json(_doc())
    text = render(search, 501.0, 125.0, "loadkit capacity X --host URL", (1.0, 2.0))
    assert text.startswith("## Capacity search (`python -m bench capacity`)")
    assert (
        "| 39.9/s | **38.3/s (2 of 2)** | 40.0/s (2 of 2) | -4.1 % | 3 | 125 s | found | 0 |"
        in text
    )
    assert "`holds 38.3/s (2 of 2 repeats), fails at 40.0/s (2 of 2 repeats)`" in text
    assert "Reproduce: `python -m bench capacity`" in text
    unmeasured = render(search, None, 125.0, "cmd", (1.0, 2.0))
    assert "not measured (no probe passed)" in unmeasured and "| 40.0/s |" in unmeasured
