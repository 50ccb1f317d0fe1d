"""Machine-readable reports and the self-contained HTML page; ``write_reports`` writes them all.

``verdict.json`` keys (stable, documented in docs/results.md): ``verdict``, ``exit_code``,
``reasons``, ``run_id``, ``status``, ``partial``, ``partial_reasons``, ``gates`` (text, kind,
status, observed, observed_text, limit, limit_text, location — the gate's own file:line:col —,
samples judged, warn, no_data_reason, breaches, windows), ``validity`` (valid, checks),
``funnel`` (stage, visitors, of_previous, of_arrived), ``outcomes`` (persona, outcome, reason,
visitors, share), ``labels`` (persona, step, label, requests), ``report_schema``.
``junit.xml``: one ``<testcase>`` per gate, then one for the verdict, so a CI that reads JUnit
goes red exactly when the exit code is not 0: failed gates carry ``<failure>``, gates without
data ``<error>`` (``<skipped>`` when ``as warn``); the verdict case carries ``<failure>`` for
a failed run and ``<error>`` for an invalid, inconclusive or aborted one, with the reasons.
``report.html`` embeds its plots as base64 PNG and loads nothing from outside.
"""

from __future__ import annotations

import base64
import html
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from loadkit.analysis import Analysis, GateResult, GateStatus, Verdict
from loadkit.report import journeys
from loadkit.report.plots import render_plots
from loadkit.report.text import (
    breach_text,
    phase_order,
    render_markdown,
    samples_text,
    status_text,
    step_rows,
)
from loadkit.results.schema import ANALYSIS_DIR
from loadkit.units import format_percent

REPORT_SCHEMA = 1


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _gate_json(g: GateResult) -> dict[str, Any]:
    return {
        "text": g.text,
        "kind": g.kind.value,
        "status": g.status.value,
        "observed": _num(g.observed),
        "observed_text": g.observed_text,
        "limit": _num(g.limit),
        "limit_text": g.limit_text,
        "location": g.location,
        "samples": g.samples,
        "warn": g.warn,
        "no_data_reason": g.reason or None,
        "detail": g.detail,
        "breaches": [
            {"start_s": b.start_s, "end_s": b.end_s, "worst": _num(b.worst)} for b in g.breaches
        ],
        "windows": {
            "total": g.windows_total,
            "no_data": g.windows_no_data,
            "breached": g.windows_breached,
            "width_s": g.window_s,
        },
    }


def verdict_json(analysis: Analysis) -> dict[str, Any]:
    """The ``verdict.json`` document (keys in the module docstring)."""
    return {
        "report_schema": REPORT_SCHEMA,
        "verdict": analysis.verdict.value,
        "exit_code": int(analysis.exit_code),
        "reasons": list(analysis.reasons),
        "run_id": analysis.run.run_id,
        "status": analysis.run.status,
        "partial": analysis.run.partial,
        "partial_reasons": list(analysis.run.partial_reasons),
        "gates": [_gate_json(g) for g in analysis.gates],
        **journeys.journeys_json(analysis),
        "validity": {
            "valid": analysis.validity.valid,
            "checks": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "observed": c.observed_text,
                    "budget": c.budget_text,
                    "detail": c.detail,
                }
                for c in analysis.validity.checks
            ],
        },
    }


def _gate_case(suite: ET.Element, g: GateResult) -> None:
    case = ET.SubElement(
        suite, "testcase", {"classname": f"loadkit.{g.kind.value}", "name": g.text, "time": "0"}
    )
    message = f"observed {g.observed_text}, limit {g.limit_text}"
    where = f"at {g.location}" if g.location else ""
    judged = f"samples judged: {g.samples:,}"
    if g.status is GateStatus.FAILED:
        failure = ET.SubElement(case, "failure", {"message": message, "type": "GateFailed"})
        failure.text = "\n".join(
            filter(None, [message, breach_text(g, 10), g.detail, judged, where])
        )
    elif g.status is GateStatus.NO_DATA and not g.warn:
        error = ET.SubElement(case, "error", {"message": g.observed_text, "type": "NoData"})
        error.text = "\n".join(filter(None, [g.observed_text, judged, where]))
    elif g.status is GateStatus.NO_DATA:
        ET.SubElement(case, "skipped", {"message": f"as warn: {g.observed_text}"})
    else:
        ET.SubElement(case, "system-out").text = f"{g.status.value}: {message}; {judged}"


_VERDICT_TYPES = {
    Verdict.FAILED: ("failure", "RunFailed"),
    Verdict.INVALID: ("error", "RunInvalid"),
    Verdict.INCONCLUSIVE: ("error", "RunInconclusive"),
    Verdict.ABORTED: ("error", "RunAborted"),
}


def junit_xml(analysis: Analysis) -> str:
    """JUnit XML: one test case per gate and one for the verdict (see the module docstring)."""
    gates = analysis.gates
    verdict = analysis.verdict
    tag = _VERDICT_TYPES.get(verdict)
    failures = sum(g.status is GateStatus.FAILED for g in gates) + (
        tag is not None and tag[0] == "failure"
    )
    errors = sum(g.status is GateStatus.NO_DATA and not g.warn for g in gates) + (
        tag is not None and tag[0] == "error"
    )
    suite = ET.Element(
        "testsuite",
        {
            "name": f"loadkit.{analysis.run.run_id}",
            "tests": str(len(gates) + 1),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": str(sum(g.status is GateStatus.NO_DATA and g.warn for g in gates)),
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", verdict.value),
        ("exit_code", str(int(analysis.exit_code))),
        ("valid", str(analysis.validity.valid).lower()),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for g in gates:
        _gate_case(suite, g)
    case = ET.SubElement(
        suite, "testcase", {"classname": "loadkit.run", "name": "verdict", "time": "0"}
    )
    summary = f"{verdict.value} (exit {int(analysis.exit_code)})"
    if tag is not None:
        element = ET.SubElement(case, tag[0], {"message": summary, "type": tag[1]})
        element.text = "\n".join([summary, *analysis.reasons])
    else:
        ET.SubElement(case, "system-out").text = "\n".join([summary, *analysis.reasons])
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f5f5f5}
.passed{color:#2e7d32}.failed,.invalid{color:#c62828}.warn{color:#ef6c00}
.verdict{font-size:1.6em;font-weight:bold}img{max-width:100%;display:block;margin:1em 0}
td.status{font-weight:bold;text-align:left}td.s2xx,td.passed{background:#e8f5e9;color:#1b5e20}
td.s3xx{background:#e3f2fd}td.s4xx,td.warn,td.nodata{background:#fff3e0;color:#e65100}
td.s5xx,td.failed{background:#ffebee;color:#b71c1c}td.noanswer{background:#f3e5f5;color:#4a148c}"""


def _html_table(header: list[str], rows: list[list[str]], status_col: int | None = None) -> str:
    """A table; the ``status_col`` cells are coloured by ``report.sre.status_class``."""
    from loadkit.report.sre import status_class

    def cell(i: int, c: object) -> str:
        if i == status_col:
            return f"<td class='status {status_class(str(c))}'>{html.escape(str(c))}</td>"
        return f"<td>{html.escape(str(c))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(analysis: Analysis, plots: dict[str, bytes]) -> str:
    """A self-contained page: inline CSS, plots as data: URIs, no scripts, no external URLs."""
    run, v = analysis.run, analysis.verdict
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>loadkit {html.escape(run.run_id)}: {v.value}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<p class='verdict {v.value}'>{v.value.upper()} (exit {int(analysis.exit_code)})</p>",
        f"<p>Run <code>{html.escape(run.run_id)}</code> · status {html.escape(run.status)}"
        f" · target <code>{html.escape(run.target)}</code></p><ul>",
        *(f"<li>{html.escape(r)}</li>" for r in analysis.reasons),
        "</ul>",
    ]
    if analysis.gates:
        parts += [
            "<h2>Gates</h2>",
            _html_table(
                ["status", "gate", "observed", "limit", "samples", "breached", "where"],
                [
                    [
                        status_text(g),
                        g.text,
                        g.observed_text,
                        g.limit_text,
                        samples_text(g),
                        breach_text(g),
                        g.location or "",
                    ]
                    for g in analysis.gates
                ],
                status_col=0,
            ),
        ]
    from loadkit.report.sre import failures_html

    parts.append(failures_html(analysis))
    header = ["step", "requests", "errors", "error %", "rate", "p50", "p95", "p99", "max"]
    parts += ["<h2>Steps</h2>", _html_table(header, step_rows(analysis.steps, "all"))]
    for phase in phase_order(analysis):
        parts += [
            f"<h3>Phase {html.escape(phase)}</h3>",
            _html_table(header, step_rows(analysis.steps, phase)),
        ]
    parts += ["<h2>Plots</h2>"]
    for name, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
    if analysis.validity.checks:  # none on a Locust CSV
        parts += [
            "<h2>Validity</h2>",
            _html_table(
                ["check", "ok", "observed", "budget"],
                [
                    [c.name, "yes" if c.ok else "NO", c.observed_text, c.budget_text]
                    for c in analysis.validity.checks
                ],
            ),
        ]
    parts += journeys.html_parts(analysis, _html_table)
    if len(analysis.funnel):  # none on a Locust CSV
        parts += [
            "<h2>Funnel</h2>",
            _html_table(
                ["stage", "visitors", "of previous", "of arrived"],
                [
                    [
                        str(stage),
                        f"{int(n):,}",
                        format_percent(float(prev)),
                        format_percent(float(a)),
                    ]
                    for stage, n, prev, a in zip(
                        analysis.funnel["stage"],
                        analysis.funnel["visitors"],
                        analysis.funnel["of_previous"],
                        analysis.funnel["of_arrived"],
                        strict=True,
                    )
                ],
            ),
        ]
    parts += ["</body></html>"]
    return "\n".join(parts) + "\n"


def write_reports(analysis: Analysis, run_dir: str | Path) -> dict[str, Path]:
    """Write ``RUN_DIR/analysis/``: summary.md, verdict.json, junit.xml, report.html,
    windows.parquet, generator.parquet and plots/*.png. Returns the paths by name."""
    out = Path(run_dir) / ANALYSIS_DIR
    (out / "plots").mkdir(parents=True, exist_ok=True)
    plots = render_plots(analysis)
    paths: dict[str, Path] = {}
    for name, png in plots.items():
        paths[f"plots/{name}"] = out / "plots" / name
        paths[f"plots/{name}"].write_bytes(png)
    texts = {
        "summary.md": render_markdown(analysis),
        "verdict.json": json.dumps(verdict_json(analysis), indent=2) + "\n",
        "junit.xml": junit_xml(analysis),
        "report.html": report_html(analysis, plots),
    }
    for name, text in texts.items():
        paths[name] = out / name
        paths[name].write_text(text, encoding="utf-8")
    for name, frame in (
        ("windows.parquet", analysis.windows),
        ("generator.parquet", analysis.generator),
    ):
        paths[name] = out / name
        frame.to_parquet(paths[name], index=False)
    return paths


__all__ = ["REPORT_SCHEMA", "junit_xml", "report_html", "verdict_json", "write_reports"]
