"""A CI job that reads junit.xml or verdict.json sees what the exit code says."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import junitparser
import pytest

from loadkit.results.schema import RunStatus
from loadkit.results.synthetic import LatencyBreach, StepSpec, SyntheticRun, write_synthetic_run
from loadkit.scenario import load_scenario
from tests.test_cli import SCENARIO, run_cli


def _run(tmp_path: Path, name: str = "run", **fields: Any) -> Path:
    fields.setdefault("duration_s", 40.0)
    fields.setdefault("arrivals_per_s", 5.0)
    return write_synthetic_run(tmp_path / name, SyntheticRun(**fields))


def _junit(run: Path) -> tuple[junitparser.TestSuite, list[junitparser.TestCase]]:
    xml = junitparser.JUnitXml.fromfile(str(run / "analysis" / "junit.xml"))
    suite = next(iter(xml))
    return suite, list(suite)


@pytest.mark.parametrize(
    ("fields", "code", "kind", "why"),
    [
        ({"drop_fraction": 0.2}, 3, "RunInvalid", "arrivals were dropped"),
        ({"thresholds": ("p(95) < 1s min 100000 samples",)}, 3, "RunInconclusive", "too little"),
        ({"status": RunStatus.ABORTED}, 130, "RunAborted", "the run was aborted"),
        (
            {"breaches": (LatencyBreach("checkout", 0, 60, 2000.0),)},
            1,
            "RunFailed",
            "p(95){step=checkout} < 800ms",
        ),
    ],
)
def test_a_run_that_did_not_pass_turns_junit_red_with_the_reasons(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fields: dict[str, Any],
    code: int,
    kind: str,
    why: str,
) -> None:
    fields.setdefault("thresholds", ("error_rate < 100%", "p(95){step=checkout} < 800ms"))
    run = _run(tmp_path, **fields)
    assert run_cli(capsys, "analyze", str(run))[0] == code
    suite, cases = _junit(run)
    assert int(suite.failures) + int(suite.errors) >= 1
    verdict = cases[-1]
    assert verdict.name == "verdict"
    result = verdict.result[0]
    assert result.type == kind
    assert why in (result.text or "")


def test_a_passing_run_has_a_green_verdict_case(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _run(tmp_path, thresholds=("error_rate < 1%",))
    assert run_cli(capsys, "analyze", str(run))[0] == 0
    suite, cases = _junit(run)
    assert (int(suite.tests), int(suite.failures), int(suite.errors)) == (2, 0, 0)
    assert [c.name for c in cases] == ["error_rate < 1%", "verdict"]
    assert not cases[-1].result


def _from_scenario(tmp_path: Path, **fields: Any) -> Path:
    """A synthetic run whose manifest names a copy of the shipped smoke scenario."""
    scenario = tmp_path / "smoke.yaml"
    shutil.copy(SCENARIO, scenario)
    loaded = load_scenario(scenario)
    run = _run(tmp_path, thresholds=tuple(s.text for s in loaded.thresholds), **fields)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["scenario"] = {"path": str(scenario), "sha256": loaded.sha256, "name": "smoke"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_verdict_json_gates_carry_their_own_file_line_col_and_samples(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _from_scenario(tmp_path)
    extra = tmp_path / "gates.txt"
    extra.write_text("# CI gates\n  p(99){step=landing} < 2s over 10s\n")
    assert run_cli(capsys, "analyze", str(run), "-t", str(extra))[0] == 0
    doc = json.loads((run / "analysis" / "verdict.json").read_text())
    where = {g["text"]: g["location"] for g in doc["gates"]}
    scenario = tmp_path / "smoke.yaml"
    lines = scenario.read_text().splitlines()
    row = next(i for i, ln in enumerate(lines, 1) if "p(95){step=landing} < 1s" in ln)
    assert where["p(95){step=landing} < 1s"] == f"{scenario}:{row}:5"
    assert where["p(99){step=landing} < 2s over 10s"] == f"{extra}:2:3"
    samples = {g["text"]: g["samples"] for g in doc["gates"]}
    assert samples["p(95){step=landing} < 1s"] == 200  # 40 s × 5 arrivals/s, one landing each


def test_a_thresholds_file_given_to_run_keeps_its_lines_when_analyzed_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`loadkit run -t gates.txt`, then `loadkit analyze RUN` alone (the manifest names the
    file and its hash): the gate still points at gates.txt:2:3 while the file is unchanged,
    and at the manifest once it changed."""
    extra = tmp_path / "gates.txt"
    extra.write_text("# CI gates\n  p(99){step=landing} < 2s over 10s\n")
    text = "p(99){step=landing} < 2s over 10s"
    run = _from_scenario(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["thresholds"].append(text)
    digest = hashlib.sha256(extra.read_bytes()).hexdigest()
    manifest["thresholds_file"] = {"path": str(extra), "sha256": digest}
    (run / "manifest.json").write_text(json.dumps(manifest))

    def where() -> str:
        assert run_cli(capsys, "analyze", str(run))[0] == 0
        doc = json.loads((run / "analysis" / "verdict.json").read_text())
        return str(next(g["location"] for g in doc["gates"] if g["text"] == text))

    assert where() == f"{extra}:2:3"
    extra.write_text("# CI gates, edited since the run\n\n" + text + "\n")
    assert where().startswith(str(run / "manifest.json"))


def test_a_step_the_scenario_defines_but_nobody_reached_is_no_data_everywhere(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    steps = (StepSpec("landing", 40.0, 0.0), StepSpec("queue.join", 60.0, 1.0, "POST"))
    run = _from_scenario(tmp_path, steps=steps)  # nobody got as far as queue.poll
    extra = tmp_path / "gates.txt"
    extra.write_text("rate{step=queue.poll} < 100/s\n")
    code, out, _ = run_cli(capsys, "analyze", str(run), "-t", str(extra))
    assert code == 3
    why = "no record has step 'queue.poll'"
    assert why in out
    assert why in (run / "analysis" / "summary.md").read_text()
    doc = json.loads((run / "analysis" / "verdict.json").read_text())
    gate = next(g for g in doc["gates"] if g["text"] == "rate{step=queue.poll} < 100/s")
    assert gate["status"] == "no data" and why in gate["no_data_reason"]
    assert any(why in r for r in doc["reasons"])


def test_analyze_refuses_a_step_the_run_s_scenario_does_not_define(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _from_scenario(tmp_path)
    extra = tmp_path / "gates.txt"
    extra.write_text("p(95){step=checkout} < 1s\n")  # the records have it, smoke.yaml does not
    code, _, err = run_cli(capsys, "analyze", str(run), "-t", str(extra))
    assert code == 2
    assert f"{extra}:1:12: threshold names step 'checkout', which the scenario" in err
