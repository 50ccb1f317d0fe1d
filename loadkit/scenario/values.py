"""Small located parsers shared by the scenario loader: expressions, templates, durations,
think times, hazards, statuses. Each records a problem and returns a usable default, so one
pass reports everything."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from loadkit.errors import Location
from loadkit.results.schema import ArrivalOutcome
from loadkit.scenario import budget
from loadkit.scenario.expr import Expr, ExprError, compile_expr
from loadkit.scenario.jsonpath import JsonPath, compile_jsonpath
from loadkit.scenario.models import HazardStage, ThinkKind, ThinkSpec
from loadkit.scenario.patterns import DEFAULT_REGEX_TIMEOUT_S, BoundedRegex, compile_regex
from loadkit.scenario.templates import Template, compile_template, compile_value
from loadkit.sources import Problems, YamlList, YamlMap, kind_of
from loadkit.units import parse_duration_s, parse_fraction

_FALSE_EXPR = compile_expr("false")
_EMPTY_TEMPLATE = compile_template("")
END_CHOICES = {
    "completed": ArrivalOutcome.COMPLETED,
    "abandoned": ArrivalOutcome.ABANDONED,
    "leave": ArrivalOutcome.ABANDONED,
    "gave_up": ArrivalOutcome.GAVE_UP,
    "give_up": ArrivalOutcome.GAVE_UP,
    "failed": ArrivalOutcome.FAILED,
    "fail": ArrivalOutcome.FAILED,
}


class Values:
    """Located value parsing; remembers where each compiled template/expression came from."""

    def __init__(
        self,
        problems: Problems,
        time_scale: float = 1.0,
        lines: list[str] | None = None,
        regex_timeout_s: float = DEFAULT_REGEX_TIMEOUT_S,
    ) -> None:
        self.problems = problems
        self.time_scale = time_scale
        self.regex_timeout_s = regex_timeout_s
        self.lines = lines or []  # the source, to point at the exact character of an error
        self.where: dict[int, Location] = {}
        self.folded = 0  # the footprint of every constant folded so far (see ``_folded_ok``)

    def _folded_ok(self, value: Any, loc: Location) -> bool:
        """Whether the file's folded constants, with ``value``, stay within the budget: each
        expression is bounded, but a file of many could still hold gigabytes."""
        if self.folded > budget.MAX_FOLDED:  # over already, and reported once
            return False
        self.folded += budget.footprint(value)
        if self.folded <= budget.MAX_FOLDED:
            return True
        self.problems.add(
            f"the constant values in this file add up to over {budget.MAX_FOLDED // 10**6} MB; "
            "loadkit stops folding here.",
            loc,
            hint="Build big test data at run time, or put it in a feeder file.",
        )
        return False

    def _bad_expr(
        self, what: str, exc: ExprError, loc: Location, raw: str | None = None, shift: int = 0
    ) -> None:
        offset = exc.offset + shift
        self.problems.add(f"bad {what}: {exc} (at character {offset + 1})",
                          self._at(loc, raw, offset))  # fmt: skip

    def _at(self, loc: Location, raw: str | None, offset: int) -> Location:
        """``loc`` moved to character ``offset`` of ``raw`` when ``raw`` is written on that line
        as is (plain or in quotes without escapes); else ``loc`` unchanged."""
        if raw is None or loc.line is None or loc.column is None:
            return loc
        if not 0 < loc.line <= len(self.lines):
            return loc
        line, col = self.lines[loc.line - 1], loc.column - 1
        if line[col : col + 1] in ("'", '"'):
            col += 1
        if not line.startswith(raw[: offset + 1], col):
            return loc
        return replace(loc, column=col + offset + 1)

    def expr(self, value: Any, loc: Location, what: str = "condition") -> Expr:
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            self.problems.add(f"{what} must be an expression (text), got {_kind(value)}.", loc)
            return _FALSE_EXPR
        raw = str(value)
        text = raw.strip()
        shift = raw.index(text) if text else 0
        if text.startswith("{{") and text.endswith("}}"):
            text, shift = text[2:-2], shift + 2
        try:
            out = compile_expr(text)
        except ExprError as exc:
            self._bad_expr(what, exc, loc, raw, shift)
            return _FALSE_EXPR
        if out.const and not self._folded_ok(out.value, loc):
            return _FALSE_EXPR
        self.where[id(out)] = loc
        return out

    def template(self, value: Any, loc: Location, what: str = "template") -> Template:
        try:
            out = compile_value(value)
        except ExprError as exc:
            self._bad_expr(what, exc, loc, value if isinstance(value, str) else None)
            return _EMPTY_TEMPLATE
        if out.const and not self._folded_ok(out.value, loc):
            return _EMPTY_TEMPLATE
        self.where[id(out)] = loc
        return out

    def jsonpath(self, value: Any, loc: Location) -> JsonPath | None:
        if not isinstance(value, str):
            self.problems.add(f"a JSONPath must be text such as $.id, got {_kind(value)}.", loc)
            return None
        try:
            return compile_jsonpath(value)
        except ExprError as exc:
            self.problems.add(f"bad JSONPath {value!r}: {exc} (at character {exc.offset + 1})",
                              self._at(loc, value, exc.offset))  # fmt: skip
            return None

    def regex(self, value: Any, loc: Location) -> BoundedRegex | None:
        """A scenario regex, searched at run time within ``regex_timeout_s``."""
        if not isinstance(value, str):
            self.problems.add(f"a regex must be text, got {_kind(value)}.", loc)
            return None
        try:
            return compile_regex(value, self.regex_timeout_s)
        except ValueError as exc:
            shown = value if len(value) <= 200 else value[:200] + "…"
            self.problems.add(f"bad regex {shown!r}: {exc}.", loc)
            return None

    def duration(self, value: Any, loc: Location, what: str = "duration") -> float:
        try:
            out = parse_duration_s(value)
        except ValueError as exc:
            self.problems.add(f"bad {what}: {exc}", loc)
            return 0.0
        if out < 0:
            self.problems.add(f"{what} cannot be negative, got {value!r}", loc)
            return 0.0
        return out

    def fraction(self, value: Any, loc: Location, what: str) -> float:
        try:
            out = parse_fraction(value)
        except ValueError as exc:
            self.problems.add(f"bad {what}: {exc}", loc)
            return 0.0
        if not 0 <= out <= 1:
            self.problems.add(f"{what} must be between 0% and 100%, got {value!r}", loc)
        return out

    def think(self, value: Any, loc: Location, scale: bool = True) -> ThinkSpec:
        """``2s`` | ``{constant: 2s}`` | ``{uniform: [2s, 5s]}`` | ``{exponential: 3s}`` |
        ``{lognormal: {median: 8s, sigma: 0.5}}``."""
        k = self.time_scale if scale else 1.0
        if not isinstance(value, YamlMap):
            return ThinkSpec(ThinkKind.CONSTANT, self.duration(value, loc, "think time") * k)
        kinds = [str(x) for x in ThinkKind]
        self.problems.check_keys(value, kinds, what="a think time")
        present = [x for x in kinds if x in value]
        if len(present) != 1:
            self.problems.add(f"a think time needs exactly one of {', '.join(kinds)}.", loc)
            return ThinkSpec(ThinkKind.CONSTANT, 0.0)
        kind = ThinkKind(present[0])
        raw, vloc = value[kind], value.value_loc(kind)
        if kind is ThinkKind.UNIFORM:
            if not isinstance(raw, YamlList) or len(raw) != 2:
                self.problems.add("uniform takes two durations: [low, high].", vloc)
                return ThinkSpec(kind, 0.0, 0.0)
            lo, hi = (self.duration(x, raw.item_loc(i), "think time") for i, x in enumerate(raw))
            if hi < lo:
                self.problems.add(f"uniform: high ({raw[1]}) is below low ({raw[0]}).", vloc)
            return ThinkSpec(kind, lo * k, hi * k)
        if kind is ThinkKind.LOGNORMAL:
            if not isinstance(raw, YamlMap):
                self.problems.add("lognormal takes {median: 8s, sigma: 0.5}.", vloc)
                return ThinkSpec(kind, 0.0, 0.0)
            self.problems.check_keys(raw, ["median", "sigma"], ["median"], "lognormal")
            median = self.duration(raw.get("median", 0), raw.value_loc("median"), "median")
            sigma = self.number(raw.get("sigma", 0.5), raw.value_loc("sigma"), "sigma", 0.0)
            return ThinkSpec(kind, median * k, sigma)
        if isinstance(raw, YamlMap) and kind is ThinkKind.EXPONENTIAL:
            self.problems.check_keys(raw, ["mean"], ["mean"], "exponential")
            raw, vloc = raw.get("mean", 0), raw.value_loc("mean")
        return ThinkSpec(kind, self.duration(raw, vloc, "think time") * k)

    def number(self, value: Any, loc: Location, what: str, minimum: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.add(f"{what} must be a number, got {_kind(value)} {value!r}.", loc)
            return 0.0
        if minimum is not None and value < minimum:
            self.problems.add(f"{what} must be at least {minimum:g}, got {value}.", loc)
        return float(value)

    def integer(self, value: Any, loc: Location, what: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(f"{what} must be a whole number, got {_kind(value)} {value!r}.", loc)
            return minimum
        if value < minimum:
            self.problems.add(f"{what} must be at least {minimum}, got {value}.", loc)
        return value

    def hazard(self, value: Any, loc: Location) -> tuple[HazardStage, ...]:
        """``1%/min`` or a list ``[{rate: 1%/min}, {after: 60m, rate: 3%/min}]``."""
        items = value if isinstance(value, YamlList) else [value]
        stages: list[HazardStage] = []
        for i, item in enumerate(items):
            iloc = value.item_loc(i) if isinstance(value, YamlList) else loc
            after_s, rate = 0.0, item
            if isinstance(item, YamlMap):
                self.problems.check_keys(item, ["after", "rate"], ["rate"], "an abandon stage")
                after_s = self.duration(item.get("after", 0), item.value_loc("after"), "after")
                rate, iloc = item.get("rate", "0%/min"), item.value_loc("rate")
            stages.append(HazardStage(after_s, self._rate(rate, iloc)))
        return tuple(sorted(stages, key=lambda s: s.after_s))

    def _rate(self, value: Any, loc: Location) -> float:
        text = str(value)
        frac_text, _, unit = text.partition("/")
        try:
            p = parse_fraction(frac_text)
            per_s = parse_duration_s(unit if unit[:1].isdigit() else "1" + unit)
            if not 0 <= p < 1 or per_s <= 0:
                raise ValueError
        except ValueError:
            self.problems.add(
                f"bad abandonment rate {value!r}: write a chance per time, e.g. 1%/min.", loc
            )
            return 0.0
        return -math.log1p(-p) / per_s

    def end(self, value: Any, loc: Location, allow_continue: bool) -> ArrivalOutcome | None:
        if allow_continue and value == "continue":
            return None
        if value in END_CHOICES:
            return END_CHOICES[value]
        choices = ["give_up", "leave", "fail", "completed"] + (
            ["continue"] if allow_continue else []
        )
        self.problems.add(f"bad value {value!r}; use one of {', '.join(choices)}.", loc)
        return ArrivalOutcome.FAILED


def parse_statuses(value: Any) -> set[int]:
    """``201``, ``"2xx"``, ``[200, 201, "3xx"]`` → a set of codes. ``ValueError`` if bad."""
    items = value if isinstance(value, list) else [value]
    out: set[int] = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            out.add(item)
        elif isinstance(item, str) and re.fullmatch(r"[1-5]xx", item):
            base = int(item[0]) * 100
            out.update(range(base, base + 100))
        elif isinstance(item, str) and item.isdigit() and 100 <= int(item) <= 599:
            out.add(int(item))
        else:
            raise ValueError(f"expected HTTP status codes such as 201 or '2xx', got {item!r}")
    return out


def _kind(value: Any) -> str:
    return kind_of(value)


__all__ = ["END_CHOICES", "Values", "parse_statuses"]
