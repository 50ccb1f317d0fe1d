"""The tokenizer of the expression language (see ``expr.py`` for the grammar)."""

from __future__ import annotations

import re
from dataclasses import dataclass


class ExprError(ValueError):
    """A syntax error; ``offset`` is the 0-based character position in the expression."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
      |(?P<num>\d+\.\d*|\.\d+|\d+)
      |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op>==|!=|<=|>=|//|[<>+\-*/%()\[\].,@])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "True", "False", "None"}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True)
class Tok:
    kind: str  # num, str, name, op, kw, end
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    """Split ``text`` into tokens; raises ``ExprError`` at the first character it cannot read."""
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "kw"
            out.append(Tok(kind, word, pos))
        pos = m.end()
    out.append(Tok("end", "", len(text)))
    return out


def unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


__all__ = ["ExprError", "Tok", "tokenize", "unquote"]
