"""Gating why visitors left and what the scenario labelled: share{reason=...}, count{label=...}."""

from __future__ import annotations

import pytest

from loadkit.analysis import GateStatus
from loadkit.errors import InputError
from loadkit.gates import parse_threshold
from tests.analysis.conftest import Analyze, MakeRun

REASONS = (("sold out", 0.3), ("just looking", 0.1))


def test_share_of_a_leave_reason_is_of_started_arrivals(check: Analyze, make_run: MakeRun) -> None:
    run = make_run(leave_reasons=REASONS, drop_fraction=0.1)
    arr = run.arrivals
    started = int((arr["outcome"] != "dropped").sum())
    sold_out = int((arr["reason"] == "sold out").sum())
    a = check(['share{reason="sold out*"} < 50%', "share{reason=just*} > 20%",
               f'count{{reason="sold out"}} == {sold_out}'], run=run)  # fmt: skip
    assert a.gates[0].observed == pytest.approx(sold_out / started)
    assert a.gates[0].observed == pytest.approx(0.3, abs=0.01)
    assert [g.status for g in a.gates] == [GateStatus.PASSED, GateStatus.FAILED, GateStatus.PASSED]


def test_share_narrows_to_a_persona_and_reads_outcomes(check: Analyze, make_run: MakeRun) -> None:
    run = make_run(leave_reasons=REASONS)
    arr = run.arrivals
    fans = arr[arr["persona"] == "fan"]
    want = float((fans["outcome"] == "abandoned").mean())
    a = check(["share{persona=fan, outcome=abandoned} == 40%"], run=run)
    assert a.gates[0].observed == pytest.approx(want)


def test_a_label_selector_counts_labelled_requests(check: Analyze) -> None:
    a = check(["count{label=csrf_refused} == 0", "count{hop=0} > 0"])
    assert [g.status for g in a.gates] == [GateStatus.PASSED, GateStatus.PASSED]


def test_share_takes_a_percentage_and_reason_is_a_known_key() -> None:
    with pytest.raises(InputError, match="percentage"):
        parse_threshold("share{reason=x} < 5/s")
    with pytest.raises(InputError, match="unknown selector key 'reasn'"):
        parse_threshold("share{reasn=x} < 5%")
