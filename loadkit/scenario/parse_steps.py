"""Journey steps from YAML: one mapping per step, recognised by its kind key.

Every problem is recorded (with file:line:column and the closest valid key) and parsing goes
on, so ``loadkit validate`` shows them all at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loadkit.errors import Location, did_you_mean
from loadkit.scenario.models import (
    Branch,
    ChoiceStep,
    ClearCookiesStep,
    Fact,
    FeedStep,
    IfStep,
    LeaveStep,
    RecordStep,
    RepeatStep,
    SetStep,
    Step,
    ThinkStep,
)
from loadkit.scenario.parse_request import RequestParser, is_var_name
from loadkit.scenario.templates import Template
from loadkit.sources import YamlList, YamlMap, kind_of

MAX_REPEAT_TIMES = 100_000

KINDS = (
    "request", "think", "poll", "retry", "choice", "if", "repeat", "leave", "set", "record",
    "feed", "include", "clear_cookies",
)  # fmt: skip
_EXTRA = {
    "request": ("expect", "capture", "record", "on_error"),
    "if": ("then", "else"),
}


class StepParser(RequestParser):
    """Parses step lists; ``blocks`` are named step lists spliced in by ``include``."""

    def __init__(self, *args: Any, blocks: YamlMap | None = None, feeders: set[str], **kw: Any):
        super().__init__(*args, **kw)
        self.blocks = blocks if blocks is not None else YamlMap()
        self.feeders = feeders
        self._block_cache: dict[str, tuple[Step, ...]] = {}
        self._including: list[str] = []
        self._handlers: dict[str, Callable[[YamlMap, str, Location], Step | None]] = {
            "request": self.request_step,
            "think": self._think,
            "poll": self.poll_step,
            "retry": self.retry_step,
            "choice": self._choice,
            "if": self._if,
            "repeat": self._repeat,
            "leave": self._leave,
            "set": self._set,
            "record": self._record,
            "feed": self._feed,
            "clear_cookies": self._clear_cookies,
        }

    # ------------------------------------------------------------------ lists and dispatch

    def steps(self, value: Any, loc: Location, what: str = "steps") -> tuple[Step, ...]:
        if not isinstance(value, YamlList):
            self.problems.add(f"{what} must be a list of steps (lines starting with '- '), "
                              f"got {kind_of(value)}.", loc)  # fmt: skip
            return ()
        out: list[Step] = []
        for i, raw in enumerate(value):
            iloc = value.item_loc(i)
            if isinstance(raw, YamlMap) and "include" in raw:
                out.extend(self._include(raw, iloc))
                continue
            step = self.step(raw, iloc)
            if step is not None:
                out.append(step)
        return tuple(out)

    def step(self, raw: Any, loc: Location) -> Step | None:
        if not isinstance(raw, YamlMap):
            self.problems.add(
                f"a step must be a mapping such as '- think: 2s', got {raw!r}.", loc,
                hint=f"Step kinds: {', '.join(KINDS)}.",
            )  # fmt: skip
            return None
        kinds = [k for k in KINDS if k in raw and not (k == "record" and "request" in raw)]
        if len(kinds) != 1:
            self._kind_problem(raw, kinds, loc)
            return None
        kind = kinds[0]
        self.problems.check_keys(raw, ("name", kind, *_EXTRA.get(kind, ())), what=f"a {kind} step")
        name = self._name(raw)
        return self._handlers[kind](raw, name, raw.loc)

    def _kind_problem(self, raw: YamlMap, kinds: list[str], loc: Location) -> None:
        if kinds:
            self.problems.add(
                f"a step has one kind, this one has {len(kinds)}: {', '.join(kinds)}.", loc,
                hint="Split it into separate '- ' items.",
            )  # fmt: skip
            return
        unknown = [k for k in raw if k != "name"]
        if unknown:
            key = unknown[0]
            self.problems.add(
                f"unknown step kind '{key}'.", raw.key_loc(key),
                hint=(did_you_mean(key, KINDS).strip() + f" Step kinds: {', '.join(KINDS)}.").strip(),
            )  # fmt: skip
        else:
            self.problems.add("empty step: add a kind such as 'request:' or 'think:'.", loc)

    def _name(self, raw: YamlMap) -> str:
        name = raw.get("name", "")
        if not isinstance(name, str):
            self.problems.add("a step name must be text.", raw.value_loc("name"))
            return ""
        return name

    def _include(self, raw: YamlMap, loc: Location) -> tuple[Step, ...]:
        self.problems.check_keys(raw, ("include",), what="an include step")
        block = raw["include"]
        if not isinstance(block, str) or block not in self.blocks:
            hint = did_you_mean(str(block), self.blocks).strip()
            self.problems.add(
                f"no block called {block!r} under 'blocks:'.", raw.value_loc("include"),
                hint=hint or f"Blocks: {', '.join(self.blocks) or '(none)'}.",
            )  # fmt: skip
            return ()
        if block in self._including:
            chain = " → ".join([*self._including, block])
            self.problems.add(f"block includes itself: {chain}.", raw.value_loc("include"))
            return ()
        if block not in self._block_cache:
            self._including.append(block)
            self._block_cache[block] = self.steps(self.blocks[block], self.blocks.value_loc(block))
            self._including.pop()
        return self._block_cache[block]

    # ------------------------------------------------------------------ simple kinds

    def _think(self, raw: YamlMap, name: str, loc: Location) -> Step:
        return ThinkStep(
            name or "think", loc, self.values.think(raw["think"], raw.value_loc("think"))
        )

    def _choice(self, raw: YamlMap, name: str, loc: Location) -> Step | None:
        value = raw["choice"]
        if not isinstance(value, YamlList) or not value:
            self.problems.add(
                "choice takes a list of branches: '- {weight: 3, steps: [...]}'.",
                raw.value_loc("choice"),
            )
            return None
        branches: list[Branch] = []
        for i, item in enumerate(value):
            iloc = value.item_loc(i)
            if not isinstance(item, YamlMap):
                self.problems.add("a branch is a mapping with 'weight' and 'steps'.", iloc)
                continue
            self.problems.check_keys(item, ("weight", "steps"), ("weight", "steps"), "a branch")
            weight = self.weight(item.get("weight", 1), item.value_loc("weight"))
            steps = self.steps(item.get("steps", YamlList()), item.value_loc("steps"))
            branches.append(Branch(weight, steps, iloc))
        if branches and sum(b.weight for b in branches) <= 0:
            self.problems.add("the branch weights add up to zero.", raw.value_loc("choice"))
        return ChoiceStep(name or "choice", loc, tuple(branches))

    def _if(self, raw: YamlMap, name: str, loc: Location) -> Step:
        cond = self.values.expr(raw["if"], raw.value_loc("if"))
        if "then" not in raw:
            self.problems.add("an 'if' step needs 'then:' (a list of steps).", loc)
        then = self.steps(raw.get("then", YamlList()), raw.value_loc("then"), "then")
        other = self.steps(raw["else"], raw.value_loc("else"), "else") if "else" in raw else ()
        return IfStep(name or "if", loc, cond, then, other)

    def _repeat(self, raw: YamlMap, name: str, loc: Location) -> Step | None:
        spec = raw["repeat"]
        if not isinstance(spec, YamlMap):
            self.problems.add("repeat takes a mapping: {times: 3, steps: [...]}.", loc)
            return None
        keys = ("times", "while", "until", "as", "steps")
        self.problems.check_keys(spec, keys, ("steps",), "repeat")
        if not any(k in spec for k in ("times", "while", "until")):
            self.problems.add("repeat needs 'times', 'while' or 'until' (or it never ends).", loc)
        times = None
        if "times" in spec:
            times = self.values.integer(spec["times"], spec.value_loc("times"), "times", 0)
            if times > MAX_REPEAT_TIMES:  # a loop of quick steps would hold a CPU for hours
                self.problems.add(f"times must be at most {MAX_REPEAT_TIMES:,}, got {times:,}.",
                                  spec.value_loc("times"))  # fmt: skip
                times = MAX_REPEAT_TIMES
        index_var = spec.get("as")
        if index_var is not None and not is_var_name(index_var):
            self.problems.add(
                f"'as' must be a variable name, got {index_var!r}.", spec.value_loc("as")
            )
            index_var = None
        return RepeatStep(
            name or "repeat", loc,
            steps=self.steps(spec.get("steps", YamlList()), spec.value_loc("steps")),
            times=times,
            while_=self._opt_expr(spec, "while"),
            until=self._opt_expr(spec, "until"),
            index_var=index_var,
        )  # fmt: skip

    def _leave(self, raw: YamlMap, name: str, loc: Location) -> Step:
        from loadkit.results.schema import ArrivalOutcome

        value, vloc = raw["leave"], raw.value_loc("leave")
        outcome = ArrivalOutcome.ABANDONED
        if isinstance(value, YamlMap):
            self.problems.check_keys(value, ("reason", "outcome"), ("reason",), "leave")
            if "outcome" in value:
                outcome = self.values.end(value["outcome"], value.value_loc("outcome"), False) \
                    or outcome  # fmt: skip
            value, vloc = value.get("reason", ""), value.value_loc("reason")
        reason = self.values.template(str(value), vloc, "leave reason")
        return LeaveStep(name or "leave", loc, reason, outcome)

    def _set(self, raw: YamlMap, name: str, loc: Location) -> Step | None:
        value = raw["set"]
        if not isinstance(value, YamlMap):
            self.problems.add("set takes a mapping of variable: value.", raw.value_loc("set"))
            return None
        pairs = []
        for var, item in value.items():
            if not is_var_name(var):
                self.problems.add(f"{var!r} is not a variable name.", value.key_loc(var))
            pairs.append((var, self.values.template(item, value.value_loc(var))))
        return SetStep(name or "set", loc, tuple(pairs))

    def _record(self, raw: YamlMap, name: str, loc: Location) -> Step:
        return RecordStep(
            name or "record", loc, self.record(raw["record"], raw.value_loc("record"))
        )

    def record(self, value: Any, loc: Location) -> tuple[tuple[Fact, Template], ...]:
        if not isinstance(value, YamlMap):
            self.problems.add("record takes a mapping of fact: value.", loc)
            return ()
        facts = [str(f) for f in Fact]
        self.problems.check_keys(value, facts, what="record")
        return tuple(
            (Fact(k), self.values.template(v, value.value_loc(k), f"record.{k}"))
            for k, v in value.items()
            if k in facts
        )

    def _feed(self, raw: YamlMap, name: str, loc: Location) -> Step:
        value, vloc = raw["feed"], raw.value_loc("feed")
        var = None
        if isinstance(value, YamlMap):
            self.problems.check_keys(value, ("feeder", "as"), ("feeder",), "feed")
            var = value.get("as")
            value, vloc = value.get("feeder", ""), value.value_loc("feeder")
        if value not in self.feeders:
            hint = did_you_mean(str(value), self.feeders).strip()
            self.problems.add(
                f"no feeder called {value!r} under 'feeders:'.", vloc,
                hint=hint or f"Feeders: {', '.join(sorted(self.feeders)) or '(none)'}.",
            )  # fmt: skip
        var = var if isinstance(var, str) and is_var_name(var) else str(value)
        return FeedStep(name or f"feed {value}", loc, str(value), var)

    def _clear_cookies(self, raw: YamlMap, name: str, loc: Location) -> Step:
        return ClearCookiesStep(name or "clear_cookies", loc)


__all__ = ["KINDS", "StepParser"]
