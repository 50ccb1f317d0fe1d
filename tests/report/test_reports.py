"""What the reports say: terminal, summary.md, verdict.json, junit.xml, report.html."""

from __future__ import annotations

import json
import re
from pathlib import Path

import junitparser

from loadkit.analysis import Analysis
from loadkit.report import render_terminal

Analysed = tuple[Analysis, Path]


def test_terminal_puts_the_verdict_first_then_gates_and_steps(analysed: Analysed) -> None:
    text = render_terminal(analysed[0])
    lines = text.splitlines()
    assert lines[1] == "verdict: FAILED (exit 1)"
    assert re.search(
        r"FAIL +p\(95\)\{step=checkout\} < 800ms for 20s +worst 2.00s; "
        r"longest breach 30s +\d[\d,]* +40s–70s",
        text,
    )
    assert "NO DATA  p(99){step=landing} < 1s over 1s min 1000 samples" in text
    assert "WARN" in text
    assert re.search(r"checkout\s+900\s+0\s+0%\s+10.0/s", text), text
    assert "steps, phase spike" in text
    assert max(len(line) for line in lines) <= 120


def test_write_reports_writes_every_file(analysed: Analysed, reports: dict[str, Path]) -> None:
    run_dir, paths = analysed[1], reports
    for name in (
        "summary.md",
        "verdict.json",
        "junit.xml",
        "report.html",
        "windows.parquet",
        "plots/latency.png",
        "plots/throughput.png",
        "plots/hdr.png",
        "plots/funnel.png",
        "plots/queue_wait.png",
        "plots/generator.png",
        "plots/distribution.png",
        "plots/knee.png",
    ):
        assert paths[name] == run_dir / "analysis" / name
        assert paths[name].stat().st_size > 0
    assert paths["plots/latency.png"].read_bytes().startswith(b"\x89PNG")


def test_summary_md_verdict_first_details_folded(reports: dict[str, Path]) -> None:
    text = reports["summary.md"].read_text()
    first = text.splitlines()[0]
    assert first == "## ❌ loadkit: **FAILED** (exit 1)"
    assert "| ❌ | `p(95){step=checkout} < 800ms for 20s` | worst 2.00s; longest breach 30s" in text
    assert "| 40s–70s |" in text
    assert "<details>\n<summary>Steps (whole run)</summary>" in text
    assert text.index("### Gates") < text.index("<details>")


def test_verdict_json_keys_are_stable(reports: dict[str, Path]) -> None:
    doc = json.loads(reports["verdict.json"].read_text())
    assert {"verdict", "exit_code", "reasons", "gates", "validity", "run_id"} <= set(doc)
    assert (doc["verdict"], doc["exit_code"], doc["run_id"]) == ("failed", 1, "synthetic")
    gate = doc["gates"][0]
    assert gate["status"] == "failed" and gate["observed"] == 2000.0
    assert gate["breaches"] == [{"start_s": 40.0, "end_s": 70.0, "worst": 2000.0}]
    assert [g["status"] for g in doc["gates"]] == ["failed", "passed", "no data", "warn", "passed"]
    assert doc["validity"]["valid"] is True


def test_junit_has_one_case_per_gate_then_the_verdict(
    analysed: Analysed, reports: dict[str, Path]
) -> None:
    analysis = analysed[0]
    xml = junitparser.JUnitXml.fromfile(str(reports["junit.xml"]))
    cases = [case for suite in xml for case in suite]
    assert [c.name for c in cases] == [*(g.text for g in analysis.gates), "verdict"]
    outcomes = [type(c.result[0]).__name__ if c.result else "passed" for c in cases]
    assert outcomes == ["Failure", "passed", "Error", "passed", "passed", "Failure"]
    assert "observed worst 2.00s" in cases[0].result[0].message
    assert "no data: no 1s window has 1000 samples" in cases[2].result[0].message
    assert cases[5].result[0].message == "failed (exit 1)"


def test_report_html_is_self_contained(reports: dict[str, Path]) -> None:
    html = reports["report.html"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html
    assert html.count("src='data:image/png;base64,") == 8
    assert "FAILED (exit 1)" in html


def test_baseline_comparison_is_shown(tmp_path: Path) -> None:
    from loadkit.analysis import analyze
    from loadkit.report import render_markdown
    from loadkit.results.reader import open_run
    from loadkit.results.synthetic import LatencyBreach, SyntheticRun, write_synthetic_run

    base = open_run(write_synthetic_run(tmp_path / "a", SyntheticRun(duration_s=30)))
    slow = SyntheticRun(duration_s=30, breaches=(LatencyBreach("checkout", 0, 40, 900.0),))
    now = open_run(write_synthetic_run(tmp_path / "b", slow))
    analysis = analyze(now, [], baseline=base)
    text = render_terminal(analysis)
    assert "compared with the baseline" in text
    assert re.search(r"checkout\s+\S+\s+900ms\s+\+\d+", text)
    assert "<summary>Compared with the baseline</summary>" in render_markdown(analysis)
