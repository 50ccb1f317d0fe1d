"""The scenario expression language: a tokenizer and a Pratt parser compiled to closures.

Scenario files are data, never code (DESIGN.md §2.8): there is no ``eval``. An expression is
parsed once, at load time, into a tree of small Python closures ``fn(scope) -> value``; running
it is a handful of function calls. Constant sub-expressions are folded at compile time.

Grammar (lowest to highest precedence)::

    expr    := or
    or      := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | cmp
    cmp     := sum (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') sum)*
    sum     := term (('+'|'-') term)*
    term    := unary (('*'|'/'|'//'|'%') unary)*
    unary   := '-' unary | postfix
    postfix := atom ('.' NAME | '[' expr ']')*
    atom    := NUMBER | STRING | true | false | null | NAME | NAME '(' args ')' | '@'
             | '(' expr ')' | '[' items ']'

A variable that is not set, an index out of range or a type mismatch raises ``EvalError`` at
run time (the journey then ends ``failed`` with that message). Budgets (``budget.py``) bound
the text, nesting and number size of an expression at compile time, and the values it makes
when it runs: going over raises ``BudgetError`` (an ``EvalError``), or ``ExprError`` when the
over-budget part is folded at compile time.

This module is the parser; the closures it builds (nodes, constant folding, the operators and
their run-time errors) are ``expr_nodes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadkit.scenario import budget
from loadkit.scenario.budget import BudgetError, EvalError
from loadkit.scenario.expr_nodes import (
    BINARY,
    METERED_OPS,
    Fn,
    Node,
    Scope,
    const_node,
    fold,
    get_item,
    metered_root,
    var_fn,
    wrap_binary,
)
from loadkit.scenario.functions import FUNCTIONS
from loadkit.scenario.tokens import ExprError, Tok, tokenize, unquote


@dataclass(frozen=True)
class Expr:
    """A compiled expression. ``names`` are the root variables it reads, ``env`` the
    ``env.NAME`` names, ``functions`` the functions it calls."""

    source: str
    fn: Fn = field(repr=False, compare=False)
    names: frozenset[str] = field(repr=False)
    env: frozenset[str] = field(repr=False)
    functions: frozenset[str] = field(repr=False)
    const: bool = field(repr=False)
    value: Any = field(default=None, repr=False)  # the value when ``const``

    def __call__(self, scope: Scope) -> Any:
        return self.fn(scope)


_POSTFIX_BP = 8


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.names: set[str] = set()
        self.env: set[str] = set()
        self.functions: set[str] = set()
        self.level = 0  # recursion depth of ``expr``
        self.metered = False  # it uses an operation that charges the meter
        self.op_pos = 0  # where the operation being compiled starts, for budget errors

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> Tok:
        if self.tok.text != text or self.tok.kind not in ("op", "kw"):
            found = repr(self.tok.text) if self.tok.text else "the end"
            raise ExprError(f"expected '{text}', found {found}", self.tok.pos)
        return self.take()

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("empty expression", 0)
        node = self.expr(0)
        if self.tok.kind != "end":
            raise ExprError(_unexpected(self.tok), self.tok.pos)
        return node

    def expr(self, min_bp: int) -> Node:
        self.level += 1
        if self.level > budget.MAX_EXPR_DEPTH:
            raise ExprError(_too_deep(), self.tok.pos)
        left = self._expr(min_bp)
        self.level -= 1
        return left

    def _expr(self, min_bp: int) -> Node:
        left = self.prefix()
        while True:
            if left.depth > budget.MAX_EXPR_DEPTH:
                raise ExprError(_too_deep(), self.tok.pos)
            tok = self.tok
            if tok.kind == "kw" and tok.text == "or" and min_bp < 1:
                self.take()
                left = self._or(left, self.expr(1))
            elif tok.kind == "kw" and tok.text == "and" and min_bp < 2:
                self.take()
                left = self._and(left, self.expr(2))
            elif tok.kind == "kw" and tok.text == "not" and min_bp < 4:
                if self.toks[self.i + 1].text != "in":
                    raise ExprError("expected 'in' after 'not'", tok.pos)
                self.i += 2
                left = self._binary(left, self.expr(4), "not in", lambda a, b: a not in b)
            elif (tok.kind == "op" or tok.text == "in") and tok.text in BINARY:
                bp, op = BINARY[tok.text]
                if bp <= min_bp:
                    return left
                self.take()
                right = self.expr(bp)
                self.op_pos = tok.pos
                left = self._binary(left, right, tok.text, op)
            elif tok.kind == "op" and tok.text in (".", "[") and min_bp < _POSTFIX_BP:
                left = self.postfix(left)
            else:
                return left

    def prefix(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            if len(tok.text) > budget.MAX_NUMBER_DIGITS:
                raise ExprError(
                    f"a number of {len(tok.text)} digits; the limit is {budget.MAX_NUMBER_DIGITS}",
                    tok.pos,
                )
            return const_node(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "str":
            return const_node(unquote(tok.text))
        if tok.kind == "kw":
            if tok.text in ("true", "True"):
                return const_node(True)
            if tok.text in ("false", "False"):
                return const_node(False)
            if tok.text in ("null", "None"):
                return const_node(None)
            if tok.text == "not":
                inner = self.expr(3)
                f = inner.fn
                return fold(lambda c: not f(c), inner)
        if tok.kind == "name":
            if self.tok.text == "(" and self.tok.kind == "op":
                return self.call(tok)
            return self.variable(tok)
        if tok.kind == "op":
            if tok.text == "@":
                self.names.add("@")
                return Node(var_fn("@"), False)
            if tok.text == "(":
                inner = self.expr(0)
                self.expect(")")
                return inner
            if tok.text == "[":
                return self.list_literal()
            if tok.text == "-":
                inner = self.expr(7)
                f = inner.fn
                neg = wrap_binary(lambda a, _b: -a, "-")
                return fold(lambda c: neg(f(c), None), inner)
        raise ExprError(_unexpected(tok), tok.pos)

    def variable(self, tok: Tok) -> Node:
        if tok.text == "env":
            if self.tok.text != ".":
                raise ExprError("write env.NAME to read an environment variable", tok.pos)
            self.take()
            name = self.take()
            if name.kind != "name":
                raise ExprError("expected a name after 'env.'", name.pos)
            self.env.add(name.text)
            return Node(var_fn("env." + name.text), False)
        self.names.add(tok.text)
        return Node(var_fn(tok.text), False)

    def call(self, tok: Tok) -> Node:
        spec = FUNCTIONS.get(tok.text)
        if spec is None:
            from loadkit.errors import did_you_mean

            hint = did_you_mean(tok.text, FUNCTIONS)
            raise ExprError(f"unknown function '{tok.text}'.{hint}", tok.pos)
        self.functions.add(tok.text)
        self.expect("(")
        args: list[Node] = []
        while self.tok.text != ")":
            args.append(self.expr(0))
            if self.tok.text != ",":
                break
            self.take()
        self.expect(")")
        if not spec.min_args <= len(args) <= spec.max_args:
            raise ExprError(
                f"{tok.text}() takes {spec.arity_text()} argument(s), got {len(args)}", tok.pos
            )
        self.metered |= spec.metered
        self.op_pos = tok.pos
        node = spec.compile(tok.text, [a.fn for a in args], all(a.const for a in args))
        node.depth = 1 + max((a.depth for a in args), default=0)
        return node

    def list_literal(self) -> Node:
        start = self.toks[self.i - 1].pos  # the '['
        items: list[Node] = []
        while self.tok.text != "]":
            items.append(self.expr(0))
            if self.tok.text != ",":
                break
            self.take()
        self.expect("]")
        fns = [n.fn for n in items]
        self.metered = True
        self.op_pos = start
        return fold(lambda c: budget.new_list([f(c) for f in fns], "a list"), *items)

    def postfix(self, left: Node) -> Node:
        tok = self.take()
        lf = left.fn
        if tok.text == ".":
            name = self.take()
            if name.kind not in ("name", "kw"):
                raise ExprError("expected a name after '.'", name.pos)
            key = name.text
            return fold(lambda c: get_item(lf(c), key), left)
        index = self.expr(0)
        self.expect("]")
        xf = index.fn
        return fold(lambda c: get_item(lf(c), xf(c)), left, index)

    def _binary(self, a: Node, b: Node, sym: str, op: Callable[[Any, Any], Any]) -> Node:
        af, bf, apply = a.fn, b.fn, wrap_binary(op, sym)
        self.metered |= sym in METERED_OPS
        return fold(lambda c: apply(af(c), bf(c)), a, b)

    def _or(self, a: Node, b: Node) -> Node:
        af, bf = a.fn, b.fn
        return fold(lambda c: af(c) or bf(c), a, b)

    def _and(self, a: Node, b: Node) -> Node:
        af, bf = a.fn, b.fn
        return fold(lambda c: af(c) and bf(c), a, b)


def _unexpected(tok: Tok) -> str:
    return "unexpected end of expression" if tok.kind == "end" else f"unexpected {tok.text!r}"


def _too_deep() -> str:
    return f"this expression nests more than {budget.MAX_EXPR_DEPTH} levels deep"


def compile_expr(text: str) -> Expr:
    """Parse and compile ``text``. Raises ``ExprError`` (with ``offset``) on a syntax error,
    an expression over a compile-time budget, or a constant part over a run-time budget."""
    if len(text) > budget.MAX_EXPR_CHARS:
        raise ExprError(
            f"an expression of {len(text):,} characters; the limit is {budget.MAX_EXPR_CHARS:,}",
            0,
        )
    parser = _Parser(text)
    try:
        node = parser.parse()
    except BudgetError as exc:  # from constant folding
        raise ExprError(str(exc), parser.op_pos) from None
    return Expr(
        source=text,
        fn=node.fn if node.const or not parser.metered else metered_root(node.fn),
        names=frozenset(parser.names),
        env=frozenset(parser.env),
        functions=frozenset(parser.functions),
        const=node.const,
        value=node.value,
    )


__all__ = ["EvalError", "Expr", "ExprError", "Scope", "compile_expr", "tokenize"]
