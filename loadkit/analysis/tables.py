"""Summary tables: per step and phase (exact percentiles), HDR percentile curves, baseline deltas.

All percentiles come from the raw records of each group (``grouped_quantiles``); the ``all``
phase is computed from its own records, not merged from the phases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from loadkit.profiles import Phase
from loadkit.results.frames import (
    QUANTILE_LABELS,
    QUANTILES,
    Ranked,
    phase_labels,
    ranked_quantiles,
)
from loadkit.results.schema import Outcome

ALL = "all"
# 0 %, 90 %, 99 %, ... 99.99 %: evenly spaced in "number of nines", as HDR plots draw them
HDR_LEVELS = (*tuple(float(100 * (1 - 10 ** (-x))) for x in np.linspace(0, 4, 33)), 100.0)


def _codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
    # int32 is plenty for group codes and halves the memory touched on big runs
    return cat.cat.codes.to_numpy().astype(np.int32), [str(c) for c in cat.cat.categories]


def _block(
    codes: np.ndarray | None, codes_ok: np.ndarray | None, n: int, rank_ok: np.ndarray, r: Ranked
) -> pd.DataFrame:
    """Counts and percentiles per group; ``codes`` None means one group of every row."""
    total = np.array([r.rank.size]) if codes is None else np.bincount(codes, minlength=n)
    n_ok = np.array([rank_ok.size]) if codes_ok is None else np.bincount(codes_ok, minlength=n)
    zeros = np.zeros(rank_ok.size, dtype=np.int64) if codes_ok is None else codes_ok
    q = ranked_quantiles(zeros, rank_ok, r, n, QUANTILES)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = {
            "requests": total,
            "ok": n_ok,
            "errors": total - n_ok,
            "error_rate": (total - n_ok) / total,
        }
    columns.update({f"{label}_ms": q[:, j] for j, label in enumerate(QUANTILE_LABELS)})
    return pd.DataFrame(columns)  # built at once: inserting columns one by one is slow


def step_summary(
    requests: pd.DataFrame,
    phases: Sequence[Phase],
    duration_s: float,
    ranked: Ranked | None = None,
) -> pd.DataFrame:
    """One row per (step, phase) with requests, errors, error rate, throughput and response
    percentiles of ok requests; phase ``all`` covers the whole run and step ``all`` every step.
    Rows without requests are left out."""
    step_codes, steps = _codes(requests["step"])
    t_s = requests["t_s"].to_numpy()
    phase_cat = phase_labels(t_s, phases)
    phase_codes = np.asarray(phase_cat.codes, dtype=np.int32)
    phase_names = [str(c) for c in phase_cat.categories]
    ok = (requests["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
    ranked = ranked or Ranked.of(requests["response_ms"].to_numpy(dtype=float))  # sorted once
    rank_ok = ranked.rank[ok]  # the ok rows, picked once for the four groupings
    span_all = duration_s if duration_s > 0 else float(np.ptp(t_s)) if t_s.size else 1.0
    spans = {p.name: p.end_s - p.start_s for p in phases}
    frames = []
    for by_phase in (True, False):
        for by_step in (True, False):
            n_steps = len(steps) if by_step else 1
            n_phases = len(phase_names) if by_phase else 1
            codes = None
            if by_step or by_phase:
                codes = step_codes * n_phases if by_step else phase_codes.copy()
                if by_step and by_phase:
                    codes += phase_codes
            codes_ok = None if codes is None else codes[ok]
            block = _block(codes, codes_ok, n_steps * n_phases, rank_ok, ranked)
            idx = np.arange(n_steps * n_phases)
            block.insert(0, "step", [steps[i] if by_step else ALL for i in idx // n_phases])
            block.insert(1, "phase", [phase_names[i] if by_phase else ALL for i in idx % n_phases])
            frames.append(block)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["requests"] > 0].reset_index(drop=True)
    span = out["phase"].map(lambda ph: spans.get(ph, span_all) if ph != ALL else span_all)
    out.insert(6, "throughput_per_s", out["requests"] / span.clip(lower=1e-9))
    return out


def hdr_curves(requests: pd.DataFrame, ranked: Ranked | None = None) -> pd.DataFrame:
    """Response-time percentile curves of ok requests per step (long form: step, percentile,
    response_ms), at ``HDR_LEVELS``."""
    ok = (requests["outcome"] == Outcome.OK.value).to_numpy(dtype=bool)
    codes, steps = _codes(requests["step"])
    ranked = ranked or Ranked.of(requests["response_ms"].to_numpy(dtype=float))
    q = ranked_quantiles(codes[ok], ranked.rank[ok], ranked, len(steps), HDR_LEVELS)
    rows = [
        (steps[i], lvl, q[i, j])
        for i in range(len(steps))
        for j, lvl in enumerate(HDR_LEVELS)
        if not np.isnan(q[i, j])
    ]
    return pd.DataFrame(rows, columns=["step", "percentile", "response_ms"])


def compare_steps(current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Whole-run p95/p99/error rate per step, now vs baseline: relative change for latencies,
    percentage points for the error rate."""
    cols = ["step", "requests", "p95_ms", "p99_ms", "error_rate"]
    now = current[current["phase"] == ALL][cols]
    base = baseline[baseline["phase"] == ALL][cols]
    out = now.merge(base, on="step", how="outer", suffixes=("", "_baseline"))
    for stat in ("p95_ms", "p99_ms"):
        out[f"{stat.removesuffix('_ms')}_change"] = out[stat] / out[f"{stat}_baseline"] - 1.0
    out["error_rate_change_pp"] = (out["error_rate"] - out["error_rate_baseline"]) * 100
    return out


__all__ = ["ALL", "HDR_LEVELS", "compare_steps", "hdr_curves", "step_summary"]
