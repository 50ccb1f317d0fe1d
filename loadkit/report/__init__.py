"""Reports of an ``Analysis``: terminal table, summary.md, report.html, junit.xml, verdict.json.

Plots use matplotlib's Agg canvas only (never a window, never ``plt.show``).
"""

from loadkit.report.files import (
    REPORT_SCHEMA,
    junit_xml,
    report_html,
    verdict_json,
    write_reports,
)
from loadkit.report.plots import render_plots
from loadkit.report.text import render_markdown, render_terminal

__all__ = [
    "REPORT_SCHEMA",
    "junit_xml",
    "render_markdown",
    "render_plots",
    "render_terminal",
    "report_html",
    "verdict_json",
    "write_reports",
]
