"""The report an SRE reads: failures table, response-time distribution, the knee view, the
arrival rate over the latency plot, coloured status cells, a baseline overlay, summary.md
ready for a CI job summary. On synthetic runs with known failures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from loadkit.analysis import Analysis, analyze
from loadkit.gates import parse_threshold
from loadkit.report import render_markdown, render_terminal, write_reports
from loadkit.report.knee import run_knee_points
from loadkit.report.sre import failure_rows
from loadkit.results.reader import open_run
from loadkit.results.synthetic import ErrorBurst, SyntheticRun, write_synthetic_run

GATES = [parse_threshold("error_rate < 1%"), parse_threshold("p(95) < 2s")]
BURSTS = (
    ErrorBurst("landing", 10, 20, 0.5, status=503),
    ErrorBurst("checkout", 30, 32, 1.0, status=502),
)
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Analysis, Path]:
    root = tmp_path_factory.mktemp("sre")
    run_dir = write_synthetic_run(root / "run", SyntheticRun(duration_s=60, error_bursts=BURSTS))
    base_dir = write_synthetic_run(root / "base", SyntheticRun(duration_s=60, run_id="base"))
    return analyze(open_run(run_dir), GATES, baseline=open_run(base_dir)), run_dir


def test_failures_table_says_status_error_step_count_and_when(
    failing: tuple[Analysis, Path],
) -> None:
    analysis, _ = failing
    rows = failure_rows(analysis)
    assert [r[0] for r in rows] == ["503", "502"]  # most frequent first
    _, error, step, count, first, last = rows[0]
    assert (step, error) == ("landing", "synthetic failure")
    assert int(count.replace(",", "")) > 0
    assert 10.0 <= float(first.rstrip("s")) <= float(last.rstrip("s")) < 20.0
    assert rows[1][2] == "checkout" and 30.0 <= float(rows[1][4].rstrip("s")) < 32.0


def test_the_terminal_shows_failures_and_the_spread(failing: tuple[Analysis, Path]) -> None:
    text = render_terminal(failing[0])
    assert "\nfailures\n" in text
    assert "503" in text and "synthetic failure" in text
    assert "response times (successful requests)" in text
    assert "p99.9" in text


def test_summary_md_is_short_with_the_verdict_first(failing: tuple[Analysis, Path]) -> None:
    md = render_markdown(failing[0])
    lines = md.splitlines()
    assert lines[0].startswith("## ") and "FAILED" in lines[0]
    assert "### Failures" in md
    assert "| 503 | synthetic failure | landing |" in md
    shown = md.split("<details>")[0]  # what a CI summary shows unfolded
    assert len(shown.splitlines()) < 40


def test_reports_gain_the_distribution_and_knee_plots(failing: tuple[Analysis, Path]) -> None:
    analysis, run_dir = failing
    paths = write_reports(analysis, run_dir)
    for name in ("plots/distribution.png", "plots/knee.png"):
        assert paths[name].read_bytes()[:4] == b"\x89PNG"
    page = paths["report.html"].read_text()
    assert "<h2>Failures</h2>" in page
    assert "<td class='status s5xx'>503</td>" in page
    assert "<td class='status failed'>FAIL</td>" in page  # the failed gate's cell is red
    assert analysis.baseline_hdr is not None and len(analysis.baseline_hdr)


def test_run_knee_bands_windows_by_offered_rate(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "r", SyntheticRun(duration_s=30, error_bursts=BURSTS))
    analysis = analyze(open_run(run_dir), GATES)
    points = run_knee_points(analysis)
    assert len(points) >= 1
    assert (points["offered_per_s"] > 0).all()
    assert (points["p95_ms"] >= points["p50_ms"]).all()


def test_a_run_without_failures_says_so(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "ok", SyntheticRun(duration_s=20))
    analysis = analyze(open_run(run_dir), GATES)
    assert failure_rows(analysis) == []
    assert "\nfailures" not in render_terminal(analysis)
    page = write_reports(analysis, run_dir)["report.html"].read_text()
    assert "No request failed." in page


@pytest.mark.browser
def test_the_page_renders_with_the_new_sections(
    failing: tuple[Analysis, Path], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing")
        pytest.skip("/usr/bin/chromium is not installed")
    analysis, run_dir = failing
    page = write_reports(analysis, run_dir)["report.html"]
    shot = tmp_path / "page.png"
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="status s5xx"' in dom.stdout and "Failures" in dom.stdout
    assert 'alt="distribution.png"' in dom.stdout and 'alt="knee.png"' in dom.stdout
    done = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("LOADKIT_KEEP_SCREENSHOT"):
        shot.replace(os.environ["LOADKIT_KEEP_SCREENSHOT"])


def test_the_knee_line_reads_latency_at_light_and_heavy_load(
    failing: tuple[Analysis, Path],
) -> None:
    """Seconds offered more load (the generator table says so) show up as the heavy end."""
    import dataclasses

    from loadkit.report.sre import knee_line

    analysis, _ = failing
    gen = analysis.generator.copy()
    gen["offered_per_s"] = [5.0 if t < 30 else 50.0 for t in gen["window_start_s"]]
    line = knee_line(dataclasses.replace(analysis, generator=gen))
    assert line.startswith("latency against offered load: 5.0/s → p95 ")
    assert "… 50.0/s → p95 " in line
    heavy_errors = float(line.rsplit("errors ", 1)[1].rstrip("%")) / 100
    assert heavy_errors == pytest.approx(40 / 3000, abs=0.002)  # the checkout 502s after 30 s


def test_the_terminal_spread_agrees_with_the_steps_table(failing: tuple[Analysis, Path]) -> None:
    from loadkit.report.sre import distribution_line
    from loadkit.units import format_duration

    analysis, _ = failing
    steps = analysis.steps[analysis.steps["phase"] == "all"].set_index("step")
    for line in distribution_line(analysis):
        step, rest = line.split(": ", 1)
        assert rest.startswith(f"p50 {format_duration(float(steps.loc[step, 'p50_ms']) / 1e3)} ")
        assert f"p99 {format_duration(float(steps.loc[step, 'p99_ms']) / 1e3)} " in rest
