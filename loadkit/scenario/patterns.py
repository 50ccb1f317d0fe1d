"""Scenario regexes (``expect: {regex: ...}``, ``capture: {x: {regex: ...}}``): Python's ``re``
syntax, searched at run time with a time limit.

A pattern with catastrophic backtracking (``(a|aa)+$``, ``(\\w+\\s?)*X``) over an unlucky body
holds the GIL in one C call for minutes with Python's ``re``: every visitor of the process stops,
records stop flushing, the run never ends. So the pattern a scenario writes is checked against
``re`` (the documented syntax) and compiled with the ``regex`` engine (mrab-regex, its V0 mode
is ``re``-compatible), whose searches take a ``timeout``; a search that runs past it raises
``RegexTimeout`` and fails that one request, saying how to fix the pattern.

Where the two engines read a pattern differently it is made to mean what ``re`` says: a ``{``
that ``re`` takes literally (``/users/{id}``, ``foo{d}``) would be a fuzzy-matching constraint,
or an error, for ``regex``, and a ``[`` inside a class could start a POSIX class, so both are
escaped first (``[[:alpha:]]``, which ``re`` warns about, is refused with the fix). Nested counted repeats are capped
(``MAX_REPEAT_PRODUCT``): ``regex`` compiles ``((a{255}){255}){255}`` in seconds per million.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

# re's own parser (private, stable since 3.11): the patterns' syntax tree, for their repeats
from re import _constants, _parser  # type: ignore[attr-defined]
from typing import Any

import regex as _engine

DEFAULT_REGEX_TIMEOUT_S = 0.1  # per search: 1,000x what a sane pattern takes on a big page
MAX_REGEX_TIMEOUT_S = 10.0
MAX_REGEX_CHARS = 20_000
MAX_REPEAT_PRODUCT = 100_000  # counts of nested {m,n} repeats multiplied (compile time ~ this)
SHOWN_CHARS = 60  # of the pattern, in a run-time error text (records keep 300 characters)
_QUANTIFIER = re.compile(r"\{(?:\d+(?:,\d*)?|,\d*)\}")  # what ``re`` reads as a repeat count
_BRACED_ESCAPES = ("\\N{",)  # escapes whose braces are not a repeat
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


class RegexTimeout(Exception):
    """A search stopped at its time limit; ``describe`` is the text for the request's record."""

    def __init__(self, source: str, timeout_s: float, chars: int) -> None:
        super().__init__(source, timeout_s, chars)
        self.source, self.timeout_s, self.chars = source, timeout_s, chars

    def describe(self, where: str = "the body") -> str:
        shown = self.source if len(self.source) <= SHOWN_CHARS else self.source[:SHOWN_CHARS] + "…"
        return (
            f"regex {shown!r} took longer than {self.timeout_s * 1000:g} ms on {where} "
            f"({self.chars:,} characters) and was stopped: it backtracks catastrophically; "
            "make it tighter, or use an atomic group (?>...) or a possessive quantifier (a++)"
        )

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class BoundedRegex:
    """A compiled scenario regex; ``search`` is ``re.Pattern.search`` with a time limit.

    ``pattern`` is the text the scenario wrote; ``groups`` its number of groups.
    """

    pattern: str
    timeout_s: float
    compiled: Any = field(compare=False, repr=False)

    @property
    def groups(self) -> int:
        return int(self.compiled.groups)

    def search(self, text: str) -> Any:
        """The first match in ``text`` or None. Raises RegexTimeout past ``timeout_s``."""
        try:
            return self.compiled.search(text, timeout=self.timeout_s)
        except TimeoutError:
            raise RegexTimeout(self.pattern, self.timeout_s, len(text)) from None


def compile_regex(source: str, timeout_s: float = DEFAULT_REGEX_TIMEOUT_S) -> BoundedRegex:
    """Compile a scenario regex. Raises ValueError with the reason for a pattern ``re`` does
    not accept, one too long, or one whose nested repeats multiply past
    ``MAX_REPEAT_PRODUCT``."""
    if len(source) > MAX_REGEX_CHARS:
        raise ValueError(f"longer than {MAX_REGEX_CHARS:,} characters")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            re.compile(source)  # the documented syntax: what Python's re accepts
            parsed = _parser.parse(source)  # its repeats (parsed again: validate time only)
    except re.error as exc:
        raise ValueError(str(exc)) from None
    except (RecursionError, OverflowError):  # 3,000 nested groups, a{4294967296}
        raise ValueError("too deeply nested or too large") from None
    for warning in caught:  # re warns where its reading will change: refuse, do not guess
        if issubclass(warning.category, FutureWarning):
            raise ValueError(_ambiguous_set(str(warning.message)))
    product = _repeat_product(parsed.data)
    if product > MAX_REPEAT_PRODUCT:
        raise ValueError(
            f"its nested repeat counts multiply to {product:,} (at most {MAX_REPEAT_PRODUCT:,})"
        )
    try:
        compiled = _engine.compile(literal_braces(source))
    except _engine.error as exc:
        raise ValueError(str(exc)) from None
    except (RecursionError, OverflowError):
        raise ValueError("too deeply nested or too large") from None
    return BoundedRegex(source, timeout_s, compiled)


def _ambiguous_set(warning: str) -> str:
    """What to say about a ``[...]`` that ``re`` warns about (``[[:alpha:]]``, ``[a&&b]``)."""
    where = warning[0].lower() + warning[1:]
    if "nested set" in warning:
        return (
            f"{where}: re reads a '[' inside [...] as a plain '[', not as a class such as "
            "[:alpha:]; escape it (\\[) or write the class out ([a-zA-Z])"
        )
    return f"{where}: a doubled '&', '~', '|' or '-' inside [...] is ambiguous; escape one"


def _repeat_product(items: Any, depth: int = 0) -> int:
    """The largest product of repeat counts along one nesting path of an ``re`` parse tree
    (an unbounded ``{m,}``, ``*`` or ``+`` counts as ``max(m, 1)``)."""
    if depth > 200:  # re itself refuses deeper nesting before this
        return 0
    best = 1
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            lo, hi, sub = arg
            count = hi if hi != _constants.MAXREPEAT else max(lo, 1)
            best = max(best, max(count, 1) * _repeat_product(sub, depth + 1))
        elif name == "SUBPATTERN":
            best = max(best, _repeat_product(arg[-1], depth + 1))
        elif name in ("BRANCH",):
            best = max(best, *(_repeat_product(b, depth + 1) for b in arg[1]))
        elif name in ("ASSERT", "ASSERT_NOT", "ATOMIC_GROUP"):
            sub = arg[-1] if isinstance(arg, tuple) else arg
            best = max(best, _repeat_product(sub, depth + 1))
        elif name == "GROUPREF_EXISTS":
            best = max(best, *(_repeat_product(b, depth + 1) for b in arg[1:] if b))
    return best


def literal_braces(source: str) -> str:
    """``source`` with each ``{`` that ``re`` reads as a literal character escaped, and each
    ``[`` inside a class, so that ``regex`` reads them the same way (not as a fuzzy-matching
    constraint, not as a POSIX class ``[:digit:]``). Escaping a literal never changes what
    ``re`` matches."""
    out: list[str] = []
    i, n, in_class = 0, len(source), False
    while i < n:
        ch = source[i]
        if ch == "\\":
            end = source.find("}", i) + 1 if source.startswith(_BRACED_ESCAPES, i) else 0
            end = end or i + 2
            out.append(source[i:end])
            i = end
            continue
        if in_class:
            in_class = ch != "]"
            ch = "\\[" if ch == "[" else ch  # regex reads [:digit:] in a class as POSIX's
        elif ch == "[":  # a ']' first in a class (after an optional '^') is a member
            j = i + 1 + source.startswith("^", i + 1)
            j += source.startswith("]", j)
            out.append(source[i:j])
            i, in_class = j, True
            continue
        elif ch == "{" and not _QUANTIFIER.match(source, i):
            ch = "\\{"
        out.append(ch)
        i += 1
    return "".join(out)


__all__ = [
    "DEFAULT_REGEX_TIMEOUT_S",
    "MAX_REGEX_TIMEOUT_S",
    "BoundedRegex",
    "RegexTimeout",
    "compile_regex",
    "literal_braces",
]
