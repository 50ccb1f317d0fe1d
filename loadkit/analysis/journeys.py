"""How journeys went, per persona: the scenario's funnel, outcomes with leave reasons, and
the outcome labels the scenario gave answers (pure functions of the records and manifest).

The funnel is the scenario's own (``funnel:``, stored in the manifest's resolved scenario):
``arrived`` (visitors who started), then each stage — visitors with an ``ok`` answer at a
step, or whose arrival record has a fact. A scenario without one gets a funnel of outcomes,
``arrived → completed``; a run recorded before ``funnel:`` existed keeps the on-sale funnel
(``arrived → joined → admitted → held → paid``) when its records hold those facts. Never a row
of zeros for facts the target's journeys cannot record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from loadkit.results.frames import funnel as onsale_funnel
from loadkit.results.frames import nonempty
from loadkit.results.reader import Run
from loadkit.results.schema import ArrivalOutcome, Outcome

TOP_REASONS = 8  # per persona; the rest are summed as "(other reasons)"
REASON_CHARS = 80
_FACT_COLUMNS = {"joined": "joined_ns", "admitted": "admitted_ns"}
_LIST_FACTS = ("seats_held", "seats_bought")
_DROPPED = ArrivalOutcome.DROPPED.value
OUTCOME_COLUMNS = ["persona", "outcome", "reason", "visitors", "share"]
LABEL_COLUMNS = ["persona", "step", "label", "requests"]


def declared_stages(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The manifest's ``funnel:`` stages (``[]`` when the scenario declares none), or None
    for a run recorded before scenarios could declare one."""
    scenario = manifest.get("scenario")
    resolved = scenario.get("resolved") if isinstance(scenario, Mapping) else None
    if not isinstance(resolved, Mapping) or "funnel" not in resolved:
        return None
    stages = resolved.get("funnel") or []
    return [s for s in stages if isinstance(s, Mapping) and s.get("name")]


def _rows(names: Sequence[str], reached: Sequence[np.ndarray]) -> pd.DataFrame:
    counts = np.array([int(r.sum()) for r in reached])
    prev = np.concatenate([[counts[0]], counts[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {
                "stage": list(names),
                "visitors": counts,
                "of_previous": np.where(prev > 0, counts / np.maximum(prev, 1), np.nan),
                "of_arrived": np.where(counts[0] > 0, counts / max(counts[0], 1), np.nan),
            }
        )


def _has_fact(arrivals: pd.DataFrame, fact: str) -> np.ndarray:
    column = _FACT_COLUMNS.get(fact, fact)
    if column not in arrivals.columns:
        return np.zeros(len(arrivals), dtype=bool)
    series = arrivals[column]
    if fact in _LIST_FACTS:
        return nonempty(series)
    present = series.notna().to_numpy(dtype=bool)
    if fact == "shop_ok_without_token":
        present &= series.fillna(0).to_numpy() > 0
    return present


def scenario_funnel(
    arrivals: pd.DataFrame,
    stages: Sequence[Mapping[str, Any]] | None,
    steps_reached: Callable[[str], set[int]] = lambda _s: set(),
) -> pd.DataFrame:
    """The funnel table (stage, visitors, of_previous, of_arrived) for ``stages`` (see the
    module docstring; None = a run from before ``funnel:``). ``steps_reached(step)`` gives
    the arrival ids with an ok answer at ``step``."""
    started = (arrivals["outcome"] != _DROPPED).to_numpy(dtype=bool)
    if stages is None:
        legacy = ("joined_ns", "admitted_ns", "order_id")
        if all(c in arrivals.columns for c in legacy) and any(
            arrivals[c].notna().any() for c in legacy
        ):
            return onsale_funnel(arrivals)
        stages = []
    if not stages:
        completed = started & (arrivals["outcome"] == ArrivalOutcome.COMPLETED.value).to_numpy()
        return _rows(["arrived", "completed"], [started, completed])
    ids = arrivals["arrival_id"].to_numpy()
    reached = [started]
    for stage in stages:
        if stage.get("step"):
            hit = np.isin(ids, np.fromiter(steps_reached(str(stage["step"])), dtype=np.int64))
        else:
            hit = _has_fact(arrivals, str(stage.get("record")))
        reached.append(started & hit)
    return _rows(["arrived", *(str(s["name"]) for s in stages)], reached)


def outcome_table(arrivals: pd.DataFrame) -> pd.DataFrame:
    """Per persona: how many started visitors ended each way and why (leave reasons, errors),
    the ``TOP_REASONS`` commonest reasons per persona and outcome, with the share of the
    persona's started visitors. Dropped arrivals are a row of their own."""
    if arrivals.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    frame = pd.DataFrame(
        {
            "persona": arrivals["persona"].astype(str).to_numpy(),
            "outcome": arrivals["outcome"].astype(str).to_numpy(),
            "reason": _clipped(arrivals["reason"]) if "reason" in arrivals else "",
        }
    )
    sizes = frame.groupby(["persona", "outcome", "reason"], sort=False).size()
    counted: pd.DataFrame = sizes.rename("visitors").reset_index()
    started = frame[frame["outcome"] != _DROPPED].groupby("persona").size()
    out = []
    for (persona, outcome), rows in counted.groupby(["persona", "outcome"], sort=True):
        group: pd.DataFrame = rows.sort_values("visitors", ascending=False, kind="stable")
        top, rest = group.iloc[:TOP_REASONS], group.iloc[TOP_REASONS:]
        out.append(top)
        if len(rest):
            other = {"persona": persona, "outcome": outcome, "reason": "(other reasons)",
                     "visitors": int(rest["visitors"].sum())}  # fmt: skip
            out.append(pd.DataFrame([other]))
    table = pd.concat(out, ignore_index=True)
    base = table["persona"].map(started).fillna(0).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["share"] = np.where(base > 0, table["visitors"] / np.maximum(base, 1), np.nan)
    table.loc[table["outcome"] == _DROPPED, "share"] = np.nan
    result: pd.DataFrame = table[OUTCOME_COLUMNS]
    return result


def _clipped(reasons: pd.Series) -> np.ndarray:
    def clip(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        text = " ".join(str(v).split())
        return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"

    return np.array([clip(v) for v in reasons], dtype=object)


def label_table(requests: pd.DataFrame) -> pd.DataFrame:
    """Per persona and step: the requests each outcome label was given (``outcomes:``)."""
    if requests.empty or "label" not in requests or not requests["label"].notna().any():
        return pd.DataFrame(columns=LABEL_COLUMNS)
    labelled = requests[requests["label"].notna()]
    table = labelled.groupby(
        [labelled["persona"].astype(str), labelled["step"].astype(str),
         labelled["label"].astype(str)], sort=True,
    ).size()  # fmt: skip
    out = table.rename("requests").reset_index()
    out.columns = LABEL_COLUMNS
    return out


def journey_tables(run: Run, arrivals: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``funnel``, ``outcomes`` and ``labels`` of an ``Analysis`` for ``run``."""
    stages = declared_stages(run.manifest)
    cache: dict[str, set[int]] = {}
    needs_steps = any(s.get("step") for s in stages or [])
    steps = run.load_requests(["arrival_id", "step", "outcome"]) if needs_steps else None

    def reached(step: str) -> set[int]:
        if step not in cache and steps is not None:
            hit = (steps["step"] == step) & (steps["outcome"] == Outcome.OK.value)
            cache[step] = set(steps.loc[hit, "arrival_id"].tolist())
        return cache.get(step, set())

    return {
        "funnel": scenario_funnel(arrivals, stages, reached),
        "outcomes": outcome_table(arrivals),
        "labels": label_table(run.load_requests(["persona", "step", "label"])),
    }


__all__ = [
    "LABEL_COLUMNS",
    "OUTCOME_COLUMNS",
    "declared_stages",
    "journey_tables",
    "label_table",
    "outcome_table",
    "scenario_funnel",
]
