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

Values are stored in canonical units: milliseconds for latency stats, fractions for rates of
errors/drops and regressions, events per second for ``rate``. A parse error is an
``InputError`` (exit 2) showing the text with a caret under the column, what was expected, and
the closest valid word. Which steps and phases exist is only known from the records, so those
names are checked at analysis time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location, did_you_mean
from loadkit.scenario.models import ThresholdSpec
from loadkit.units import parse_duration_s, parse_fraction, parse_rate_per_s


class StatKind(StrEnum):
    RESPONSE = "response"  # response time from the intended start, ms, ok requests only
    SERVICE = "service"  # service time (start → last byte), ms, ok requests only
    LATENESS = "lateness"  # arrival start lateness, ms
    ERROR_RATE = "error_rate"  # fraction of requests not ok (selector outcome= narrows it)
    RATE = "rate"  # achieved requests per second (outcome=dropped: dropped arrivals per s)
    COUNT = "count"  # number of requests
    DROPS = "drops"  # number of dropped arrivals
    DROP_RATE = "drop_rate"  # fraction of arrivals dropped
    INVARIANT = "invariant"


class Comparison(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def holds(self, observed: float, limit: float) -> bool:
        """True when ``observed <op> limit`` (the gate passes)."""
        return {
            "<": observed < limit,
            "<=": observed <= limit,
            ">": observed > limit,
            ">=": observed >= limit,
            "==": observed == limit,
            "!=": observed != limit,
        }[self.value]


LATENCY_KINDS = (StatKind.RESPONSE, StatKind.SERVICE, StatKind.LATENESS)
ARRIVAL_KINDS = (StatKind.LATENESS, StatKind.DROPS, StatKind.DROP_RATE)
SELECTOR_KEYS = ("step", "name", "persona", "method", "outcome", "status", "worker")
INVARIANTS: dict[str, tuple[str, ...]] = {  # name → accepted parameters
    "no_oversell": (),
    "no_shop_without_token": (),
    "admission_rate": ("max", "tolerance"),
    "fifo": ("max", "slack"),
    "retry_amplification": ("max",),
}
_INVARIANT_ALIASES = {"fifo_inversions": "fifo", "oversell": "no_oversell"}
_AGGS = {"avg": None, "min": 0.0, "max": 100.0, "med": 50.0}
_SIMPLE_STATS = {
    "error_rate": StatKind.ERROR_RATE,
    "rate": StatKind.RATE,
    "count": StatKind.COUNT,
    "drops": StatKind.DROPS,
    "drop_rate": StatKind.DROP_RATE,
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
_KNOWN_WORDS = tuple(
    n.replace("(N)", "").replace("(NAME)", "").replace("(STAT)", "") for n in STAT_NAMES
)


@dataclass(frozen=True)
class Stat:
    """What a threshold measures. ``q`` is a percentile 0–100 (max is 100); None means mean."""

    kind: StatKind
    q: float | None = None
    is_mean: bool = False

    @property
    def label(self) -> str:
        if self.kind not in LATENCY_KINDS:
            return self.kind.value
        prefix = "" if self.kind is StatKind.RESPONSE else f"{self.kind.value}_"
        if self.is_mean:
            return prefix + "avg"
        if self.q == 100.0:
            return prefix + "max"
        if self.q == 0.0:
            return prefix + "min"
        return f"{prefix}p({self.q:g})"


@dataclass(frozen=True)
class TimeRef:
    """A point in run time: ``anchor`` (t0 or onsale) plus ``offset_s``."""

    anchor: str
    offset_s: float

    def resolve_s(self, onsale_offset_s: float) -> float:
        return self.offset_s + (onsale_offset_s if self.anchor == "onsale" else 0.0)


@dataclass(frozen=True)
class Threshold:
    """One parsed gate. See the module docstring for the meaning of each part."""

    text: str
    location: Location | None
    stat: Stat
    selector: tuple[tuple[str, str], ...] = ()
    op: Comparison = Comparison.LE
    value: float = 0.0
    value_text: str = "0"
    over_s: float | None = None
    for_s: float | None = None
    in_windows: float | None = None  # fraction of windows that must pass
    phase: str | None = None
    start: TimeRef | None = None
    end: TimeRef | None = None
    min_samples: int | None = None
    abort: bool = False
    abort_after_s: float | None = None
    warn: bool = False
    invariant: str | None = None
    params: tuple[tuple[str, float], ...] = ()
    regression: bool = False

    @property
    def windowed(self) -> bool:
        return self.over_s is not None or self.for_s is not None or self.in_windows is not None

    @property
    def window_s(self) -> float:
        """Window width: ``over``, else the 1 s base when ``for``/``in`` ask for windows."""
        return self.over_s if self.over_s is not None else 1.0

    def select(self, key: str) -> str | None:
        return dict(self.selector).get(key)

    def param(self, name: str, default: float) -> float:
        return dict(self.params).get(name, default)

    def passes(self, observed: float) -> bool:
        return self.op.holds(observed, self.value)

    def __str__(self) -> str:
        return self.text


class _Parser:
    def __init__(self, text: str, location: Location | None) -> None:
        self.text = text
        self.location = location
        self.pos = 0

    # -- errors ---------------------------------------------------------------------------
    def fail(
        self, problem: str, expected: str, at: int | None = None, near: str = ""
    ) -> InputError:
        col = self.pos if at is None else at
        loc = self.location or Location("<threshold>", 1, None)
        if loc.column is not None and loc.line is not None:
            loc = replace(loc, column=loc.column + col)
        else:
            loc = replace(loc, column=col + 1, line=loc.line or 1)
        hint = f"Expected {expected}." + (did_you_mean(near, _KNOWN_WORDS) if near else "")
        return InputError(
            f"cannot parse threshold: {problem}\n    {self.text}\n    {' ' * col}^",
            location=loc,
            hint=hint,
        )

    # -- scanning -------------------------------------------------------------------------
    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def here(self) -> int:
        self.skip()
        return self.pos

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str, what: str) -> None:
        if not self.take(token):
            raise self.fail(f"missing '{token}'", what)

    def match(self, pattern: str) -> str | None:
        self.skip()
        m = re.compile(pattern).match(self.text, self.pos)
        if not m or not m.group(0):
            return None
        self.pos = m.end()
        return m.group(0)

    def word(self) -> str | None:
        return self.match(r"[A-Za-z_][A-Za-z0-9_]*")

    def token(self) -> str | None:
        quoted = self.match(r'"[^"]*"|\'[^\']*\'')
        if quoted:
            return quoted[1:-1]
        return self.match(r"[A-Za-z0-9_.\-/*:%+]+")

    def keyword(self, word: str) -> bool:
        self.skip()
        m = re.compile(rf"{word}\b").match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m is not None

    def value(self, what: str, convert: type[float] | object) -> tuple[float, str, int]:
        start = self.here()
        raw = self.match(r"-?[0-9.]+(?:[A-Za-zµ%]+[0-9.]*)*(?:/[A-Za-z]+)?|-?\.[0-9]+")
        if raw is None:
            raise self.fail("missing value", what)
        try:
            return float(convert(raw)), raw, start  # type: ignore[operator]
        except ValueError as exc:
            raise self.fail(f"bad value '{raw}': {exc}", what, at=start) from None

    def duration_s(self, what: str = "a duration such as 10s or 500ms") -> float:
        return self.value(what, parse_duration_s)[0]


def _stat(p: _Parser) -> Stat:
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
        q, _, at = p.value("a percentile between 0 and 100, e.g. p(95)", float)
        if not 0 <= q <= 100:
            raise p.fail(f"percentile {q:g} is out of range", "a percentile between 0 and 100", at)
        p.expect(")", "')' to close p(...)")
        return Stat(family, q)
    raise p.fail(f"unknown stat '{name}'", "a stat: " + ", ".join(STAT_NAMES), start, name)


def _selector(p: _Parser) -> tuple[tuple[str, str], ...]:
    if not p.take("{"):
        return ()
    pairs: list[tuple[str, str]] = []
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
        value = p.token()
        if value is None:
            raise p.fail(f"missing value for '{key}'", "a name, e.g. step=checkout")
        pairs.append((key, value))
        if p.take("}"):
            return tuple(pairs)
        p.expect(",", "',' or '}' in the selector")


def _comparison(p: _Parser) -> Comparison:
    for op in ("<=", ">=", "==", "!=", "<", ">"):
        if p.take(op):
            return Comparison(op)
    raise p.fail("missing comparison", "one of <, <=, >, >=, ==, !=")


def _limit(p: _Parser, stat: Stat, regression: bool) -> tuple[float, str]:
    if regression or stat.kind in (StatKind.ERROR_RATE, StatKind.DROP_RATE):
        value, raw, _ = p.value("a percentage such as 1% or 0.5%", parse_fraction)
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


def _time_ref(p: _Parser) -> TimeRef:
    anchor = p.word()
    if anchor not in ("t0", "onsale"):
        raise p.fail("missing time", "t0 or onsale, optionally +/- a duration (t0+30s)")
    sign = 1.0 if p.take("+") else (-1.0 if p.take("-") else 0.0)
    return TimeRef(anchor, sign * p.duration_s() if sign else 0.0)


def _clauses(p: _Parser, fields: dict[str, object]) -> None:
    expected = "over, for, in N% of windows, during, from, min N samples, or ',' and an action"
    while not p.at_end() and not p.peek(","):
        at = p.here()
        if p.keyword("over"):
            fields["over_s"] = p.duration_s()
        elif p.keyword("for"):
            fields["for_s"] = p.duration_s()
        elif p.keyword("in"):
            fields["in_windows"] = p.value("a percentage such as 95%", parse_fraction)[0]
            if not (p.keyword("of") and p.keyword("windows")):
                raise p.fail("incomplete window rule", "'of windows' (in 95% of windows)")
        elif p.keyword("during"):
            phase = p.token()
            if phase is None:
                raise p.fail("missing phase name", "a phase of the profile, e.g. during spike")
            fields["phase"] = phase
        elif p.keyword("from"):
            fields["start"] = _time_ref(p)
            if not p.keyword("to"):
                raise p.fail("missing 'to'", "from TIME to TIME (from t0+30s to t0+5m)")
            fields["end"] = _time_ref(p)
        elif p.keyword("min"):
            fields["min_samples"] = int(p.value("a whole number of samples", float)[0])
            p.keyword("samples")
        else:
            raise p.fail(f"unexpected '{p.text[at:].split()[0]}'", expected, at)


def _actions(p: _Parser, fields: dict[str, object]) -> None:
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


def _invariant(p: _Parser, fields: dict[str, object]) -> None:
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
        if name == "retry_amplification":
            convert = float
        params.append((key, p.value(f"a value for {key}", convert)[0]))
    if name == "admission_rate" and "max" not in dict(params):
        raise p.fail("admission_rate needs the declared rate", "max=RATE, e.g. max=600/min")
    p.expect(")", "')' to close invariant(...)")
    fields.update(
        invariant=name, params=tuple(params), op=Comparison.EQ, value=0.0, value_text="holds"
    )


def parse_threshold(text: str, location: Location | None = None) -> Threshold:
    """Parse one threshold line. Raises ``InputError`` (exit 2) with a caret on bad input."""
    p = _Parser(text, location)
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
        fields["selector"] = _selector(p)
        if regression:
            p.expect(")", "')' to close regression(...)")
        fields["op"] = _comparison(p)
        fields["value"], fields["value_text"] = _limit(p, stat, regression)
        fields["regression"] = regression
    _clauses(p, fields)
    _actions(p, fields)
    return Threshold(text=text.strip(), location=location, stat=stat, **fields)  # type: ignore[arg-type]


def load_thresholds_file(path: str | Path) -> tuple[ThresholdSpec, ...]:
    """Read thresholds from a YAML list of strings, or plain text one per line (``#`` comments).

    Returns specs with file:line; parse them with ``parse_threshold(spec.text, spec.location)``.
    Raises ``InputError`` when the file is missing or not a list of strings.
    """
    from loadkit.sources import LIMITS, load_yaml_text, read_capped_text

    p = Path(path)
    try:
        raw = read_capped_text(p, LIMITS.yaml_bytes, "thresholds file")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the thresholds file: {exc}",
            location=Location(str(p)),
            hint="Check the path (it is relative to the current directory).",
        ) from None
    lines = [ln for ln in raw.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and lines[0].lstrip().startswith(("-", "thresholds:")):
        data = load_yaml_text(raw, str(p))
        if data is None:
            return ()
        if isinstance(data, dict):
            data = data.get("thresholds", data)
        specs = []
        for i, item in enumerate(data):
            loc = data.item_loc(i) if hasattr(data, "item_loc") else Location(str(p))
            if not isinstance(item, str):
                raise InputError(
                    "each threshold must be a string",
                    location=loc,
                    hint='Quote it: - "p(95) < 800ms"',
                )
            specs.append(ThresholdSpec(item, loc))
        return tuple(specs)
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        body = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if body.strip():
            column = len(line) - len(line.lstrip()) + 1
            out.append(ThresholdSpec(body.strip(), Location(str(p), n, column)))
    return tuple(out)


__all__ = [
    "INVARIANTS",
    "SELECTOR_KEYS",
    "STAT_NAMES",
    "Comparison",
    "Stat",
    "StatKind",
    "Threshold",
    "ThresholdSpec",
    "TimeRef",
    "load_thresholds_file",
    "parse_threshold",
]
