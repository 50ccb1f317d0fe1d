"""A request's ``expect`` at run time: classify an answer as an outcome with its label.

Order: no answer → ``timeout``/``connection_error``; a status under ``outcomes`` → ``ok`` with
its label; a status not fine → ``http_error``; a body-recognised outcome (``outcomes: {sold_out:
{text: Sold out}}``) → ``ok`` with its label; then the body checks (``text``, ``not_text``,
``regex``, ``json``) → ``expectation_failed`` with the part of the body that matters, clipped.
A check on a body that is not JSON (for ``json``) is a per-request ``expectation_failed``
saying so, never a crash. The body is decoded once per answer, and only when a check needs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from loadkit.results.schema import Outcome
from loadkit.runner.journey.types import HttpResult
from loadkit.scenario.jsonpath import MISSING
from loadkit.scenario.models import BodyCheck, Expect, JsonCheck
from loadkit.scenario.patterns import RegexTimeout

Classified = tuple[Outcome, str, str | None]  # outcome, label for `outcome`, error text
_OK = Outcome.OK
_FAILED = Outcome.EXPECTATION_FAILED
EXCERPT_CHARS = 80  # body shown around what a failed check looked for


def excerpt(text: str, start: int = 0, end: int = 0, width: int = EXCERPT_CHARS) -> str:
    """``text[start:end]`` with up to ``width`` characters around it, one line, clipped with
    ``…`` where cut (the part of a body that matters for a failed check)."""
    pad = max(0, (width - (end - start)) // 2)
    lo, hi = max(0, start - pad), min(len(text), max(end, start) + pad)
    shown = " ".join(text[lo:hi].split())
    if len(shown) > width:
        shown = shown[: width - 1] + "…"
    return ("…" if lo > 0 else "") + shown + ("…" if hi < len(text) else "")


def not_json(r: HttpResult) -> str:
    """The error text for a JSON check or capture on a body that is not JSON."""
    kind = r.header("content-type") or "no Content-Type"
    if not r.content:
        return f"response is not JSON (empty body, {kind})"
    return f"response is not JSON ({kind}): {excerpt(r.text)!r}"


def _json_fails(checks: tuple[JsonCheck, ...], r: HttpResult) -> str | None:
    try:
        doc = r.json()
    except ValueError:
        return not_json(r)
    for check in checks:
        got = check.path.find(doc)
        if got is MISSING or not _compare(got, check.op, check.value):
            shown = "nothing" if got is MISSING else _clip_json(got)
            return (f"expected {check.path.source} {check.op} {check.value!r}, got {shown} in "
                    f"{_around(doc, check.path.source)}")  # fmt: skip
    return None


def _compare(got: Any, op: str, want: Any) -> bool:
    if op == "==":
        return bool(got == want)
    if op == "!=":
        return bool(got != want)
    try:
        return bool({"<": got < want, "<=": got <= want, ">": got > want, ">=": got >= want}[op])
    except TypeError:  # "5" < 3: not comparable, so the check fails
        return False


def _around(doc: Any, path: str) -> str:
    """The JSON document, clipped around the last name of ``path`` (where the value is)."""
    text = json.dumps(doc, separators=(",", ":"), default=str)
    names = re.findall(r"[A-Za-z_][\w-]*", path)
    at = text.find(f'"{names[-1]}":') if names else -1
    if at < 0 or len(text) <= EXCERPT_CHARS:
        return _clip_json(doc)
    return excerpt(text, at, at + len(names[-1]) + 3)


def _clip_json(value: Any, width: int = EXCERPT_CHARS) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _holds(check: BodyCheck, text: str, r: HttpResult) -> tuple[bool, str]:
    """Whether ``check`` holds on the body, and what to say when that is a failure."""
    if check.text is not None:
        at = text.find(check.text)
        if check.negate:
            where = excerpt(text, at, at + len(check.text)) if at >= 0 else ""
            return at < 0, f"the body contains {check.text!r}: {where!r}"
        return at >= 0, f"expected the body to contain {check.text!r}; it starts {excerpt(text)!r}"
    if check.regex is not None:
        m = check.regex.search(text)
        return m is not None, (f"expected the body to match {check.regex.pattern!r}; "
                               f"it starts {excerpt(text)!r}")  # fmt: skip
    error = _json_fails(check.json, r)
    return error is None, error or ""


def classifier(expect: Expect) -> Callable[[HttpResult], Classified]:
    """The function classifying one answer (see the module docstring for the order)."""
    business = dict(expect.outcomes)
    ok_set = expect.ok_statuses
    labels = expect.labels
    # "the body contains X" is the common check: tested inline, the rest through _holds
    needles = tuple(c.text for c in expect.body if c.text is not None and not c.negate)
    # searched in the raw bytes: a UTF-8 needle is in the bytes exactly when it is in the text,
    # and a page need not be decoded to pass (it is, once, to say why a check failed)
    needle_bytes = tuple((n, n.encode("utf-8")) for n in needles)
    body = tuple(c for c in expect.body if c.text is None or c.negate)
    checks = expect.json
    if not (business or labels or body or checks):
        return _status_and_text(ok_set, needle_bytes)
    looks = bool(labels or needles or body)

    def classify(r: HttpResult) -> Classified:
        st = r.status
        if st == 0:
            return _no_answer(r)
        label = business.get(st)
        if label is not None:
            return _OK, label, None
        if (st >= 400) if ok_set is None else (st not in ok_set):
            return _bad_status(st)
        if looks:
            for name, check in labels:
                if _holds(check, r.text, r)[0]:
                    return _OK, name, None
            content = r.content
            for needle, raw in needle_bytes:
                if raw not in content:
                    return _missing(needle, r)
            for check in body:
                held, why = _holds(check, r.text, r)
                if not held:
                    return _FAILED, "expectation_failed", why
        if checks:
            error = _json_fails(checks, r)
            if error is not None:
                return _FAILED, "expectation_failed", error
        return _PASSED

    if any(c.regex is not None for c in (*body, *(check for _, check in labels))):
        return _bounded(classify)
    return classify


def _bounded(classify: Callable[[HttpResult], Classified]) -> Callable[[HttpResult], Classified]:
    """``classify`` where a regex search that ran past its time limit (a pattern that
    backtracks catastrophically on this body) fails the request, saying so."""

    def bounded(r: HttpResult) -> Classified:
        try:
            return classify(r)
        except RegexTimeout as exc:
            return _FAILED, "expectation_failed", exc.describe()

    return bounded


def _status_and_text(
    ok_set: frozenset[int] | None, needle_bytes: tuple[tuple[str, bytes], ...]
) -> Callable[[HttpResult], Classified]:
    """``classify`` for the common ``expect``: statuses, and texts the body must contain (no
    outcome labels, no other body or JSON check) — the same order, fewer steps per answer."""

    if len(needle_bytes) == 1:
        ((needle, raw),) = needle_bytes

        def classify_one(r: HttpResult) -> Classified:  # status, and one text
            st = r.status
            if st == 0:
                return _no_answer(r)
            if (st >= 400) if ok_set is None else (st not in ok_set):
                return _bad_status(st)
            if raw not in r.content:
                return _missing(needle, r)
            return _PASSED

        return classify_one

    def classify(r: HttpResult) -> Classified:
        st = r.status
        if st == 0:
            return _no_answer(r)
        if (st >= 400) if ok_set is None else (st not in ok_set):
            return _bad_status(st)
        if needle_bytes:
            content = r.content
            for needle, raw in needle_bytes:
                if raw not in content:
                    return _missing(needle, r)
        return _PASSED

    return classify


_PASSED: Classified = (_OK, "ok", None)


def _no_answer(r: HttpResult) -> Classified:
    kind = Outcome.TIMEOUT if r.error_kind == "timeout" else Outcome.CONNECTION_ERROR
    return kind, kind.value, r.error or kind.value


def _bad_status(status: int) -> Classified:
    return Outcome.HTTP_ERROR, "http_error", f"unexpected status {status}"


def _missing(needle: str, r: HttpResult) -> Classified:
    return _FAILED, "expectation_failed", (
        f"expected the body to contain {needle!r}; it starts {excerpt(r.text)!r}")  # fmt: skip


__all__ = ["EXCERPT_CHARS", "Classified", "classifier", "excerpt", "not_json"]
