"""Templates: text with ``{{ expression }}`` holes, and nested values (JSON bodies) of them.

Compiled once at load time. A template without holes is a constant and costs nothing to
render; a template that is exactly one hole (``"{{ seats }}"``) keeps the value's type (a list
stays a list in a JSON body); anything else renders to text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadkit.scenario import budget
from loadkit.scenario.expr import Expr, ExprError, Scope, compile_expr

_UNCHECKED_HOLES = 8  # templates with more holes check their joined length before joining


@dataclass(frozen=True)
class Template:
    """A compiled template or nested value. ``render(scope)`` may raise ``EvalError``."""

    source: Any
    render: Callable[[Scope], Any] = field(repr=False, compare=False)
    const: bool = field(repr=False)
    value: Any = field(repr=False)
    names: frozenset[str] = field(repr=False)
    env: frozenset[str] = field(repr=False)
    functions: frozenset[str] = field(repr=False)


def to_text(value: Any) -> str:
    """How a value appears inside text: null is empty, booleans are true/false.

    Raises ``BudgetError`` for a list or mapping whose text would be over the text budget.
    """
    if isinstance(value, str):
        return value
    kind = type(value)
    if kind is int or kind is float:
        return str(value)
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _CONTAINERS):
        budget.cap_text_of(value, "this template")
    return str(value)


_CONTAINERS = (list, tuple, dict)


def _constant(source: Any, value: Any) -> Template:
    return Template(source, lambda _c: value, True, value, frozenset(), frozenset(), frozenset())


def _merge(
    source: Any, render: Callable[[Scope], Any], parts: Sequence[Expr | Template]
) -> Template:
    return Template(
        source,
        render,
        False,
        None,
        frozenset().union(*(p.names for p in parts)),
        frozenset().union(*(p.env for p in parts)),
        frozenset().union(*(p.functions for p in parts)),
    )


def _holes(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each ``{{ ... }}`` hole, in order: what ``\\{\\{(.*?)\\}\\}`` finds,
    in linear time (that regex rescans to the end from every unclosed ``{{``)."""
    out: list[tuple[int, int]] = []
    pos = 0
    while (start := text.find("{{", pos)) >= 0:
        close = text.find("}}", start + 2)
        if close < 0:
            break
        out.append((start, close + 2))
        pos = close + 2
    return out


def compile_template(text: str) -> Template:
    """Compile text with ``{{ }}`` holes. Raises ``ExprError`` with the offset in ``text``."""
    holes = _holes(text)
    if not holes:
        if "{{" in text:
            raise ExprError("'{{' without a closing '}}'", text.index("{{"))
        return _constant(text, text)
    exprs: list[Expr] = []
    pieces: list[str | Expr] = []
    pos = 0
    for start, end in holes:
        if start > pos:
            pieces.append(text[pos:start])
        try:
            expr = compile_expr(text[start + 2 : end - 2])
        except ExprError as exc:
            raise ExprError(str(exc), start + 2 + exc.offset) from None
        exprs.append(expr)
        pieces.append(expr)
        pos = end
    if pos < len(text):
        pieces.append(text[pos:])
    if len(pieces) == 1 and isinstance(pieces[0], Expr):
        only = pieces[0]
        if only.const:
            return _constant(text, only.value)
        return _merge(text, only.fn, exprs)
    return _join_pieces(text, pieces, exprs)


def _join_pieces(text: str, pieces: list[str | Expr], exprs: list[Expr]) -> Template:
    if all(isinstance(p, str) or p.const for p in pieces):
        try:
            texts = [p if isinstance(p, str) else to_text(p.value) for p in pieces]
        except budget.BudgetError as exc:
            raise ExprError(str(exc), 0) from None
        if sum(map(len, texts)) > budget.MAX_TEXT_CHARS:
            raise ExprError(f"this template would make a text of {sum(map(len, texts)):,} "
                            f"characters; the limit is {budget.MAX_TEXT_CHARS:,}", 0)  # fmt: skip
        return _constant(text, "".join(texts))
    dynamic = [p for p in pieces if isinstance(p, Expr)]
    if len(dynamic) == 1 and len(pieces) <= 3:  # the common "prefix {{ x }} suffix" shape
        i = pieces.index(dynamic[0])
        pre = "".join(p for p in pieces[:i] if isinstance(p, str))
        post = "".join(p for p in pieces[i + 1 :] if isinstance(p, str))
        fn = dynamic[0].fn
        return _merge(text, lambda c: pre + to_text(fn(c)) + post, exprs)
    parts: list[Callable[[Scope], str]] = []
    for p in pieces:
        parts.append(_literal(p) if isinstance(p, str) else _as_text(p.fn))

    if len(dynamic) <= _UNCHECKED_HOLES:  # at most a few big values joined: no check to pay

        def render(c: Scope) -> str:
            return "".join([part(c) for part in parts])

        return _merge(text, render, exprs)
    limit = budget.MAX_TEXT_CHARS

    def render_checked(c: Scope) -> str:
        texts = [part(c) for part in parts]
        if sum(map(len, texts)) > limit:  # {{x}}{{x}}{{x}}... of a big x
            budget.cap_text(sum(map(len, texts)), "this template")
        return "".join(texts)

    return _merge(text, render_checked, exprs)


def _literal(text: str) -> Callable[[Scope], str]:
    return lambda _c: text


def _as_text(fn: Callable[[Scope], Any]) -> Callable[[Scope], str]:
    return lambda c: to_text(fn(c))


def compile_value(value: Any) -> Template:
    """Compile a nested value (mapping / list / scalars), templating every string in it.

    Raises ``ExprError``; its message names the key path of the bad string.
    """
    if isinstance(value, str):
        return compile_template(value)
    if isinstance(value, Mapping):
        return _compile_mapping(value)
    if isinstance(value, list | tuple):
        items = [compile_value(v) for v in value]
        if all(t.const for t in items):
            return _constant(value, [t.value for t in items])
        renders = [t.render for t in items]
        return _merge(value, lambda c: [r(c) for r in renders], list(items))
    return _constant(value, value)


def _compile_mapping(value: Mapping[Any, Any]) -> Template:
    entries: list[tuple[str, Template]] = []
    for key, item in value.items():
        try:
            entries.append((str(key), compile_value(item)))
        except ExprError as exc:
            raise ExprError(f"in '{key}': {exc}", exc.offset) from None
    if all(t.const for _, t in entries):
        return _constant(value, {k: t.value for k, t in entries})
    pairs = [(k, t.render) for k, t in entries]
    return _merge(value, lambda c: {k: r(c) for k, r in pairs}, [t for _, t in entries])


__all__ = ["Template", "compile_template", "compile_value", "to_text"]
