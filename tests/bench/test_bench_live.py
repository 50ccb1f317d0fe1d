"""`python -m bench live`: the summaries and the verdict its section prints (no load here)."""

from __future__ import annotations

import math

import pytest

from bench._live_figures import (
    Answers,
    Round,
    Scrape,
    core_shares,
    cpu_rise,
    median_interval,
    parse_cpu_line,
    summarise_scrapes,
    verdict,
)
from bench.bench_live import render


def _round(live: bool, cpu_us: float, requests: int = 12_000) -> Round:
    return Round(live, requests, cpu_us * requests / 1e6, 6.0, 0, 0, 0.0, 0.0)


def test_only_answers_started_during_the_load_count_per_path() -> None:
    scrapes = [
        Scrape("/metrics", 99.9, 500.0, 200),  # before t0: the server was idle
        *(Scrape("/metrics", 100.0 + i, float(i + 1), 200) for i in range(20)),
        Scrape("/", 101.0, 150.0, 200),
        Scrape("/", 102.0, 5.0, 0),  # no answer
        Scrape("/live.json", 130.0, 900.0, 200),  # after the load ended
    ]
    answers = summarise_scrapes(scrapes, [(100.0, 120.0)], goal_ms=100.0)
    assert [a.path for a in answers] == ["/metrics", "/"]
    metrics, page = answers
    assert (metrics.count, metrics.failed, metrics.over_goal) == (20, 0, 0)
    assert metrics.p50_ms == pytest.approx(10.5)
    assert metrics.p95_ms == pytest.approx(19.05)
    assert metrics.max_ms == 20.0
    assert (page.count, page.failed, page.over_goal, page.max_ms) == (2, 1, 1, 150.0)


def test_the_rise_is_the_median_of_the_side_by_side_pairs() -> None:
    rounds = [  # round 2 ran in a noisy minute: its pair says +20 %, the others +1 to +3 %
        _round(False, 100.0),
        _round(True, 102.0),
        _round(True, 108.0),
        _round(False, 90.0),
        _round(False, 98.0),
        _round(True, 99.0),
    ]
    rise = cpu_rise(rounds)
    assert rise.pair_pcts == pytest.approx((2.0, 20.0, 99 / 98 * 100 - 100))
    assert rise.pct == pytest.approx(2.0)
    assert (rise.off_us, rise.on_us) == pytest.approx((98.0, 102.0))
    assert rise.medians_pct == pytest.approx(102 / 98 * 100 - 100)
    with pytest.raises(ValueError, match="one with it on"):
        cpu_rise([_round(False, 100.0)])


def test_a_pair_whose_generator_stalled_is_left_out_and_marked() -> None:
    stalled = Round(True, 10_000, 10_000 * 240e-6, 6.0, 1372, 10_006, 0.0, 56.0)
    rounds = [*_pairs(1.0, 2.0, 1.5, 0.5, 2.5), _round(False, 100.0), stalled]
    rise = cpu_rise(rounds)
    assert rise.left_out == 1 and len(rise.pair_pcts) == 5
    assert rise.pct == pytest.approx(1.5) and rise.on_us == pytest.approx(101.5)
    assert "(median of 5 side-by-side pairs (1 left out: drops or errors)" in verdict(
        rise, [_answers(8.0)]
    )
    text = render(rounds, [_answers(8.0)], (3.0, 3.1))
    assert "240 µs (1,667/s) †" in text and "| on | 101.5 µs |" in text
    all_stalled = cpu_rise([_round(False, 100.0), stalled])  # none clean: all count
    assert all_stalled.left_out == 0 and all_stalled.pct == pytest.approx(140.0)


def _answers(max_ms: float, p95_ms: float = 5.0, over: int = 0, failed: int = 0) -> Answers:
    return Answers("/metrics", 30, 1.0, p95_ms, max_ms, over, failed)


def _pairs(*rises_pct: float) -> list[Round]:
    rounds = []
    for pct in rises_pct:
        rounds += [_round(False, 100.0), _round(True, 100.0 + pct)]
    return rounds


def test_the_median_interval_is_the_sign_test_one() -> None:
    assert median_interval([3.0, 1.0, 2.0, 5.0]) == (-math.inf, math.inf)  # 4 cannot reach 90 %
    assert median_interval([5.0, 1.0, 4.0, 2.0, 3.0]) == (1.0, 5.0)  # 1 - 2/32 = 94 %
    assert median_interval([float(i) for i in range(12)]) == (2.0, 9.0)  # 1 - 2 * 79/4096


def test_the_verdict_says_which_goal_is_met_and_when_the_noise_decides_nothing() -> None:
    small = cpu_rise(_pairs(1.0, 2.5, 2.0, 0.5, 1.5))
    good = verdict(small, [_answers(8.0)])
    assert (
        "CPU per request +1.5 % with `--live` (median of 5 side-by-side pairs, 90 % interval "
        "+0.5 to +2.5 %; goal ≤ 3 %): **met**;" in good
    )
    assert "every answer ≤ 100 ms: **met** (0 of 30 over" in good
    large = verdict(cpu_rise(_pairs(4.0, 6.0, 5.0, 3.5, 7.0)), [_answers(8.0)])
    assert "goal ≤ 3 %): **not met**;" in large
    noisy = verdict(cpu_rise(_pairs(-16.0, 12.0, 6.6, 11.3, -5.5, 4.1)), [_answers(8.0)])
    assert "median of 6 side-by-side pairs, 90 % interval -16.0 to +12.0 %" in noisy
    assert "goal ≤ 3 %): **inconclusive** (the interval straddles the goal" in noisy
    two = verdict(cpu_rise(_pairs(1.0, 1.0)), [_answers(8.0)])
    assert "no 90 % interval: fewer than 5 pairs; goal ≤ 3 %): **inconclusive**" in two
    one_slow = verdict(small, [_answers(113.0, over=1)])
    assert "worst p95 5.0 ms (goal ≤ 100 ms): **met**" in one_slow
    assert "every answer ≤ 100 ms: **not met** (1 of 30 over, max 113.0 ms" in one_slow
    assert "(goal ≤ 100 ms): **not met**" in verdict(small, [_answers(8.0, failed=1)])
    assert "(goal ≤ 100 ms): **not met**" in verdict(small, [])  # never scraped: not shown


def test_what_else_used_the_generator_core_comes_from_proc_stat() -> None:
    #                     user nice system idle iowait irq softirq steal guest guest_nice
    before = parse_cpu_line("cpu1 1000 10 500 8000 20 5 5 10 0 0")
    after = parse_cpu_line("cpu1 1600 10 700 8200 20 5 15 20 0 0")
    assert (before.busy, before.steal, before.total) == (1520, 10, 9550)
    assert (after.busy, after.total) == (2330, 10570)
    others, steal = core_shares(before, after, own_cpu_s=5.0, hz=100)  # 500 of the 810 busy
    assert others == pytest.approx(100 * 310 / 1020)
    assert steal == pytest.approx(100 * 10 / 1020)
    assert core_shares(before, after, own_cpu_s=9.0, hz=100)[0] == 0.0  # never below 0


def test_the_section_names_the_command_and_both_sides() -> None:
    rounds = [_round(False, 100.0), _round(True, 101.0), _round(True, 99.0), _round(False, 99.0)]
    text = render(rounds, [_answers(8.0)], (1.0, 1.5))
    assert text.startswith("## Live view (`python -m bench live`)")
    assert "| off | 99.5 µs |" in text and "| on | 100.0 µs |" in text
    assert "Reproduce: `python -m bench live`" in text
    assert "Verdict (issue 15)" in text
    assert "†" not in text  # no round stalled: no mark, no footnote
