"""compare(): the change of a stat between two runs with a seeded block-bootstrap interval."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest

from loadkit.analysis.compare import Change, CompareSettings, Estimator, Statistic, compare

P95 = Statistic(Estimator.QUANTILE, 95.0, "p95")


def synthetic(
    seed: int, seconds: int = 120, per_s: float = 40.0, slower: float = 1.0, wobble: float = 0.15
) -> pd.DataFrame:
    """Latencies of one run: lognormal around 100 ms, times a per-second level shared by every
    request of that second (a queue, a GC pause: requests close in time are not independent)."""
    rng = np.random.default_rng(seed)
    per_second = rng.poisson(per_s, seconds)
    t_s = np.repeat(np.arange(seconds), per_second) + rng.random(per_second.sum())
    level = np.exp(rng.normal(0.0, wobble, seconds))[np.floor(t_s).astype(int)]
    value = rng.lognormal(np.log(100.0), 0.4, t_s.size) * level * slower
    return pd.DataFrame({"t_s": t_s, "value": value})


def test_runs_of_one_distribution_never_fail_a_10_percent_gate_across_many_seeds() -> None:
    changes = [compare(synthetic(2 * s), synthetic(2 * s + 1), P95) for s in range(100)]
    assert all(c.low is not None and c.high is not None for c in changes)
    lows = np.array([c.low for c in changes], dtype=float)
    highs = np.array([c.high for c in changes], dtype=float)
    assert (lows < 0.10).all()  # regression(p95) < 10% would fail on none of them
    # and the interval is informative, not a blanket: it holds the true change (0) about 95%
    # of the time and is narrow enough to see a real slowdown
    assert float(np.mean((lows <= 0) & (highs >= 0))) >= 0.90
    assert float(np.median(highs - lows)) < 0.15


def test_noisy_short_runs_flap_on_a_bare_ratio_but_not_on_the_interval() -> None:
    """One minute at 10 requests/s with strong per-second swings: the bare ratio of the two
    p95s (what regression() judged before) is beyond +10% for about one pair in six."""
    changes = [
        compare(
            synthetic(2 * s, seconds=60, per_s=10.0, wobble=0.3),
            synthetic(2 * s + 1, seconds=60, per_s=10.0, wobble=0.3),
            P95,
        )
        for s in range(100)
    ]
    bare = sum(c.change is not None and c.change >= 0.10 for c in changes)
    assert bare >= 10
    assert not any(c.low is not None and c.low >= 0.10 for c in changes)


@pytest.mark.parametrize("seed", range(5))
def test_a_real_30_percent_slowdown_is_shown(seed: int) -> None:
    c = compare(synthetic(100 + seed, slower=1.3), synthetic(200 + seed), P95)
    assert c.low is not None and c.high is not None
    assert c.low > 0.10  # the whole interval is beyond +10%: regression(p95) < 10% fails
    assert c.low <= c.change <= c.high if c.change is not None else False
    assert c.change == pytest.approx(0.3, abs=0.08)


def test_the_point_estimate_is_exact() -> None:
    now, base = synthetic(1, slower=1.2), synthetic(2)
    c = compare(now, base, P95)
    assert c.now == np.percentile(now["value"], 95) and c.base == np.percentile(base["value"], 95)
    assert c.change == pytest.approx(c.now / c.base - 1)
    assert (c.samples_now, c.samples_base) == (len(now), len(base))


def test_seeded_and_deterministic() -> None:
    now, base = synthetic(3), synthetic(4)
    assert compare(now, base, P95) == compare(now, base, P95)
    other = compare(now, base, P95, CompareSettings(seed=1))
    assert other.change == compare(now, base, P95).change


@pytest.mark.parametrize(
    ("now", "base", "stat", "why"),
    [
        (synthetic(1, seconds=3), synthetic(2, seconds=3), P95, "windows with data, need 10"),
        (synthetic(1, per_s=1.0), synthetic(2, per_s=1.0), P95, "a p95 needs 200"),
        (synthetic(1), synthetic(2), Statistic(Estimator.QUANTILE, 100.0, "max"), "an extreme"),
        (
            synthetic(1).assign(value=1.0),
            synthetic(2).assign(value=0.0),
            Statistic(Estimator.MEAN, None, "error_rate"),
            "baseline's error_rate is 0",
        ),
    ],
    ids=["too-short", "too-few-samples", "max", "baseline-zero"],
)
def test_too_little_data_says_not_enough_evidence(
    now: pd.DataFrame, base: pd.DataFrame, stat: Statistic, why: str
) -> None:
    c = compare(now, base, stat)
    assert c.low is None and c.high is None and not c.has_interval
    assert c.reason is not None and why in c.reason


def test_error_rate_and_rate_changes() -> None:
    rng = np.random.default_rng(5)
    base = synthetic(6).assign(value=(rng.random(len(synthetic(6))) < 0.02).astype(float))
    now = synthetic(7).assign(value=(rng.random(len(synthetic(7))) < 0.04).astype(float))
    errors = compare(now, base, Statistic(Estimator.MEAN, None, "error_rate"))
    assert errors.low is not None and errors.low > 0.3  # the error rate doubled
    ones = synthetic(8, per_s=80.0).assign(value=1.0)
    rate = compare(ones, synthetic(9).assign(value=1.0), Statistic(Estimator.TOTAL, None, "rate"))
    assert rate.change == pytest.approx(1.0, abs=0.1)
    assert rate.now == pytest.approx(len(ones) / 120, rel=0.01)  # per second of the span
    assert rate.low is not None and rate.high is not None and 0.7 < rate.low < 1.0 < rate.high


def test_change_text() -> None:
    c = compare(synthetic(10, slower=1.3), synthetic(11), P95)
    assert re.fullmatch(r"p95 \+\d+% \(\+\d+%…\+\d+%\)", c.text()), c.text()
    small = Change(P95, 1.0, 1.0, 0.012, -0.021, 0.05, 0.95, 60, 2.0, 10, 10)
    assert small.text() == "p95 +1.2% (−2.1%…+5.0%)"


def test_ten_million_values_need_one_pass_and_small_matrices() -> None:
    """Not a timing test (see the report): the resampling works on per-window summaries, so
    its matrices are windows × bins whatever the request count."""
    rng = np.random.default_rng(0)
    n = 200_000
    frame = pd.DataFrame({"t_s": rng.random(n) * 600, "value": rng.lognormal(4, 0.5, n)})
    c = compare(frame, frame, P95)
    assert c.windows == 60 and c.window_s == 10.0  # a 10-minute run: 60 windows of 10 s
    assert c.low is not None and c.high is not None and c.low <= 0 <= c.high


@pytest.mark.parametrize("q", [50.0, 90.0, 99.0])
def test_narrowing_the_histogram_to_the_percentile_band_changes_nothing(
    q: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resamples read only the columns a mix of windows can put the percentile in."""
    module = sys.modules["loadkit.analysis.compare"]
    stat = Statistic(Estimator.QUANTILE, q, f"p{q:g}")
    pairs = [
        (synthetic(s, per_s=5 + s), synthetic(s + 50, per_s=5 + s, slower=1.1)) for s in (1, 7)
    ]
    banded = [compare(a, b, stat) for a, b in pairs]

    def every_used_column(
        stat: Statistic, parts: list[np.ndarray], bins: object
    ) -> tuple[list[np.ndarray], np.ndarray]:
        used = np.flatnonzero(parts[0].sum(axis=0) + parts[1].sum(axis=0) > 0)
        return [p[:, used] for p in parts], bins.centre(used)  # type: ignore[attr-defined]

    monkeypatch.setattr(module, "_quantile_band", every_used_column)
    assert [compare(a, b, stat) for a, b in pairs] == banded
