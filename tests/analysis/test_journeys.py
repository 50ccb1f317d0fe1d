"""The scenario's own funnel, and how journeys ended per persona, in every report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loadkit.analysis import analyze
from loadkit.analysis.journeys import scenario_funnel
from loadkit.errors import ValidationErrors
from loadkit.report import render_markdown, render_terminal, report_html, verdict_json
from loadkit.results.reader import Run, open_run
from loadkit.results.writer import read_manifest, write_manifest
from loadkit.scenario import load_scenario
from tests.analysis.conftest import MakeRun

REASONS = (("sold out", 0.3), ("just looking", 0.1))


def _with_funnel(make_run: MakeRun, stages: list[dict[str, str]] | None, **fields: object) -> Run:
    run = make_run(**fields)
    manifest = read_manifest(run.path)
    if stages is not None:
        manifest["scenario"]["resolved"] = {"name": "synthetic", "funnel": stages}
    write_manifest(run.path, manifest)
    return open_run(run.path)


def _arrivals(**columns: object) -> pd.DataFrame:
    n = len(next(iter(columns.values())))  # type: ignore[arg-type]
    base = {"arrival_id": np.arange(n), "outcome": ["completed"] * n}
    return pd.DataFrame({**base, **columns})


def test_a_declared_funnel_counts_steps_reached_and_record_marks(make_run: MakeRun) -> None:
    stages = [{"name": "joined", "step": "queue.join"}, {"name": "paid", "record": "order_id"}]
    run = _with_funnel(make_run, stages)
    funnel = analyze(run, []).funnel
    req, arr = run.requests, run.arrivals
    started = int((arr["outcome"] != "dropped").sum())
    joined = req.loc[(req["step"] == "queue.join") & (req["outcome"] == "ok"), "arrival_id"]
    paid = int(arr["order_id"].notna().sum())
    assert funnel["stage"].tolist() == ["arrived", "joined", "paid"]
    assert funnel["visitors"].tolist() == [started, joined.nunique(), paid]


def test_a_list_fact_stage_counts_items_and_skips_missing_values_of_every_kind() -> None:
    """Read back from Parquet, a list column holds arrays, None, NaN or pd.NA for "none":
    ``make demo`` crashed on pd.NA ("object of type 'NAType' has no len()")."""
    held = pd.Series(
        [np.array(["A-1"]), pd.NA, None, np.array([], dtype=object), float("nan")], dtype=object
    )
    arrivals = _arrivals(outcome=["completed"] * 5, seats_held=held, order_id=[None] * 5)
    funnel = scenario_funnel(arrivals, [{"name": "held", "record": "seats_held"}])
    assert funnel["visitors"].tolist() == [5, 1]


def test_a_scenario_without_a_funnel_gets_its_outcomes_never_zeros() -> None:
    arrivals = _arrivals(outcome=["completed", "abandoned", "completed", "dropped"],
                         joined_ns=[None] * 4, admitted_ns=[None] * 4, order_id=[None] * 4)  # fmt: skip
    declared_none = scenario_funnel(arrivals, [])
    older_run = scenario_funnel(arrivals, None)  # no funnel key, and no on-sale facts
    for f in (declared_none, older_run):
        assert f["stage"].tolist() == ["arrived", "completed"]
        assert f["visitors"].tolist() == [3, 2]


def test_a_run_from_before_funnels_keeps_the_onsale_funnel(make_run: MakeRun) -> None:
    funnel = analyze(make_run(), []).funnel
    assert funnel["stage"].tolist() == ["arrived", "joined", "admitted", "held", "paid"]
    assert funnel["visitors"].iloc[-1] > 0


def test_leave_reasons_per_persona_reach_every_report(make_run: MakeRun, tmp_path: Path) -> None:
    run = _with_funnel(make_run, [], leave_reasons=REASONS)
    a = analyze(run, [])
    arr = run.arrivals
    fans = arr[arr["persona"] == "fan"]
    sold_out = int((fans["reason"] == "sold out").sum())
    share = sold_out / int((fans["outcome"] != "dropped").sum())
    row = a.outcomes[(a.outcomes["persona"] == "fan") & (a.outcomes["reason"] == "sold out")]
    assert row["visitors"].tolist() == [sold_out] and row["share"].iloc[0] == pytest.approx(share)
    terminal, md = render_terminal(a), render_markdown(a)
    for text in (terminal, md, report_html(a, {})):
        assert "sold out" in text and "just looking" in text and f"{sold_out:,}" in text
    assert "how journeys ended" in terminal and "### How journeys ended" in md
    verdict = json.loads(json.dumps(verdict_json(a)))
    reasons = {(o["persona"], o["reason"]): o["visitors"] for o in verdict["outcomes"]}
    assert reasons[("fan", "sold out")] == sold_out
    assert [s["stage"] for s in verdict["funnel"]] == ["arrived", "completed"]


def test_funnel_stages_are_checked_against_the_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("""\
personas:
  p:
    steps:
      - {name: checkout, request: GET /}
funnel:
  - step: chekout
  - {name: paid, record: order}
""")  # fmt: skip
    with pytest.raises(ValidationErrors) as info:
        load_scenario(path)
    text = str(info.value)
    assert "s.yaml:6" in text and "funnel step 'chekout' is not a step the scenario defines" in text
    assert "Did you mean 'checkout'?" in text
    assert "s.yaml:7" in text and "funnel record 'order' is not a fact 'record:' sets" in text


@pytest.mark.parametrize("name", ["onsale-demo", "refresh-storm", "bots", "smoke"])
def test_the_demo_scenarios_declare_their_funnel(name: str) -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / f"{name}.yaml")
    assert len(scenario.funnel) >= 3
