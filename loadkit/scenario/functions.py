"""The whitelisted functions of the expression language, and the data generators.

Pure functions (``len``, ``int``, ...) fold at compile time when their arguments are constant.
Generators (``uuid``, ``randint``, ``choice``, ``zipf``, ``zipf_pick``, ...) draw from the
visitor's own ``random.Random`` (seeded per arrival), so a run is reproducible from its seed.
"""

from __future__ import annotations

import bisect
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loadkit.scenario import budget
from loadkit.scenario.budget import EvalError
from loadkit.scenario.expr_nodes import Node, fold
from loadkit.sources import kind_of

ArgFn = Callable[[Any], Any]


@dataclass(frozen=True)
class FuncSpec:
    """One callable: ``impl(*args)`` or, for generators, ``impl(rng, *args)``."""

    impl: Callable[..., Any]
    min_args: int
    max_args: int
    uses_rng: bool = False
    pure: bool = True
    doc: str = ""
    metered: bool = False  # it makes values the per-evaluation meter counts (budget.py)

    def arity_text(self) -> str:
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"

    def compile(self, name: str, args: list[ArgFn], all_const: bool) -> Node:
        impl = self.impl

        def guard(values: list[Any]) -> Any:
            try:
                return impl(*values)
            except EvalError:
                raise
            except (TypeError, AttributeError):  # a method the value's type does not have
                shown = values[1:] if self.uses_rng else values
                kinds = ", ".join(kind_of(v) for v in shown) or "no arguments"
                raise EvalError(f"{name}() does not work on {kinds}") from None
            except (ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError,
                    RecursionError) as exc:  # fmt: skip
                raise EvalError(f"{name}() failed: {exc}") from None

        if self.uses_rng:

            def call_rng(c: Any) -> Any:
                return guard([c.rng, *[a(c) for a in args]])

            return Node(call_rng, False)
        if len(args) == 1:
            (only,) = args

            def call_one(c: Any) -> Any:
                return guard([only(c)])

            fn: Callable[[Any], Any] = call_one
        else:

            def call_many(c: Any) -> Any:
                return guard([a(c) for a in args])

            fn = call_many
        if self.pure and all_const:
            return fold(fn)
        return Node(fn, False)


def _min(*args: Any) -> Any:
    return min(args[0]) if len(args) == 1 else min(args)


def _max(*args: Any) -> Any:
    return max(args[0]) if len(args) == 1 else max(args)


def _round(x: float, ndigits: int | None = None) -> float:
    if ndigits is not None and not -budget.MAX_ROUND_DIGITS <= ndigits <= budget.MAX_ROUND_DIGITS:
        raise ValueError(f"round() takes at most {budget.MAX_ROUND_DIGITS} digits")
    return round(x, ndigits)


def _range(a: int, b: int | None = None) -> list[int]:
    span = range(a) if b is None else range(a, b)
    budget.grown_list(len(span), "range()")
    budget.charge(len(span) * 32)  # each item is also a new int object
    return list(span)


def _int(value: Any) -> int:
    return budget.cap_int(int(value), "int()")


def _str(value: Any) -> str:
    budget.cap_text_of(value, "str()")
    out = str(value)
    budget.grown_text(len(out), "str()")
    return out


def _join(items: Sequence[Any], sep: str = ",") -> str:
    parts, total = [], 0
    for item in items:
        text = item if isinstance(item, str) else _str(item)
        total += len(text) + len(sep)
        budget.cap_text(total, "join()")
        parts.append(text)
    budget.charge(total)
    return sep.join(parts)


def _split(text: str, sep: str = ",") -> list[str]:
    if not isinstance(text, str):
        raise TypeError("split() takes text")
    if isinstance(sep, str) and sep:
        budget.grown_list(text.count(sep) + 1, "split()")
    return text.split(sep)


def _case(method: Callable[[str], str]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        out = method(text)
        budget.grown_text(len(out), f"{method.__name__}()")
        return out

    return apply


def _get(obj: Any, key: Any, default: Any = None) -> Any:
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError):
        return default


def _uuid(rng: Any) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _choice(rng: Any, items: Sequence[Any], weights: Sequence[float] | None = None) -> Any:
    if not items:
        raise ValueError("choice() from an empty list")
    if weights is None:
        return items[rng.randrange(len(items))]
    if len(weights) != len(items):
        raise ValueError(f"{len(items)} items but {len(weights)} weights")
    return rng.choices(items, weights=weights)[0]


@functools.lru_cache(maxsize=256)
def _zipf_cum(n: int, s: float) -> tuple[float, ...]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += rank**-s
        out.append(total)
    return tuple(out)


def _zipf_index(rng: Any, n: int, s: float) -> int:
    cum = _zipf_cum(n, s)
    return bisect.bisect_right(cum, rng.random() * cum[-1])


def _zipf(rng: Any, n: int, s: float = 1.1) -> int:
    """A rank in 1..n with P(r) ∝ r^-s (rank 1 = most wanted)."""
    if n < 1:
        raise ValueError("zipf() needs n >= 1")
    if n > budget.MAX_ITEMS:
        raise ValueError(f"zipf() takes n up to {budget.MAX_ITEMS:,}")
    return min(_zipf_index(rng, int(n), float(s)), n - 1) + 1


def _zipf_pick(rng: Any, items: Sequence[Any], k: int = 1, s: float = 1.1) -> list[Any]:
    """``k`` distinct items of a ranked list (best first), front items preferred as Zipf(s).

    Returns fewer than ``k`` items only when the list is shorter than ``k``.
    """
    n = len(items)
    k = int(k)
    if n <= k:
        return list(items)
    chosen: set[int] = set()
    for _ in range(20 * k):  # rejection sampling: k is small (a few seats)
        chosen.add(min(_zipf_index(rng, n, float(s)), n - 1))
        if len(chosen) == k:
            break
    rest = (i for i in range(n) if i not in chosen)
    while len(chosen) < k:
        chosen.add(next(rest))
    return [items[i] for i in sorted(chosen)]


def _sample(rng: Any, items: Sequence[Any], k: int) -> list[Any]:
    return list(rng.sample(list(items), min(int(k), len(items))))


FUNCTIONS: dict[str, FuncSpec] = {
    "len": FuncSpec(len, 1, 1, doc="length of a list, string or mapping"),
    "int": FuncSpec(_int, 1, 1, doc="integer from a number or numeric string"),
    "float": FuncSpec(float, 1, 1, doc="float from a number or numeric string"),
    "str": FuncSpec(_str, 1, 1, metered=True, doc="text form of a value"),
    "bool": FuncSpec(bool, 1, 1, doc="truth value"),
    "min": FuncSpec(_min, 1, 8, doc="smallest of the arguments or of one list"),
    "max": FuncSpec(_max, 1, 8, doc="largest of the arguments or of one list"),
    "abs": FuncSpec(abs, 1, 1, doc="absolute value"),
    "round": FuncSpec(_round, 1, 2, doc="round(x) or round(x, digits)"),
    "sum": FuncSpec(sum, 1, 1, doc="sum of a list of numbers"),
    "lower": FuncSpec(_case(str.lower), 1, 1, metered=True, doc="lower-case text"),
    "upper": FuncSpec(_case(str.upper), 1, 1, metered=True, doc="upper-case text"),
    "join": FuncSpec(_join, 1, 2, metered=True, doc="join(list, sep)"),
    "split": FuncSpec(_split, 1, 2, metered=True, doc="split(text, sep)"),
    "range": FuncSpec(_range, 1, 2, metered=True, doc="range(n) or range(a, b) as a list"),
    "get": FuncSpec(_get, 2, 3, doc="get(mapping_or_list, key, default=null)"),
    "now": FuncSpec(time.time, 0, 0, pure=False, doc="wall-clock time, epoch seconds"),
    "uuid": FuncSpec(_uuid, 0, 0, uses_rng=True, doc="a random UUID4 (from the visitor's seed)"),
    "random": FuncSpec(lambda rng: rng.random(), 0, 0, uses_rng=True, doc="uniform in [0, 1)"),
    "randint": FuncSpec(
        lambda rng, a, b: rng.randint(a, b),
        2,
        2,
        uses_rng=True,
        doc="randint(a, b): integer in [a, b]",
    ),
    "uniform": FuncSpec(
        lambda rng, a, b: rng.uniform(a, b),
        2,
        2,
        uses_rng=True,
        doc="uniform(a, b): float in [a, b]",
    ),
    "choice": FuncSpec(_choice, 1, 2, uses_rng=True, doc="choice(items) or choice(items, weights)"),
    "sample": FuncSpec(_sample, 2, 2, uses_rng=True, doc="sample(items, k): k distinct items"),
    "zipf": FuncSpec(_zipf, 1, 2, uses_rng=True, doc="zipf(n, s=1.1): a rank in 1..n"),
    "zipf_pick": FuncSpec(
        _zipf_pick,
        1,
        3,
        uses_rng=True,
        doc="zipf_pick(ranked_items, k=1, s=1.1): k distinct, front preferred",
    ),
}

__all__ = ["FUNCTIONS", "FuncSpec"]
