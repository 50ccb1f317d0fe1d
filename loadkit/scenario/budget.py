"""Budgets of the expression language: no expression may take unbounded memory or time.

A scenario is data copied between people, so ``'x' * 10000000000``, ``range(10**12)``,
``'%0999999999d' % 1`` or ``x * x`` repeated forty times must end with a clear message, at
``validate`` (constant folding) and at run time, instead of a MemoryError, a hang or a
traceback. The checks sit only at the operations that can grow a value (``*``, ``+`` on text
and lists, ``%`` formatting, list literals and a few functions) and cost a type test and a
length comparison there; reading a variable or comparing values pays nothing.

Each metered evaluation of one expression may allocate at most ``MAX_WORK`` cells (a
character, or a list item counted as 8); every value it makes is at most ``MAX_TEXT_CHARS``
characters, ``MAX_ITEMS`` list items (counted through nested lists), ``MAX_INT_BITS`` bits.
"""

from __future__ import annotations

import re
from typing import Any

MAX_TEXT_CHARS = 10_000_000  # one text value: 10 M characters
MAX_ITEMS = 1_000_000  # one list (counting through nested lists and mappings)
MAX_INT_BITS = 4_096  # about 1,200 decimal digits
MAX_WORK = 100_000_000  # cells one evaluation may allocate (about 100 MB)
MAX_FOLDED = 100_000_000  # footprint of all the constants folded in one file
MAX_EXPR_CHARS = 10_000  # the text of one expression
MAX_EXPR_DEPTH = 100  # operators and brackets inside each other
MAX_NUMBER_DIGITS = 400  # one number literal
MAX_FORMAT_WIDTH = 10_000  # width or precision in a '%' format
MAX_FORMAT_CONVERSIONS = 10_000  # '%' signs in one format
MAX_ROUND_DIGITS = 1_300  # round(x, n): |n|
_ITEM_CELLS = 8  # a list item costs a pointer


class EvalError(Exception):
    """An expression could not be evaluated for this visitor (missing variable, bad type)."""


class BudgetError(EvalError):
    """An expression went over a budget; the journey ends ``failed`` with this message."""


class _Meter:
    """Cells allocated by the current evaluation; reset when a metered expression starts.

    Module state on purpose: an evaluation never yields (no I/O inside an expression), so
    greenlets cannot interleave within one, and passing a meter through every closure would
    cost the hot path a parameter on every call.
    """

    used = 0


METER = _Meter()


def start() -> None:
    """Begin a metered evaluation (called by the root of an expression that can grow values)."""
    METER.used = 0


def charge(cells: int) -> None:
    """Count ``cells`` against the current evaluation; ``BudgetError`` past ``MAX_WORK``."""
    used = METER.used + cells
    if used > MAX_WORK:
        raise BudgetError(
            f"this expression would allocate more than {MAX_WORK:,} cells (about 100 MB); "
            "loadkit stops it here"
        )
    METER.used = used


def cap_text(n_chars: int, what: str) -> None:
    """``BudgetError`` when a text of ``n_chars`` would be over ``MAX_TEXT_CHARS``."""
    if n_chars > MAX_TEXT_CHARS:
        raise BudgetError(
            f"{what} would make a text of {n_chars:,} characters; the limit is {MAX_TEXT_CHARS:,}"
        )


def cap_items(n_items: int, what: str) -> None:
    """``BudgetError`` when a list of ``n_items`` would be over ``MAX_ITEMS``."""
    if n_items > MAX_ITEMS:
        raise BudgetError(
            f"{what} would make a list of {n_items:,} items; the limit is {MAX_ITEMS:,}"
        )


def cap_int(value: int, what: str) -> int:
    """``value`` when within ``MAX_INT_BITS``; else ``BudgetError``."""
    if value.bit_length() > MAX_INT_BITS:
        raise BudgetError(f"{what} would make a number of over {MAX_INT_BITS:,} bits")
    return value


_FLAT = frozenset({int, float, bool, str, type(None)})


def size(value: Any) -> int:
    """Items in ``value`` counted through nested lists and mappings (a shared list counts
    each time it appears), walking at most just past ``MAX_ITEMS``. Scalars count 1.

    A list of scalars costs one C-level pass (``set(map(type, ...))``), not a Python loop.
    """
    if not isinstance(value, list | tuple | dict):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= MAX_ITEMS:
        item = stack.pop()
        total += 1
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, list | tuple | dict):
            if set(map(type, children)) <= _FLAT:
                total += len(children)
            else:
                stack.extend(children)
    return total


def text_size(value: Any) -> int:
    """An upper bound of ``len(str(value))`` found without building the text; it stops
    counting just past ``MAX_TEXT_CHARS``. Cheap for scalars and lists of text or numbers."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 2
    if not isinstance(value, list | tuple | dict):
        return 32
    total = 0
    stack: list[Any] = [value]
    while stack and total <= MAX_TEXT_CHARS:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
            total += 2 + 4 * len(item)
        elif isinstance(item, list | tuple):
            total += 2 + 4 * len(item)
            kinds = set(map(type, item))
            if kinds <= {str}:  # one C-level pass for the common flat lists
                total += sum(map(len, item))
            elif kinds <= {int}:
                total += sum(map(int.bit_length, item)) // 3 + len(item)
            else:
                stack.extend(item)
        else:
            total += text_size(item)
    return total


def footprint(value: Any) -> int:
    """About the bytes ``value`` holds: its text, plus 80 per list or mapping item (the
    item's object and the time to walk it), counted up to just past the caps."""
    if not isinstance(value, list | tuple | dict):
        return text_size(value)
    return text_size(value) + 80 * size(value)


def cap_text_of(value: Any, what: str) -> None:
    """``BudgetError`` when ``str(value)`` would be over ``MAX_TEXT_CHARS`` (for lists and
    mappings, whose text can be far larger than their memory when lists are shared)."""
    if isinstance(value, list | tuple | dict):
        cap_text(text_size(value), what)


def grown_text(n_chars: int, what: str) -> None:
    """Cap and charge a new text of ``n_chars`` (inside a metered expression)."""
    cap_text(n_chars, what)
    charge(n_chars)


def grown_list(n_items: int, what: str) -> None:
    """Cap and charge a new list of ``n_items`` items (inside a metered expression)."""
    cap_items(n_items, what)
    charge(n_items * _ITEM_CELLS)


def new_list(value: list[Any], what: str) -> list[Any]:
    """``value`` (a list just made) when it holds at most ``MAX_ITEMS`` counting through
    nested lists; charged as its walk. ``BudgetError`` otherwise."""
    n = size(value)
    grown_list(n, what)
    return value


_NUMBERS = (int, float, bool)


def mul(a: Any, b: Any) -> Any:
    """``a * b`` within the budgets: integer bits, text length, list items."""
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
            raise BudgetError(f"'*' would make a number of over {MAX_INT_BITS:,} bits")
        return a * b
    if ta in _NUMBERS and tb in _NUMBERS:
        return a * b
    if isinstance(a, str | list) and isinstance(b, int):
        seq, n = a, b
    elif isinstance(b, str | list) and isinstance(a, int):
        seq, n = b, a
    else:
        return a * b
    if n > 0:
        if isinstance(seq, str):
            grown_text(len(seq) * n, "'*'")
        else:
            grown_list(size(seq) * n, "'*'")
    return a * b


def add(a: Any, b: Any) -> Any:
    """``a + b`` within the text and list budgets (numbers pass straight through)."""
    ta = type(a)
    if ta is str and type(b) is str:
        grown_text(len(a) + len(b), "'+'")
    elif ta is list and type(b) is list:
        grown_list(len(a) + len(b), "'+'")
    return a + b


def mod(a: Any, b: Any) -> Any:
    """``a % b``; for a text format, within the text budget (see ``check_format``)."""
    if type(a) is str:
        check_format(a, b)
    return a % b


_FORMAT_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


def check_format(fmt: str, args: Any) -> None:
    """``BudgetError`` when ``fmt % args`` could be huge: a width or precision over
    ``MAX_FORMAT_WIDTH`` (or given by ``*``), or a result over ``MAX_TEXT_CHARS`` counting
    each conversion as its width plus the text of all the arguments."""
    if fmt.count("%") > MAX_FORMAT_CONVERSIONS:
        raise BudgetError(
            f"a '%' format with more than {MAX_FORMAT_CONVERSIONS:,} conversions is over the limit"
        )
    total = len(fmt)
    args_chars = -1
    for m in _FORMAT_RE.finditer(fmt):
        if m.group(3) == "%":
            continue
        width = 0
        for part in (m.group(1), m.group(2)):
            if part == "*":
                raise BudgetError("'%' formatting with a '*' width is not supported")
            if part and (len(part) > 6 or int(part) > MAX_FORMAT_WIDTH):
                raise BudgetError(
                    f"a '%' format width or precision of {part} is over the limit of "
                    f"{MAX_FORMAT_WIDTH:,}"
                )
            width = max(width, int(part or 0))
        if args_chars < 0:
            args_chars = text_size(args)
        total += width + args_chars + 8
    grown_text(total, "'%' formatting")


__all__ = [
    "MAX_EXPR_CHARS",
    "MAX_EXPR_DEPTH",
    "MAX_FOLDED",
    "MAX_FORMAT_CONVERSIONS",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_NUMBER_DIGITS",
    "MAX_ROUND_DIGITS",
    "MAX_TEXT_CHARS",
    "MAX_WORK",
    "METER",
    "BudgetError",
    "EvalError",
    "add",
    "cap_int",
    "cap_items",
    "cap_text",
    "cap_text_of",
    "charge",
    "check_format",
    "footprint",
    "grown_list",
    "grown_text",
    "mod",
    "mul",
    "new_list",
    "size",
    "start",
    "text_size",
]
