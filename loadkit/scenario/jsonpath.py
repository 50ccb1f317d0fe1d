"""A JSONPath subset for captures and expectations, compiled once into a closure.

Supported: ``$`` root, ``.name``, ``['name']``, ``[n]`` (negative counts from the end),
``[*]`` and ``.*`` (every item), ``..name`` (recursive descent), ``[a:b]`` slices and filters
``[?(@.state == 'free' and @.price < 100)]`` written in the expression language (``@`` is the
item). A path with only names and indexes is *single*: it yields one value or nothing. Any
other path yields a list (possibly empty).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from loadkit.scenario.expr import EvalError, ExprError, compile_expr

_Select = Callable[[Any], Iterator[Any]]
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_MISSING = object()


@dataclass(frozen=True)
class JsonPath:
    """``find(doc)`` returns a value (single path) or a list; ``MISSING`` when a single path
    matches nothing."""

    source: str
    single: bool = field(repr=False)
    find: Callable[[Any], Any] = field(repr=False, compare=False)


MISSING: Any = _MISSING


class _ItemScope:
    __slots__ = ("rng", "vars")

    def __init__(self, item: Any) -> None:
        self.vars = {"@": item}
        self.rng = None


def _child(name: str) -> _Select:
    def select(node: Any) -> Iterator[Any]:
        if isinstance(node, dict) and name in node:
            yield node[name]

    return select


def _index(i: int) -> _Select:
    def select(node: Any) -> Iterator[Any]:
        if isinstance(node, list) and -len(node) <= i < len(node):
            yield node[i]

    return select


def _wildcard(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _slice(a: int | None, b: int | None) -> _Select:
    def select(node: Any) -> Iterator[Any]:
        if isinstance(node, list):
            yield from node[a:b]

    return select


def _descend(name: str) -> _Select:
    def select(node: Any) -> Iterator[Any]:
        stack = [node]
        while stack:
            cur = stack.pop()
            if isinstance(cur, dict):
                if name in cur:
                    yield cur[name]
                stack.extend(reversed(list(cur.values())))
            elif isinstance(cur, list):
                stack.extend(reversed(cur))

    return select


def _filter(text: str, offset: int) -> _Select:
    try:
        expr = compile_expr(text)
    except ExprError as exc:
        raise ExprError(f"bad filter: {exc}", offset + exc.offset) from None
    if expr.names - {"@"} or expr.env:
        raise ExprError("a filter may only read '@' (the item)", offset)
    fn = expr.fn

    def select(node: Any) -> Iterator[Any]:
        items = node if isinstance(node, list) else []
        for item in items:
            try:
                if fn(_ItemScope(item)):
                    yield item
            except EvalError:
                continue  # an item without the field does not match

    return select


def _parse_bracket(text: str, pos: int) -> tuple[_Select, bool, int]:
    """Parse ``[...]`` at ``pos`` (after '['); return selector, is_single, position after ']'."""
    if text.startswith("?(", pos):
        end = text.find(")]", pos)
        if end < 0:
            raise ExprError("filter without closing ')]'", pos)
        return _filter(text[pos + 2 : end], pos + 2), False, end + 2
    end = text.find("]", pos)
    if end < 0:
        raise ExprError("'[' without a closing ']'", pos)
    inner = text[pos:end].strip()
    if inner == "*":
        return _wildcard, False, end + 1
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _child(inner[1:-1]), True, end + 1
    if re.fullmatch(r"-?\d+", inner):
        return _index(int(inner)), True, end + 1
    m = re.fullmatch(r"(-?\d+)?:(-?\d+)?", inner)
    if m:
        a, b = (int(g) if g else None for g in m.groups())
        return _slice(a, b), False, end + 1
    raise ExprError(f"cannot read [{inner}] (use [0], ['name'], [*], [a:b] or [?(...)])", pos)


def _parse_steps(text: str) -> tuple[list[_Select], bool]:
    steps: list[_Select] = []
    single = True
    pos = 1
    while pos < len(text):
        if text.startswith("..", pos):
            m = _NAME_RE.match(text, pos + 2)
            if not m:
                raise ExprError("expected a name after '..'", pos + 2)
            steps.append(_descend(m.group()))
            single, pos = False, m.end()
        elif text[pos] == ".":
            if text.startswith("*", pos + 1):
                steps.append(_wildcard)
                single, pos = False, pos + 2
                continue
            m = _NAME_RE.match(text, pos + 1)
            if not m:
                raise ExprError("expected a name after '.'", pos + 1)
            steps.append(_child(m.group()))
            pos = m.end()
        elif text[pos] == "[":
            select, one, pos = _parse_bracket(text, pos + 1)
            steps.append(select)
            single = single and one
        else:
            raise ExprError(f"unexpected {text[pos]!r} (expected '.', '..' or '[')", pos)
    return steps, single


def compile_jsonpath(text: str) -> JsonPath:
    """Compile ``text``; raises ``ExprError`` (with offset) if it is not in the subset."""
    text = text.strip()
    if not text.startswith("$"):
        raise ExprError("a JSONPath starts with '$' (e.g. $.request_id)", 0)
    steps, single = _parse_steps(text)

    def run(doc: Any) -> Iterator[Any]:
        nodes: Iterator[Any] = iter((doc,))
        for select in steps:
            nodes = _chain(select, nodes)
        return nodes

    if single:
        keys = _plain_keys(text)
        if keys is not None:
            return JsonPath(text, True, _direct(keys))

        def find_one(doc: Any) -> Any:
            return next(run(doc), _MISSING)

        return JsonPath(text, True, find_one)
    return JsonPath(text, False, lambda doc: list(run(doc)))


_PLAIN_PART_RE = re.compile(
    r"""\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(-?\d+)\]|\['([^']*)'\]|\["([^"]*)"\]"""
)


def _plain_keys(text: str) -> list[str | int] | None:
    """The keys of a path made only of names and indexes (``$.a[0].b``), else None."""
    keys: list[str | int] = []
    pos = 1
    while pos < len(text):
        m = _PLAIN_PART_RE.match(text, pos)
        if m is None:
            return None
        name, index, q1, q2 = m.groups()
        keys.append(int(index) if index is not None else (name or q1 or q2 or ""))
        pos = m.end()
    return keys


def _direct(keys: list[str | int]) -> Callable[[Any], Any]:
    """The fast path for the most common captures (``$.request_id``): plain lookups."""

    def find(doc: Any) -> Any:
        node = doc
        for key in keys:
            if isinstance(key, str):
                if not isinstance(node, dict) or key not in node:
                    return _MISSING
            elif not isinstance(node, list) or not -len(node) <= key < len(node):
                return _MISSING
            node = node[key]
        return node

    return find


def _chain(select: _Select, nodes: Iterator[Any]) -> Iterator[Any]:
    for node in nodes:
        yield from select(node)


__all__ = ["MISSING", "JsonPath", "compile_jsonpath"]
