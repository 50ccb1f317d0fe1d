"""Percentiles are exact: the same as numpy's on the same records, group by group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.analysis.tables import step_summary
from loadkit.results.frames import grouped_quantiles, request_windows
from tests.analysis.conftest import MakeRun

QS = (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)


def test_grouped_quantiles_match_numpy_on_known_data() -> None:
    values = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 30.0, 20.0])
    codes = np.array([0, 0, 0, 0, 0, 2, 2, 2])
    out = grouped_quantiles(codes, values, 3, (50.0, 95.0, 100.0))
    assert out[0].tolist() == [3.0, pytest.approx(4.8), 5.0]
    assert np.isnan(out[1]).all()  # an empty group has no percentile
    assert out[2].tolist() == [20.0, pytest.approx(29.0), 30.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(0, 1e6, allow_nan=False)), min_size=1, max_size=300
    )
)
def test_grouped_quantiles_equal_numpy_per_group(rows: list[tuple[int, float]]) -> None:
    codes = np.array([r[0] for r in rows])
    values = np.array([r[1] for r in rows])
    out = grouped_quantiles(codes, values, 5, QS)
    for g in range(5):
        mine = values[codes == g]
        if mine.size:
            assert out[g] == pytest.approx(np.percentile(mine, QS), rel=1e-12, abs=1e-9)


def test_step_and_phase_table_matches_numpy(make_run: MakeRun) -> None:
    run = make_run()
    req = run.requests
    steps = step_summary(req, run.phases, 100.0)
    row = steps[(steps["step"] == "checkout") & (steps["phase"] == "spike")].iloc[0]
    part = req[(req["step"] == "checkout") & (req["t_s"] >= 30) & (req["t_s"] < 60)]
    ok = part.loc[part["outcome"] == "ok", "response_ms"].to_numpy()
    assert row["requests"] == len(part)
    assert row["throughput_per_s"] == pytest.approx(len(part) / 30.0)
    for label, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99), ("max_ms", 100)):
        assert row[label] == pytest.approx(np.percentile(ok, q), rel=1e-12)
    whole = steps[(steps["step"] == "all") & (steps["phase"] == "all")].iloc[0]
    assert whole["requests"] == len(req)
    assert whole["p99_ms"] == pytest.approx(np.percentile(req["response_ms"], 99), rel=1e-12)


def test_wider_windows_are_computed_from_records_not_averaged(make_run: MakeRun) -> None:
    req = make_run().requests
    wide = request_windows(req, width_s=10.0, by="step")
    row = wide[(wide["step"] == "seats.hold") & (wide["window_start_s"] == 20.0)].iloc[0]
    part = req[(req["step"] == "seats.hold") & (req["t_s"] >= 20) & (req["t_s"] < 30)]
    assert row["response_p99_ms"] == pytest.approx(np.percentile(part["response_ms"], 99))
    narrow = request_windows(req, width_s=1.0, by="step")
    averaged = narrow[(narrow["step"] == "seats.hold") & narrow["window_start_s"].between(20, 29)]
    assert row["response_p99_ms"] != pytest.approx(averaged["response_p99_ms"].mean())


def test_windows_by_persona_count_every_request(make_run: MakeRun) -> None:
    req = make_run().requests
    by_persona = request_windows(req, width_s=5.0, by="persona")
    assert (
        by_persona.groupby("persona", observed=True)["requests"].sum().to_dict()
        == req["persona"].value_counts().to_dict()
    )
    assert isinstance(by_persona["persona"].dtype, pd.CategoricalDtype)
