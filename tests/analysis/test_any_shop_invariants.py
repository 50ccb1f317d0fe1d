"""Invariants for any shop: not applicable when the records cannot show them, and a quota of
tickets for shops that sell quantities rather than numbered seats."""

from __future__ import annotations

import pytest

from loadkit.analysis import GateStatus, Verdict
from loadkit.errors import InputError
from loadkit.gates import parse_threshold
from loadkit.results.synthetic import Funnel
from tests.analysis.conftest import Analyze, MakeRun


def test_no_oversell_without_seat_ids_is_not_applicable_never_passed(check: Analyze) -> None:
    a = check(["invariant(no_oversell)"], seat_ids=False)
    gate = a.gates[0]
    assert gate.status is GateStatus.NO_DATA
    assert gate.observed_text.startswith("not applicable: no visitor recorded seat ids")
    assert "invariant(quota, max=N)" in gate.observed_text
    assert a.verdict is Verdict.INCONCLUSIVE and a.exit_code == 3


def test_admission_invariants_without_admissions_are_not_applicable(check: Analyze) -> None:
    a = check(["invariant(admission_rate, max=600/min)", "invariant(fifo)"],
              funnel=Funnel(joined=0.9, admitted=0.0, held=0.0, paid=0.0))  # fmt: skip
    for gate in a.gates:
        assert gate.status is GateStatus.NO_DATA
        assert "not applicable: no visitor recorded an admission" in gate.observed_text


def test_no_shop_without_token_when_nobody_tried_is_not_applicable(check: Analyze) -> None:
    gate = check(["invariant(no_shop_without_token)"], token_probes=False).gates[0]
    assert gate.status is GateStatus.NO_DATA
    assert "not applicable: no journey tried the shop without a token" in gate.observed_text
    tried = check(["invariant(no_shop_without_token)"], shop_ok_without_token=3).gates[0]
    assert tried.status is GateStatus.FAILED and tried.observed == 3


def test_quota_counts_recorded_quantities(check: Analyze, make_run: MakeRun) -> None:
    run = make_run(seat_ids=False, tickets_per_order=3)
    sold = int(run.arrivals["tickets_bought"].fillna(0).sum())
    assert sold > 0
    a = check([f"invariant(quota, max={sold})", f"invariant(quota, max={sold - 1})"], run=run)
    assert [g.status for g in a.gates] == [GateStatus.PASSED, GateStatus.FAILED]
    assert a.gates[1].observed == sold and a.gates[1].observed_text == f"{sold:,} tickets sold"


def test_quota_falls_back_to_seats_and_is_not_applicable_without_purchases(
    check: Analyze, make_run: MakeRun
) -> None:
    run = make_run()
    seats = int(run.arrivals["seats_bought"].list.len().fillna(0).sum())
    assert check([f"invariant(quota, max={seats})"], run=run).gates[0].observed == seats
    gate = check(["invariant(quota, max=10)"], seat_ids=False).gates[0]
    assert gate.status is GateStatus.NO_DATA and "no visitor recorded a purchase" in gate.reason


def test_quota_needs_its_number() -> None:
    with pytest.raises(InputError, match="quota needs the number of tickets on sale"):
        parse_threshold("invariant(quota)")
