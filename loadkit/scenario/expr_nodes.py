"""What a compiled expression is made of: closures ``fn(scope) -> value`` and how they fold.

The parser (``loadkit.scenario.expr``) builds a ``Node`` per sub-expression: a closure, and its
value when it is constant (``fold`` evaluates a node whose parts are all constant at compile
time). The binary operators, indexing and variable reads raise ``EvalError`` with a short
description of the values at run time; ``metered_root`` resets the allocation meter once per
evaluation (``budget.py``).
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from loadkit.scenario import budget
from loadkit.scenario.budget import BudgetError, EvalError
from loadkit.sources import kind_of


class Scope(Protocol):
    """What an expression reads at run time: the visitor's variables and its random source."""

    vars: dict[str, Any]
    rng: Any  # random.Random


Fn = Callable[[Scope], Any]


@dataclass
class Node:
    """A compiled sub-expression during parsing; ``depth`` counts the closures inside it."""

    fn: Fn
    const: bool
    value: Any = None
    depth: int = 1


def const_node(value: Any) -> Node:
    return Node(lambda _c: value, True, value)


def fold(fn: Fn, *parts: Node) -> Node:
    """Evaluate now when every part is constant (constant strings stay constant).

    A ``BudgetError`` is not deferred to run time: it propagates (the parser reports it).
    """
    depth = 1 + max((p.depth for p in parts), default=0)
    if all(p.const for p in parts):
        budget.start()
        try:
            value = fn(_NO_SCOPE)
        except BudgetError:
            raise
        except EvalError:
            return Node(fn, False, depth=depth)
        node = const_node(value)
        node.depth = depth
        return node
    return Node(fn, False, depth=depth)


class _NoScope:
    """The scope constant folding evaluates in: no variables, no randomness."""

    def __init__(self) -> None:
        self.vars: dict[str, Any] = {}
        self.rng: Any = None


_NO_SCOPE = _NoScope()


def get_item(obj: Any, key: Any) -> Any:
    try:
        return obj[key]
    except (KeyError, IndexError):
        raise EvalError(f"{short(key)} not found in {short(obj)}") from None
    except TypeError:
        raise EvalError(f"cannot index {short(obj)} with {short(key)}") from None


_REPR = reprlib.Repr()  # Python 3.11: no keyword arguments yet
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 6
_REPR.maxlevel = 3


def short(obj: Any) -> str:
    """A short repr, built without ever making the whole text of a big value."""
    text = _REPR.repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def wrap_binary(op: Callable[[Any, Any], Any], sym: str) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        try:
            return op(a, b)
        except TypeError:
            raise EvalError(
                f"cannot compute {short(a)} {sym} {short(b)}: "
                f"'{sym}' does not work on {kind_of(a)} and {kind_of(b)}"
            ) from None
        except (ZeroDivisionError, ValueError, OverflowError, RecursionError) as exc:
            raise EvalError(f"cannot compute {short(a)} {sym} {short(b)}: {exc}") from None

    return apply


BINARY: dict[str, tuple[int, Callable[[Any, Any], Any]]] = {
    "==": (4, lambda a, b: a == b),
    "!=": (4, lambda a, b: a != b),
    "<": (4, lambda a, b: a < b),
    "<=": (4, lambda a, b: a <= b),
    ">": (4, lambda a, b: a > b),
    ">=": (4, lambda a, b: a >= b),
    "in": (4, lambda a, b: a in b),
    "+": (5, budget.add),
    "-": (5, lambda a, b: a - b),
    "*": (6, budget.mul),
    "/": (6, lambda a, b: a / b),
    "//": (6, lambda a, b: a // b),
    "%": (6, budget.mod),
}
METERED_OPS = {"*", "+", "%"}  # ops that charge the per-evaluation meter (see budget.py)


def var_fn(name: str) -> Fn:
    def read(c: Scope) -> Any:
        try:
            return c.vars[name]
        except KeyError:
            raise EvalError(f"variable '{name}' is not set") from None

    return read


def metered_root(fn: Fn) -> Fn:
    """``fn`` with the meter reset first: one evaluation, one allocation budget."""
    meter = budget.METER

    def root(c: Scope) -> Any:
        meter.used = 0
        return fn(c)

    return root


__all__ = [
    "BINARY",
    "METERED_OPS",
    "Fn",
    "Node",
    "Scope",
    "const_node",
    "fold",
    "get_item",
    "metered_root",
    "short",
    "var_fn",
    "wrap_binary",
]
