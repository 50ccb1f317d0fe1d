"""Client-side invariants on synthetic records with seeded violations."""

from __future__ import annotations

import pytest

from loadkit.analysis import GateStatus
from tests.analysis.conftest import Analyze

ALL = [
    "invariant(no_oversell)",
    "invariant(no_shop_without_token)",
    "invariant(admission_rate, max=1200/min)",
    "invariant(fifo)",
    "invariant(retry_amplification, max=1.5)",
]


def test_a_clean_run_holds_every_invariant(check: Analyze) -> None:
    a = check(ALL)
    assert [g.status for g in a.gates] == [GateStatus.PASSED] * 5
    assert a.exit_code == 0


def test_a_seat_bought_twice(check: Analyze) -> None:
    gate = check(["invariant(no_oversell)"], oversell_pairs=1).gates[0]
    assert gate.status is GateStatus.FAILED
    assert gate.observed == 1
    assert "2 buyers" in gate.detail


def test_shop_success_without_token(check: Analyze) -> None:
    gate = check(["invariant(no_shop_without_token)"], shop_ok_without_token=3).gates[0]
    assert gate.status is GateStatus.FAILED and gate.observed == 3


@pytest.mark.parametrize(
    ("inversions", "status"), [(5, GateStatus.PASSED), (15, GateStatus.FAILED)]
)
def test_fifo_inversion_rate_against_1_percent(
    check: Analyze, inversions: int, status: GateStatus
) -> None:
    # 1,000 arrivals, 80 % admitted; about 560 joined after the on-sale (t=30 s)
    gate = check(["invariant(fifo)"], fifo_inversions=inversions).gates[0]
    assert gate.status is status
    assert gate.observed == pytest.approx(inversions / (gate.samples and 559), rel=0.05)


def test_fifo_inversion_rate_of_2_percent(check: Analyze) -> None:
    gate = check(["invariant(fifo, max=1%)"], fifo_inversions=11).gates[0]
    assert gate.observed == pytest.approx(0.02, abs=0.001)
    assert gate.status is GateStatus.FAILED
    assert (
        check(["invariant(fifo, max=3%)"], fifo_inversions=11).gates[0].status is GateStatus.PASSED
    )


def test_admission_rate_above_the_declared_rate(check: Analyze) -> None:
    gate = check(["invariant(admission_rate, max=300/min)"], admission_rate_per_min=600.0).gates[0]
    assert gate.status is GateStatus.FAILED
    assert gate.observed == 600


def test_retry_amplification(check: Analyze) -> None:
    gate = check(["invariant(retry_amplification, max=1.05)"], retry_fraction=0.1).gates[0]
    assert gate.observed == pytest.approx(1.1)
    assert gate.status is GateStatus.FAILED
