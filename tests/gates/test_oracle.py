"""loadkit's gate engine against a reference evaluator (tests/gates/oracle.py), on generated
runs and gates: empty windows, gaps, single samples, phases at the edges, every window rule.

Thousands of cases: 450 generated runs × 4 gates in memory (1,800 gates), plus 40 generated
synthetic results directories × 4 gates through the whole analyzer. (Run once with 1,500 × 3
while writing the engine: no disagreement.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadkit.analysis import analyze
from loadkit.gates import GateResult, Records, evaluate_threshold, parse_threshold
from loadkit.profiles import Phase
from loadkit.results.reader import open_run
from loadkit.results.synthetic import ErrorBurst, LatencyBreach, SyntheticRun, write_synthetic_run
from tests.gates.oracle import Expected, expected

STEPS = ("landing", "queue.poll", "checkout")
OUTCOMES = ("ok", "ok", "ok", "http_error", "timeout")

# times on a 0.05 s grid, so rows land exactly on window and phase edges
grid = st.integers(min_value=0, max_value=400).map(lambda k: k * 0.05)


@dataclass(frozen=True)
class Run:
    requests: pd.DataFrame
    arrivals: pd.DataFrame
    phases: tuple[Phase, ...]

    def records(self) -> Records:
        return Records(self.requests, self.arrivals, self.phases, 0.0, 20.0)


@st.composite
def runs(draw: st.DrawFn) -> Run:
    n = draw(st.integers(min_value=1, max_value=40))
    rows = draw(
        st.lists(
            st.tuples(
                grid,
                st.sampled_from(STEPS),
                st.sampled_from(OUTCOMES),
                st.sampled_from([1.0, 5.0, 5.0, 40.0, 120.0, 900.0, 2500.0]),
            ),
            min_size=n,
            max_size=n,
        )
    )
    frame = pd.DataFrame(rows, columns=["t_s", "step", "outcome", "response_ms"])
    frame["step"] = frame["step"].astype("category")
    frame["service_ms"] = frame["response_ms"] * 0.5
    dropped = draw(st.lists(grid, max_size=4))
    arrivals = pd.DataFrame(
        {
            "t_s": [*frame["t_s"], *dropped],
            "outcome": ["completed"] * len(frame) + ["dropped"] * len(dropped),
            "persona": "fan",
        }
    )
    edges = sorted(draw(st.lists(grid, min_size=0, max_size=4, unique=True)))
    names = ("build-up", "spike", "tail")
    phases = tuple(Phase(names[i], a, b) for i, (a, b) in enumerate(pairwise(edges)))
    return Run(frame, arrivals, phases)


@st.composite
def gates(draw: st.DrawFn, run: Run) -> str:
    stat, limit = draw(
        st.sampled_from(
            [
                ("p(95)", st.sampled_from(["5ms", "100ms", "1s"])),
                ("p(50)", st.sampled_from(["5ms", "1s"])),
                ("max", st.sampled_from(["1s", "3s"])),
                ("min", st.sampled_from(["1ms", "5ms"])),
                ("avg", st.sampled_from(["50ms", "1s"])),
                ("service_p(90)", st.sampled_from(["10ms", "1s"])),
                ("error_rate", st.sampled_from(["0%", "10%", "50%"])),
                ("rate", st.sampled_from(["0.5/s", "2/s", "10/s"])),
                ("count", st.sampled_from(["0", "1", "3"])),
            ]
        )
    )
    selector = draw(
        st.sampled_from(
            ["", "", "{step=checkout}", "{step=queue.*}", "{step=nope*}", "{outcome=timeout}"]
        )
    )
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    text = f"{stat}{selector} {op} {draw(limit)}"
    window = draw(st.sampled_from(["", "", "over 1s", "over 0.5s", "over 2s", "over 5s"]))
    rule = draw(
        st.sampled_from(["", "for 1s", "for 2s", "in 50% of windows", "in 100% of windows"])
    )
    if window or rule:
        text += f" {window} {rule}"
    phase_names = [p.name for p in run.phases]
    span = draw(
        st.sampled_from(
            ["", "", "during drain", "from t0+2s to t0+12s", "from t0+15s to t0+30s"]
            + [f"during {name}" for name in phase_names]
        )
    )
    floor = draw(st.sampled_from(["", "", "min 0 samples", "min 1 samples", "min 3 samples"]))
    warn = draw(st.sampled_from(["", "", ", as warn"]))
    return " ".join(f"{text} {span} {floor}".split()) + warn


def _compare(got: GateResult, want: Expected, text: str) -> None:
    assert got.status.value == want.status, (text, got.reason, got.observed, want)
    if want.observed is None:
        assert got.observed is None, text
        assert got.reason, text  # every no-data gate says why
        return
    assert got.observed is not None
    assert math.isclose(got.observed, want.observed, rel_tol=1e-9, abs_tol=1e-9), (
        text,
        got.observed,
        want,
    )
    assert got.samples == want.samples, (text, got.samples, want)


@settings(max_examples=450, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_engine_agrees_with_the_reference_on_generated_runs(data: st.DataObject) -> None:
    run = data.draw(runs())
    records = run.records()
    for _ in range(4):
        text = data.draw(gates(run))
        th = parse_threshold(text)
        want = expected(th, run.requests, run.arrivals, run.phases)
        _compare(evaluate_threshold(th, records), want, text)


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oracle-runs")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(
    seed=st.integers(0, 10_000),
    gap=st.tuples(grid, st.sampled_from([0.0, 1.0, 3.0, 7.5])),
    breach=st.tuples(grid, st.sampled_from([0.5, 2.0, 6.0])),
    errors=st.sampled_from([0.0, 0.3, 1.0]),
    data=st.data(),
)
def test_the_analyzer_agrees_with_the_reference_on_synthetic_runs(
    run_dirs: Path,
    seed: int,
    gap: tuple[float, float],
    breach: tuple[float, float],
    errors: float,
    data: st.DataObject,
) -> None:
    spec = SyntheticRun(
        run_id=f"r{seed}",
        seed=seed,
        duration_s=20.0,
        onsale_offset_s=5.0,
        arrivals_per_s=3.0,
        gaps=((gap[0], gap[0] + gap[1]),),
        breaches=(LatencyBreach("checkout", breach[0], breach[0] + breach[1], 1500.0),),
        error_bursts=(ErrorBurst("queue.poll", breach[0], breach[0] + 3.0, errors),),
        drop_fraction=0.02,
    )
    run = open_run(write_synthetic_run(run_dirs / f"{seed}-{gap}-{breach}-{errors}", spec))
    req = run.requests.assign(step=lambda f: f["step"].astype(str))
    arr = run.arrivals.assign(outcome=lambda f: f["outcome"].astype(str))
    frame = Run(req, arr, run.phases)
    texts = [data.draw(gates(frame)) for _ in range(4)]
    analysis = analyze(run, [parse_threshold(t) for t in texts])
    for text, got in zip(texts, analysis.gates, strict=True):
        _compare(got, expected(parse_threshold(text), req, arr, run.phases, 5.0), text)
    assert np.isfinite(analysis.exit_code)
