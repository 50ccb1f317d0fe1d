"""Probe templates and expressions, in the scenario's one template/expression language.

Header values are templates read when the probe runs: ``{{ env.NAME }}`` is the environment
variable (empty when unset), the syntax request steps use. The old ``${NAME}`` is refused with
the fix (one variable syntax everywhere). An ``expect`` item written ``{{ expression }}`` is an
expression over:

* ``body``: the JSON answer, ``status``: its HTTP status;
* ``env.NAME``: the environment; the scenario's constant ``variables:`` by name;
* ``figures``: what this run recorded (``FIGURES``), e.g. ``{{ body.orders == figures.orders }}``
  — "the shop's orders equal the orders this run recorded".

It holds when it is true; an expression that cannot be evaluated (a missing key, a type
mismatch) is a failure saying why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadkit.errors import InputError, Location
from loadkit.results.reader import open_run
from loadkit.scenario import EvalError, ExprError, Template, compile_template

OLD_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
FIGURES = {
    "arrivals": "visitors who started (not dropped)",
    "dropped": "arrivals dropped by the in-flight cap",
    "completed": "journeys that reached their end",
    "abandoned": "journeys left on purpose",
    "failed": "journeys ended by an error",
    "requests": "request records (redirect hops included)",
    "ok_requests": "request records with outcome ok",
    "orders": "visitors who recorded an order_id",
    "seats_bought": "seats in visitors' seats_bought",
    "tickets_bought": "tickets bought (tickets_bought, else seats)",
    "labels": "outcome label -> requests given it",
}


class Scope:
    """What a probe template renders in: its variables (no randomness)."""

    __slots__ = ("rng", "vars")

    def __init__(self, variables: dict[str, Any]) -> None:
        self.vars = variables
        self.rng = None


def template(value: str, what: str, location: Location | None) -> Template:
    """A probe's header value or expectation as a template. Raises ``InputError`` for
    ``${NAME}`` (with the fix) or a template that does not parse."""
    old = OLD_VAR_RE.search(value)
    if old:
        raise InputError(
            f"{what} reads the environment as ${{{old.group(1)}}}; probes use the syntax "
            "requests use",
            location=location,
            hint=f'Write "{{{{ env.{old.group(1)} }}}}" instead of "${{{old.group(1)}}}".',
        )
    try:
        return compile_template(value)
    except ExprError as exc:
        raise InputError(f"{what}: {exc} (at character {exc.offset + 1})",
                         location=location) from None  # fmt: skip


def env_vars(templates: list[Template], environ: Mapping[str, str]) -> dict[str, Any]:
    """``env.NAME`` → value for every name the templates read (empty when unset)."""
    names = {n for t in templates for n in t.env}
    return {f"env.{n}": environ.get(n, "") for n in names}


@dataclass(frozen=True)
class ExprExpectation:
    """``{{ expression }}`` on the answer, true when it holds (see the module docstring)."""

    text: str
    compiled: Template = field(repr=False, compare=False)

    def check(self, answer: Any, context: Mapping[str, Any] | None = None) -> str | None:
        """None when it holds, else why not. ``context`` holds ``status``, ``figures`` and
        the ``env.NAME`` values."""
        variables = {"body": answer, **(context or {})}
        try:
            value = self.compiled.render(Scope(variables))
        except EvalError as exc:
            return f"{self.text}: {exc}"
        return None if value is True else f"{self.text} is {_shown(value)}"

    def __str__(self) -> str:
        return self.text


def _shown(value: Any) -> str:
    text = "false" if value is False else repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def scenario_variables(run_dir: str | Path) -> dict[str, Any]:
    """The constant ``variables:`` of the run's scenario (from its manifest), by name;
    per-visitor values (generators, random choices) have no single value and are left out."""
    try:
        resolved = open_run(run_dir).manifest.get("scenario", {}).get("resolved", {})
        pairs = resolved.get("variables") or []
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], dict)):
            continue
        source = pair[1].get("source")
        try:
            t = compile_template(source) if isinstance(source, str) else None
        except ExprError:
            continue
        if t is None:
            out[str(pair[0])] = source
        elif t.const:
            out[str(pair[0])] = t.value
    return out


def run_figures(run_dir: str | Path) -> dict[str, Any]:
    """``FIGURES`` of the run in ``run_dir`` (empty when its records cannot be read)."""
    try:
        run = open_run(run_dir)
        arrivals = run.load_arrivals(["outcome", "order_id", "seats_bought", "tickets_bought"])
        requests = run.load_requests(["outcome", "label"])
    except Exception:
        return {}
    outcome = arrivals["outcome"].astype(str)
    seats = arrivals["seats_bought"].map(lambda v: len(v) if hasattr(v, "__len__") else 0)
    tickets = arrivals["tickets_bought"]
    per_buyer = np.where(tickets.notna(), tickets.fillna(0).to_numpy(dtype=np.int64), seats)
    labels = requests["label"].dropna().astype(str).value_counts()
    return {
        "arrivals": int((outcome != "dropped").sum()),
        "dropped": int((outcome == "dropped").sum()),
        "completed": int((outcome == "completed").sum()),
        "abandoned": int((outcome == "abandoned").sum()),
        "failed": int((outcome == "failed").sum()),
        "requests": len(requests),
        "ok_requests": int((requests["outcome"].astype(str) == "ok").sum()),
        "orders": int(arrivals["order_id"].notna().sum()),
        "seats_bought": int(seats.sum()),
        "tickets_bought": int(per_buyer.sum()),
        "labels": {str(k): int(v) for k, v in labels.items()},
    }


__all__ = [
    "FIGURES",
    "ExprExpectation",
    "Scope",
    "env_vars",
    "run_figures",
    "scenario_variables",
    "template",
]
