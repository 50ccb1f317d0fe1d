"""The fast paths of the numeric core give exactly numpy's answers (sorting, percentiles, FIFO)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.analysis.invariants import fifo_inversion_rate
from loadkit.results.frames import Ranked, grouped_quantiles, request_windows

QS = (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)


def _assert_ranked(values: np.ndarray) -> None:
    ranked = Ranked.of(values)
    assert np.array_equal(ranked.sorted_values, np.sort(values), equal_nan=True)
    assert np.array_equal(ranked.sorted_values[ranked.rank], values, equal_nan=True)
    assert np.array_equal(np.sort(ranked.rank), np.arange(values.size))


def test_values_that_differ_only_in_their_last_bits_are_sorted_exactly() -> None:
    # the sort packs leading bits with positions: these values tie on their leading bits
    rng = np.random.default_rng(7)
    values = 1.0 + rng.integers(0, 50, 5000) * np.finfo(float).eps
    _assert_ranked(values)
    _assert_ranked(values[::-1].copy())


def test_negatives_zeros_infinities_and_nan_sort_like_numpy() -> None:
    values = np.array([3.5, -0.0, np.nan, -np.inf, 0.0, -2.0, np.inf, -np.nan, 1e-300, -1e300])
    _assert_ranked(values)
    ranked = Ranked.of(values)
    assert np.isnan(ranked.sorted_values[-2:]).all()  # NaN last, as np.sort puts it
    assert ranked.sorted_values[0] == -np.inf


def test_empty_and_single_value() -> None:
    _assert_ranked(np.array([], dtype=float))
    _assert_ranked(np.array([42.0]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=400))
def test_ranked_sorts_any_floats_like_numpy(values: list[float]) -> None:
    _assert_ranked(np.array(values, dtype=float))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), min_size=1, max_size=300),
    st.floats(1e-3, 1e4),
)
def test_grouped_percentiles_of_values_ulps_apart_match_numpy(
    rows: list[tuple[int, int]], scale: float
) -> None:
    # many values a few ulps apart: the hardest case for the packed sort
    codes = np.array([r[0] for r in rows])
    values = scale * (1.0 + np.array([r[1] for r in rows]) * np.finfo(float).eps)
    out = grouped_quantiles(codes, values, 4, QS)
    for g in range(4):
        mine = values[codes == g]
        if mine.size:
            assert (out[g, 0], out[g, -1]) == (mine.min(), mine.max())  # exact: read, not mixed
            assert out[g] == pytest.approx(np.percentile(mine, QS), rel=1e-15)


def test_window_outcome_counts_leave_a_missing_outcome_out() -> None:
    requests = pd.DataFrame(
        {
            "t_s": [0.1, 0.2, 0.3, 1.5, 1.6],
            "step": pd.Categorical(["a", "a", "a", "a", "b"]),
            "outcome": pd.Categorical(["ok", "timeout", None, "ok", "http_error"]),
            "response_ms": [10.0, 20.0, 30.0, 40.0, 50.0],
            "service_ms": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    out = request_windows(requests, width_s=1.0, by="step")
    first = out.iloc[0]
    assert (first["step"], first["window_start_s"]) == ("a", 0.0)
    assert (first["requests"], first["ok"], first["timeout"], first["http_error"]) == (3, 1, 1, 0)
    assert first["response_p50_ms"] == 10.0  # ok requests only
    assert out["http_error"].tolist() == [0, 0, 1]
    assert out["connection_error"].tolist() == [0, 0, 0]


def test_fifo_orders_by_join_then_queue_position_with_missing_positions_last() -> None:
    arrivals = pd.DataFrame(
        {
            "joined_ns": pd.array([100, 100, 100, 200, 50, None], dtype="Int64"),
            "admitted_ns": pd.array([30, 20, 10, 40, 1, 5], dtype="Int64"),
            "queue_position": pd.array([None, 2, 1, 3, 0, 9], dtype="Int64"),
        }
    )
    # on-sale at 60 leaves out the visitor who joined at 50 and the one who never joined;
    # join order: (100, pos 1) adm 10, (100, pos 2) adm 20, (100, no pos) adm 30, (200) adm 40
    assert fifo_inversion_rate(arrivals, onsale_ns=60) == (0.0, 0)
    arrivals.loc[3, "admitted_ns"] = 25  # admitted before the visitor ahead of it
    assert fifo_inversion_rate(arrivals, onsale_ns=60) == (1 / 3, 1)
    assert fifo_inversion_rate(arrivals, onsale_ns=60, slack_s=1.0) == (0.0, 0)
    assert np.isnan(fifo_inversion_rate(arrivals, onsale_ns=150)[0])
