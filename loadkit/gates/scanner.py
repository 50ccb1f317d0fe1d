"""Reading a threshold's text: the scanner the grammar (``loadkit.gates.language``) parses with.

``Scanner`` keeps the position in one line of text and takes tokens, words, keywords and
numbers with their units (refusing values that are not finite or are negative);
``caret_error`` is the ``InputError`` (exit 2) that shows the text with a caret under the
column of the problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from loadkit.errors import InputError, Location, did_you_mean
from loadkit.units import parse_duration_s


def caret_error(
    text: str, location: Location | None, col: int, problem: str, hint: str
) -> InputError:
    """An ``InputError`` about ``text`` with a caret under 0-based ``col``; the location's
    column is moved to the caret."""
    loc = location or Location("<threshold>", 1, None)
    if loc.column is not None and loc.line is not None:
        loc = replace(loc, column=loc.column + col)
    else:
        loc = replace(loc, column=col + 1, line=loc.line or 1)
    return InputError(f"{problem}\n    {text}\n    {' ' * col}^", location=loc, hint=hint)


class Scanner:
    """Reads one threshold's text left to right: skips spaces, takes tokens, words and values
    with units; ``fail`` builds the caret error, with the closest of ``known_words``."""

    def __init__(self, text: str, location: Location | None, known_words: tuple[str, ...]) -> None:
        self.text = text
        self.location = location
        self.known_words = known_words
        self.pos = 0

    def fail(
        self, problem: str, expected: str, at: int | None = None, near: str = ""
    ) -> InputError:
        hint = f"Expected {expected}." + (did_you_mean(near, self.known_words) if near else "")
        col = self.pos if at is None else at
        return caret_error(
            self.text, self.location, col, f"cannot parse threshold: {problem}", hint
        )

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
        return self.match(r"[A-Za-z0-9_.\-/*:%+?\[\]]+")

    def keyword(self, word: str) -> bool:
        self.skip()
        m = re.compile(rf"{word}\b").match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m is not None

    def value(
        self, what: str, convert: Callable[[Any], float], *, negative: bool = False
    ) -> tuple[float, str, int]:
        """A number with its unit, converted; refused when not finite, or negative unless
        ``negative`` allows it."""
        start = self.here()
        raw = self.match(r"-?[0-9.]+(?:[A-Za-zµ%]+[0-9.]*)*(?:/[A-Za-z]+)?|-?\.[0-9]+")
        if raw is None:
            raise self.fail("missing value", what)
        try:
            value = float(convert(raw))
        except (ValueError, OverflowError) as exc:
            raise self.fail(f"bad value '{raw}': {exc}", what, at=start) from None
        if not math.isfinite(value):
            raise self.fail(f"'{raw}' is too large", what, at=start)
        if value < 0 and not negative:
            raise self.fail(f"'{raw}' is negative", what, at=start)
        return value, raw, start

    def duration_s(self, what: str = "a duration such as 10s or 500ms") -> float:
        return self.value(what, parse_duration_s)[0]


__all__ = ["Scanner", "caret_error"]
