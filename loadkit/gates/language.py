"""The threshold (gate) language: one line per gate, parsed once into a frozen ``Threshold``.

    p(95){step=checkout} < 1.5s over 10s for 30s during spike, abort after 60s
    error_rate{step=queue.poll} < 0.1%
    rate{outcome=dropped} == 0
    invariant(admission_rate, max=600/min)
    regression(p(95){step=checkout}) < 10%

Grammar (``docs/thresholds.md`` is the user reference)::

    threshold := (stat [selector] | invariant(...) | regression(stat [selector])) [op value]
                 clause* ("," action)*
    clause    := over DUR | for DUR | in PCT of windows | during PHASE
               | from TIME to TIME | min N samples
    action    := abort [after DUR] | as warn
    TIME      := (t0 | onsale) [(+|-) DUR]

A parse error is an ``InputError`` (exit 2) showing the text with a caret under the column,
what was expected, and the closest valid word. Numbers must be finite; durations, limits
(except a regression's) and sample counts must not be negative; ``over`` must be positive.
Which steps exist is checked against the scenario by ``loadkit.gates.rules.check_selectors``.
Reading the text (tokens, values, caret errors) is ``loadkit.gates.scanner``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from loadkit.errors import Location, did_you_mean
from loadkit.gates.model import (
    INVARIANTS,
    LATENCY_KINDS,
    PER_VALUES,
    RATIO_KINDS,
    SELECTOR_KEYS,
    Comparison,
    Stat,
    StatKind,
    Threshold,
    TimeRef,
)
from loadkit.gates.scanner import Scanner, caret_error
from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.units import parse_duration_s, parse_fraction, parse_rate_per_s

_INVARIANT_ALIASES = {"fifo_inversions": "fifo", "oversell": "no_oversell"}
_AGGS = {"avg": None, "min": 0.0, "max": 100.0, "med": 50.0}
_SIMPLE_STATS = {
    "error_rate": StatKind.ERROR_RATE,
    "rate": StatKind.RATE,
    "count": StatKind.COUNT,
    "drops": StatKind.DROPS,
    "drop_rate": StatKind.DROP_RATE,
    "share": StatKind.SHARE,
}
STAT_NAMES = (
    "p(N)",
    "p50",
    "p90",
    "p95",
    "p99",
    "avg",
    "min",
    "max",
    "med",
    "service_p(N)",
    "service_avg",
    "service_max",
    "lateness_p(N)",
    "lateness_avg",
    "lateness_max",
    *_SIMPLE_STATS,
    "invariant(NAME)",
    "regression(STAT)",
)
OUTCOMES = tuple(dict.fromkeys([*(o.value for o in Outcome), *(o.value for o in ArrivalOutcome)]))
_KNOWN_WORDS = tuple(
    n.replace("(N)", "").replace("(NAME)", "").replace("(STAT)", "") for n in STAT_NAMES
)
GLOB_CHARS = "*?["


def _stat(p: Scanner) -> Stat:
    start = p.here()
    name = p.match(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[0-9]+)?")
    if name is None:
        raise p.fail("missing stat", "a stat: " + ", ".join(STAT_NAMES))
    for prefix, kind in (("service_", StatKind.SERVICE), ("lateness_", StatKind.LATENESS)):
        if name.startswith(prefix):
            name, family = name[len(prefix) :], kind
            break
    else:
        family = StatKind.RESPONSE
    if name in _SIMPLE_STATS and family is StatKind.RESPONSE:
        return Stat(_SIMPLE_STATS[name])
    if name in _AGGS:
        return Stat(family, _AGGS[name], is_mean=name == "avg")
    m = re.fullmatch(r"p(\d{2})(\.\d+)?|p(\d{3})", name)
    if m:
        q = float(m.group(1) + (m.group(2) or "")) if m.group(1) else float(m.group(3)) / 10
        return Stat(family, q)
    if name == "p" and p.take("("):
        q, _, at = p.value("a percentile between 0 and 100, e.g. p(95)", float, negative=True)
        if not 0 <= q <= 100:
            raise p.fail(f"percentile {q:g} is out of range", "a percentile between 0 and 100", at)
        p.expect(")", "')' to close p(...)")
        return Stat(family, q)
    raise p.fail(f"unknown stat '{name}'", "a stat: " + ", ".join(STAT_NAMES), start, name)


def _selector(p: Scanner) -> tuple[tuple[tuple[str, str], ...], tuple[int, ...]]:
    if not p.take("{"):
        return (), ()
    pairs: list[tuple[str, str]] = []
    columns: list[int] = []
    while True:
        at = p.here()
        key = p.word()
        if key is None:
            raise p.fail("missing selector key", "key=value, keys: " + ", ".join(SELECTOR_KEYS))
        if key not in SELECTOR_KEYS:
            hint = did_you_mean(key, SELECTOR_KEYS)
            raise p.fail(
                f"unknown selector key '{key}'{hint}", "one of " + ", ".join(SELECTOR_KEYS), at
            )
        p.expect("=", f"'=' after '{key}'")
        value_at = p.here()
        value = p.token()
        if value is None:
            raise p.fail(f"missing value for '{key}'", "a name, e.g. step=checkout")
        if key == "outcome" and value not in OUTCOMES and not any(c in value for c in GLOB_CHARS):
            raise p.fail(
                f"unknown outcome '{value}'{did_you_mean(value, OUTCOMES)}",
                "one of " + ", ".join(OUTCOMES),
                value_at,
            )
        if key == "per" and value not in PER_VALUES:
            raise p.fail(
                f"unknown per '{value}'{did_you_mean(value, PER_VALUES)}",
                "per=request (each attempt) or per=intent (attempts folded, as the fan lived it)",
                value_at,
            )
        pairs.append((key, value))
        columns.append(value_at)
        if p.take("}"):
            return tuple(pairs), tuple(columns)
        p.expect(",", "',' or '}' in the selector")


def _comparison(p: Scanner) -> Comparison:
    for op in ("<=", ">=", "==", "!=", "<", ">"):
        if p.take(op):
            return Comparison(op)
    raise p.fail("missing comparison", "one of <, <=, >, >=, ==, !=")


def _limit(p: Scanner, stat: Stat, regression: bool) -> tuple[float, str]:
    if regression:
        what = "a change such as 10% (negative: an improvement is required)"
        value, raw, _ = p.value(what, parse_fraction, negative=True)
        return value, raw
    if stat.kind in RATIO_KINDS:
        value, raw, at = p.value("a percentage such as 1% or 0.5%", parse_fraction)
        if value > 1.0:
            raise p.fail(f"'{raw}' is more than 100%", "a percentage between 0% and 100%", at)
        return value, raw
    if stat.kind in LATENCY_KINDS:
        value, raw, at = p.value("a duration with a unit, such as 800ms or 1.5s", parse_duration_s)
        if re.fullmatch(r"-?[0-9.]+", raw):
            raise p.fail(f"'{raw}' has no unit", "a duration with a unit, e.g. 800ms or 1.5s", at)
        return value * 1000.0, raw
    if stat.kind is StatKind.RATE:
        value, raw, _ = p.value("a rate such as 500/s or 30/min", parse_rate_per_s)
        return value, raw
    value, raw, _ = p.value("a whole number", float)
    return value, raw


def _time_ref(p: Scanner) -> TimeRef:
    anchor = p.word()
    if anchor not in ("t0", "onsale"):
        raise p.fail("missing time", "t0 or onsale, optionally +/- a duration (t0+30s)")
    sign = 1.0 if p.take("+") else (-1.0 if p.take("-") else 0.0)
    return TimeRef(anchor, sign * p.duration_s() if sign else 0.0)


def _min_samples(p: Scanner) -> int:
    what = "a whole number of samples, 0 or more (min 20 samples)"
    value, raw, at = p.value(what, float)
    if not value.is_integer():
        raise p.fail(f"'{raw}' is not a whole number", what, at)
    p.keyword("samples")
    return int(value)


def _clause(p: Scanner, fields: dict[str, object]) -> bool:
    """One window/range/sample clause into ``fields``; False when none starts here."""
    at = p.here()
    if p.keyword("over"):
        fields["over_s"] = p.duration_s()
        if fields["over_s"] == 0:
            raise p.fail("the window is 0s wide", "a positive window, e.g. over 10s", at)
    elif p.keyword("for"):
        fields["for_s"] = p.duration_s()
    elif p.keyword("in"):
        share, raw, share_at = p.value("a percentage such as 95%", parse_fraction)
        if not 0 < share <= 1:
            raise p.fail(
                f"'{raw}' is not a share of windows", "more than 0%, at most 100%", share_at
            )
        fields["in_windows"] = share
        if not (p.keyword("of") and p.keyword("windows")):
            raise p.fail("incomplete window rule", "'of windows' (in 95% of windows)")
    elif p.keyword("during"):
        phase = p.token()
        if phase is None:
            raise p.fail("missing phase name", "a phase of the profile, e.g. during spike")
        fields["phase"] = phase
    elif p.keyword("from"):
        start = fields["start"] = _time_ref(p)
        if not p.keyword("to"):
            raise p.fail("missing 'to'", "from TIME to TIME (from t0+30s to t0+5m)")
        end = fields["end"] = _time_ref(p)
        if start.anchor == end.anchor and end.offset_s <= start.offset_s:
            raise p.fail("the range ends before it starts", "from an earlier to a later TIME", at)
    elif p.keyword("min"):
        fields["min_samples"] = _min_samples(p)
    else:
        return False
    return True


def _clauses(p: Scanner, fields: dict[str, object]) -> None:
    expected = "over, for, in N% of windows, during, from, min N samples, or ',' and an action"
    while not p.at_end() and not p.peek(","):
        at = p.here()
        if not _clause(p, fields):
            raise p.fail(f"unexpected '{p.text[at:].split()[0]}'", expected, at)


def _actions(p: Scanner, fields: dict[str, object]) -> None:
    while p.take(","):
        at = p.here()
        if p.keyword("abort"):
            fields["abort"] = True
            if p.keyword("after"):
                fields["abort_after_s"] = p.duration_s()
        elif p.keyword("as"):
            if not p.keyword("warn"):
                raise p.fail("unknown action", "'as warn'")
            fields["warn"] = True
        else:
            raise p.fail("unknown action", "'abort after DURATION' or 'as warn'", at)
    if not p.at_end():
        raise p.fail("unexpected text", "',' and an action, or the end of the threshold")


def _invariant(p: Scanner, fields: dict[str, object]) -> None:
    p.expect("(", "'(' after invariant")
    at = p.here()
    name = p.word() or ""
    name = _INVARIANT_ALIASES.get(name, name)
    if name not in INVARIANTS:
        raise p.fail(
            f"unknown invariant '{name}'{did_you_mean(name, INVARIANTS)}",
            "one of " + ", ".join(INVARIANTS),
            at,
        )
    params: list[tuple[str, float]] = []
    while p.take(","):
        key_at = p.here()
        key = p.word() or ""
        if key not in INVARIANTS[name]:
            known = ", ".join(INVARIANTS[name]) or "none"
            raise p.fail(
                f"unknown parameter '{key}'{did_you_mean(key, INVARIANTS[name])}",
                f"a parameter of {name} ({known})",
                key_at,
            )
        p.expect("=", f"'=' after {key}")
        convert: Callable[[Any], float] = {
            "max": parse_rate_per_s if name == "admission_rate" else parse_fraction,
            "tolerance": parse_fraction,
            "slack": parse_duration_s,
        }[key]
        if name in ("retry_amplification", "quota"):
            convert = float
        params.append((key, p.value(f"a value for {key}", convert)[0]))
    if name == "admission_rate" and "max" not in dict(params):
        raise p.fail("admission_rate needs the declared rate", "max=RATE, e.g. max=600/min")
    if name == "quota" and "max" not in dict(params):
        raise p.fail("quota needs the number of tickets on sale", "max=N, e.g. max=500")
    p.expect(")", "')' to close invariant(...)")
    fields.update(
        invariant=name, params=tuple(params), op=Comparison.EQ, value=0.0, value_text="holds"
    )


def parse_threshold(text: str, location: Location | None = None) -> Threshold:
    """Parse one threshold line. Raises ``InputError`` (exit 2) with a caret on bad input."""
    p = Scanner(text, location, _KNOWN_WORDS)
    if p.at_end():
        raise p.fail("the threshold is empty", "a stat, e.g. p(95){step=checkout} < 800ms")
    fields: dict[str, object] = {}
    if p.keyword("invariant"):
        stat = Stat(StatKind.INVARIANT)
        _invariant(p, fields)
    else:
        regression = p.keyword("regression")
        if regression:
            p.expect("(", "'(' after regression")
        stat = _stat(p)
        fields["selector"], fields["selector_at"] = _selector(p)
        if regression:
            p.expect(")", "')' to close regression(...)")
        fields["op"] = _comparison(p)
        fields["value"], fields["value_text"] = _limit(p, stat, regression)
        fields["regression"] = regression
    _clauses(p, fields)
    _actions(p, fields)
    lead = len(text) - len(text.lstrip())  # selector columns are kept relative to the stored text
    if lead and fields.get("selector_at"):
        fields["selector_at"] = tuple(c - lead for c in fields["selector_at"])  # type: ignore[attr-defined]
    if lead and location is not None and location.column is not None:
        location = replace(location, column=location.column + lead)
    return Threshold(text=text.strip(), location=location, stat=stat, **fields)  # type: ignore[arg-type]


__all__ = ["GLOB_CHARS", "OUTCOMES", "STAT_NAMES", "caret_error", "parse_threshold"]
