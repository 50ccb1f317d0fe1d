"""What a capacity search leaves behind: the figure with its uncertainty, the saturation
signature, the exit code, and the ``capacity/`` folder (capacity.json, knee.png, summary.md).

Exit codes: 0 the capacity meets ``--require`` (or, without it, a boundary was found or the
target held ``--max``) · 1 it does not (a confirmed failure at or below the requirement) · 3
inconclusive (generator-bound, gates that never pass or never fail, budget spent before an
answer) · 130 interrupted (the probes so far are still written).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loadkit.capacity.search import ProbeOutcome, ProbeResult, SearchResult, Stop
from loadkit.errors import ExitCode
from loadkit.gates import Threshold
from loadkit.report.knee import gate_lines, plot_knee
from loadkit.units import format_ms, format_percent, format_rate

CAPACITY_SCHEMA = 1
KNEE_FACTOR = 2.0
QUEUE_GROWTH_PER_S = 0.5  # in-flight visitors growing slower than this is noise  # the knee: the first rate whose p95 is twice the lightest probe's


@dataclass(frozen=True)
class SearchMeta:
    """What the search was asked, for capacity.json and the summary."""

    scenario: str
    profile: str
    target: str
    require_per_s: float | None
    max_per_s: float | None
    seed: int
    workers: int
    elapsed_s: float
    interrupted_run: str | None = None  # the probe Ctrl-C stopped: its folder, not judged


def exit_code(result: SearchResult, require_per_s: float | None) -> ExitCode:
    """See the module docstring."""
    if result.stop is Stop.INTERRUPTED:
        return ExitCode.INTERRUPTED
    holds, fails = result.holds_per_s, result.fails_per_s
    if require_per_s is not None:
        if holds is not None and holds >= require_per_s:
            return ExitCode.PASSED
        if result.conclusive and fails is not None and fails <= require_per_s:
            return ExitCode.FAILED
        if result.stop is Stop.MAX_RATE and holds is not None and holds < require_per_s:
            return ExitCode.FAILED if fails is not None else ExitCode.INVALID
        return ExitCode.INVALID
    return ExitCode.PASSED if result.conclusive else ExitCode.INVALID


def probe_table(probes: Sequence[ProbeResult]) -> pd.DataFrame:
    """One row per probe, in the order they ran."""
    rows = []
    for i, p in enumerate(probes, 1):
        d = p.details
        rows.append(
            {
                "probe": i,
                "rate_per_s": p.rate_per_s,
                "outcome": p.outcome.value,
                "p50_ms": d.get("p50_ms"),
                "p95_ms": d.get("p95_ms"),
                "p99_ms": d.get("p99_ms"),
                "error_rate": p.error_rate,
                "first_failed_gate": p.first_failed_gate,
                "run_dir": d.get("run_dir"),
            }
        )
    return pd.DataFrame(rows)


def signature(result: SearchResult) -> dict[str, Any]:
    """How the target saturated: the latency knee, errors by status and queue growth at the
    failing rate (against the holding rate), and the first gate to break."""
    probes = [p for p in result.probes if p.outcome in (ProbeOutcome.PASSED, ProbeOutcome.FAILED)]
    out: dict[str, Any] = {"first_failed_gate": result.first_failed_gate}
    with_p95 = sorted(
        (p for p in probes if p.details.get("p95_ms") is not None), key=lambda p: p.rate_per_s
    )
    if with_p95:
        base = float(with_p95[0].details["p95_ms"])
        knee = next((p for p in with_p95 if float(p.details["p95_ms"]) >= KNEE_FACTOR * base), None)
        out["latency_knee_per_s"] = knee.rate_per_s if knee else None
        out["p95_ms_lightest"] = base
    sides = (
        ("holds", result.holds_per_s, ProbeOutcome.PASSED),
        ("fails", result.fails_per_s, ProbeOutcome.FAILED),  # a failing probe, not a lucky one
    )
    for side, rate, outcome in sides:
        at = [p for p in result.at(rate) if p.outcome is outcome]
        if not at:
            continue
        last = at[-1].details
        out[side] = {
            "rate_per_s": rate,
            "p95_ms": last.get("p95_ms"),
            "p99_ms": last.get("p99_ms"),
            "error_rate": at[-1].error_rate,
            "errors_by_status": last.get("errors_by_status", {}),
            "queue_growth_per_s": last.get("queue_growth_per_s"),
            "in_flight_peak": last.get("in_flight_peak"),
        }
    return out


def _fmt_ms(v: Any) -> str:
    return "—" if v is None else format_ms(float(v))


def _signature_lines(sig: dict[str, Any]) -> list[str]:
    lines = []
    if sig.get("first_failed_gate"):
        lines.append(f"first gate to break: {sig['first_failed_gate']}")
    if sig.get("latency_knee_per_s") is not None:
        lines.append(
            f"latency knee: p95 doubled (from {_fmt_ms(sig.get('p95_ms_lightest'))}) at "
            f"{format_rate(sig['latency_knee_per_s'])}"
        )
    fails = sig.get("fails")
    if fails:
        by_status = ", ".join(f"{k}: {v:,}" for k, v in list(fails["errors_by_status"].items())[:4])
        lines.append(
            f"at {format_rate(fails['rate_per_s'])}: p95 {_fmt_ms(fails['p95_ms'])}, errors "
            f"{format_percent(fails['error_rate'])}" + (f" ({by_status})" if by_status else "")
        )
        growth = fails.get("queue_growth_per_s")
        if growth is not None and growth >= QUEUE_GROWTH_PER_S:
            held = (sig.get("holds") or {}).get("queue_growth_per_s")
            lines.append(
                f"queue growth: visitors in flight grew {growth:+.1f}/s at the failing rate"
                + (f" ({held:+.1f}/s at the holding rate)" if held is not None else "")
            )
        elif growth is not None:
            lines.append("queue growth: none (visitors in flight stayed level at the failing rate)")
    return lines


def render_text(result: SearchResult, meta: SearchMeta) -> str:
    """The terminal summary: the answer first, then the signature and the probes."""
    head = "capacity: " + result.message
    if not result.conclusive and result.holds_per_s is not None:
        head += f" — holds {format_rate(result.holds_per_s)} so far"
    if meta.require_per_s is not None:
        code = exit_code(result, meta.require_per_s)
        word = {0: "meets", 1: "does NOT meet"}.get(int(code), "cannot say whether it meets")
        head += f"\n{word} the requirement of {format_rate(meta.require_per_s)}"
    if result.stop is Stop.GENERATOR_BOUND:
        head += (
            f"\nthe load generator, not the target, was the limit: run with --workers N or"
            f" --workers auto ({meta.workers} used); `loadkit plan` estimates what a peak needs"
        )
    lines = [head, *("  " + s for s in _signature_lines(signature(result)))]
    lines.append(f"{len(result.probes)} probes in {meta.elapsed_s:.0f}s:")
    for p in result.probes:
        d = p.details
        gate = f" — {p.first_failed_gate}" if p.first_failed_gate else ""
        lines.append(
            f"  {format_rate(p.rate_per_s):>9}  {p.outcome.value:<15} p95 {_fmt_ms(d.get('p95_ms')):>8}"
            f"  errors {format_percent(p.error_rate):>6}{gate}"
        )
    return "\n".join(lines)


def capacity_json(result: SearchResult, meta: SearchMeta) -> dict[str, Any]:
    """The contents of capacity.json (documented in docs/capacity.md)."""
    return {
        "capacity_schema": CAPACITY_SCHEMA,
        "answer": result.message,
        "stop": result.stop.value,
        "holds_per_s": result.holds_per_s,
        "fails_per_s": result.fails_per_s,
        "holds_repeats": list(result.holds_repeats),
        "fails_repeats": list(result.fails_repeats),
        "exit_code": int(exit_code(result, meta.require_per_s)),
        "require_per_s": meta.require_per_s,
        "max_per_s": meta.max_per_s,
        "scenario": meta.scenario,
        "profile": meta.profile,
        "target": meta.target,
        "seed": meta.seed,
        "workers": meta.workers,
        "elapsed_s": round(meta.elapsed_s, 1),
        "signature": signature(result),
        "interrupted_probe_run_dir": meta.interrupted_run,
        "probes": [
            {
                "rate_per_s": p.rate_per_s,
                "outcome": p.outcome.value,
                "error_rate": p.error_rate,
                "first_failed_gate": p.first_failed_gate,
                "reasons": list(p.reasons),
                **p.details,
            }
            for p in result.probes
        ],
    }


def _markdown(result: SearchResult, meta: SearchMeta) -> str:
    lines = [f"## Capacity: {result.message}", ""]
    lines += [f"- {s}" for s in _signature_lines(signature(result))]
    lines += [
        "",
        "| rate | outcome | p95 | p99 | errors | first gate broken |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for p in result.probes:
        d = p.details
        lines.append(
            f"| {format_rate(p.rate_per_s)} | {p.outcome.value} | {_fmt_ms(d.get('p95_ms'))} | "
            f"{_fmt_ms(d.get('p99_ms'))} | {format_percent(p.error_rate)} | "
            f"{p.first_failed_gate or ''} |"
        )
    lines += ["", f"{meta.scenario} × {meta.profile} → {meta.target}, seed {meta.seed}"]
    return "\n".join(lines) + "\n"


def write_capacity(
    out_dir: Path, result: SearchResult, meta: SearchMeta, thresholds: Sequence[Threshold]
) -> dict[str, Path]:
    """Write capacity.json, summary.md and (with two or more probes that have data) knee.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"capacity.json": out_dir / "capacity.json", "summary.md": out_dir / "summary.md"}
    paths["capacity.json"].write_text(
        json.dumps(capacity_json(result, meta), indent=2, default=str) + "\n", encoding="utf-8"
    )
    paths["summary.md"].write_text(_markdown(result, meta), encoding="utf-8")
    table = probe_table(result.probes)
    judged = table[table["outcome"].isin([ProbeOutcome.PASSED.value, ProbeOutcome.FAILED.value])]
    if len(judged) >= 2:
        latency, errors = gate_lines(thresholds)
        # repeats of a rate are drawn as one point: their mean, marked failed if any failed
        numbers = judged.astype(
            {"p50_ms": float, "p95_ms": float, "p99_ms": float, "error_rate": float}
        ).assign(failed=judged["outcome"] == ProbeOutcome.FAILED.value)
        how = {"p50_ms": "mean", "p95_ms": "mean", "p99_ms": "mean", "error_rate": "mean"}
        points = (
            numbers.groupby("rate_per_s")
            .agg({**how, "failed": "any"})
            .reset_index()
            .rename(columns={"rate_per_s": "offered_per_s"})
        )
        png = plot_knee(
            points,
            latency,
            errors,
            title=f"capacity search: {result.message}",
            failed=list(points["failed"]),
            marks=[
                (f"{word} {format_rate(rate)}", rate)
                for word, rate in (("holds", result.holds_per_s), ("fails", result.fails_per_s))
                if rate is not None
            ],
        )
        paths["knee.png"] = out_dir / "knee.png"
        paths["knee.png"].write_bytes(png)
    return paths


__all__ = [
    "CAPACITY_SCHEMA",
    "SearchMeta",
    "capacity_json",
    "exit_code",
    "probe_table",
    "render_text",
    "signature",
    "write_capacity",
]
