"""A request's ``capture`` at run time: values from the answer (JSON, regex, header, cookie,
HTML form field, CSRF token, link) or from a variable, into the visitor's variables.

HTML is read with the stdlib ``html.parser``, over at most ``MAX_HTML_CHARS`` of the body, and
stops at the first match. A capture on a body of the wrong kind (JSON from an HTML page, an
HTML helper on a JSON answer) fails that request with a clear error, never the run. ``default``
stands in for a value that is missing *or null*.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from html.parser import HTMLParser
from typing import Any

from loadkit.runner.journey.checks import excerpt, not_json
from loadkit.runner.journey.types import Ctx, HttpResult
from loadkit.scenario.expr import EvalError
from loadkit.scenario.jsonpath import MISSING
from loadkit.scenario.models import HTML_SOURCES, Capture, CaptureSource
from loadkit.scenario.patterns import RegexTimeout

MAX_HTML_CHARS = 2_000_000  # HTML beyond this is not searched (a page, not a download)
CSRF_NAMES = ("csrf", "xsrf", "_token", "authenticity_token", "__requestverificationtoken")
Found = Any  # a value, MISSING, or a _Failed


class _Failed:
    """A capture that could not look: the body is of the wrong kind (the error says so)."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


class _Finder(HTMLParser):
    """Finds one thing in a page: an input's value by name, a CSRF token, or a link by text."""

    def __init__(self, source: CaptureSource, pattern: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source, self.pattern, self.found = source, pattern, MISSING
        self._text: list[str] | None = None  # inside <a> (link) or <textarea> (form field)
        self._href = ""
        self._meta: Any = MISSING

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not MISSING:
            return
        a = {k.lower(): v or "" for k, v in attrs}
        if self.source is CaptureSource.LINK:
            if tag == "a" and "href" in a:
                self._text, self._href = [], a["href"]
            return
        name = a.get("name", "")
        if tag == "meta" and self.source is CaptureSource.CSRF and not self.pattern:
            if any(n in name.lower() for n in CSRF_NAMES) and self._meta is MISSING:
                self._meta = a.get("content", "")
            return
        if tag not in ("input", "textarea", "select") or not self._wanted(name, a):
            return
        if tag == "textarea":
            self._text = []
        else:
            self.found = a.get("value", "")

    def _wanted(self, name: str, a: dict[str, str]) -> bool:
        if self.pattern:
            return name == self.pattern
        hidden = a.get("type", "").lower() == "hidden"
        return hidden and any(n in name.lower() for n in CSRF_NAMES)

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._text is None or self.found is not MISSING:
            return
        text = "".join(self._text)
        if tag == "textarea":
            self.found = text
        elif tag == "a":
            if self.pattern.lower() in " ".join(text.split()).lower():
                self.found = self._href
            self._text = None

    def result(self) -> Any:
        return self._meta if self.found is MISSING else self.found


def _looks_like_html(r: HttpResult, text: str) -> bool:
    kind = (r.header("content-type") or "").lower()
    if "html" in kind or "xml" in kind:
        return True
    return not kind.startswith(("application/json", "image/")) and "<" in text[:4096]


def _html_fn(source: CaptureSource, pattern: str) -> Callable[[Ctx, HttpResult], Found]:
    def from_html(_c: Ctx, r: HttpResult) -> Found:
        text = r.text
        if not _looks_like_html(r, text):
            kind = r.header("content-type") or "no Content-Type"
            return _Failed(f"response is not HTML ({kind}): {excerpt(text)!r}")
        finder = _Finder(source, pattern)
        # no close(): it only flushes trailing text, in time quadratic or worse in the length
        # of an unclosed tag or comment ("<a b" * 20,000 takes 20 s in Python 3.11)
        with suppress(AssertionError):  # html.parser gives up on some broken markup
            finder.feed(text[:MAX_HTML_CHARS])
        return finder.result()

    return from_html


def _value_text(value: Any) -> str:
    """A variable's value as the text a regex searches (JSON for containers)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def _capture_fn(cap: Capture) -> Callable[[Ctx, HttpResult], Found]:
    """A function returning the captured value, MISSING, or a _Failed."""
    source = cap.source
    if source in HTML_SOURCES:
        return _html_fn(source, cap.pattern)
    name, from_var = cap.pattern, cap.from_var
    if source is CaptureSource.HEADER:

        def from_header(_c: Ctx, r: HttpResult) -> Found:
            value = r.header(name)
            return MISSING if value is None else value

        return from_header
    if source is CaptureSource.COOKIE:
        return lambda c, _r: _or_missing(c.visitor.cookie(name))
    if source is CaptureSource.JSON:
        assert cap.jsonpath is not None
        find = cap.jsonpath.find
        if from_var is not None:
            read, vname = from_var.render, str(from_var.source).strip("{} ")

            def json_from_var(c: Ctx, _r: HttpResult) -> Found:
                value = read(c)
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        return _Failed(f"variable {vname!r} is not JSON: {excerpt(value)!r}")
                return find(value)

            return json_from_var

        def from_json(_c: Ctx, r: HttpResult) -> Found:
            try:
                return find(r.json())
            except ValueError:
                return _Failed(not_json(r))

        return from_json
    assert cap.regex is not None
    search, group = cap.regex.search, 1 if cap.regex.groups else 0
    searched = "the body" if from_var is None else f"variable {_where(cap)[4:]!r}"

    def from_regex(c: Ctx, r: HttpResult) -> Found:
        text = r.text if from_var is None else _value_text(from_var.render(c))
        try:
            m = search(text)
        except RegexTimeout as exc:  # fails, even with a default: the pattern needs fixing
            return _Failed(exc.describe(searched))
        return MISSING if m is None else m.group(group)

    return from_regex


def _where(cap: Capture) -> str:
    return "" if cap.from_var is None else f" in {str(cap.from_var.source).strip('{} ')}"


def _or_missing(value: Any) -> Any:
    return MISSING if value is None else value


def captures_fn(caps: tuple[Capture, ...]) -> Callable[[Ctx, HttpResult], str | None]:
    """Run every capture into ``ctx.vars``, in order; return the error text of the first
    failure (nothing found and no default, a body of the wrong kind), else None."""
    plan = [(c.var, _capture_fn(c), c) for c in caps]
    secret = secret_vars(caps)
    if len(plan) == 1 and not secret and caps[0].source is CaptureSource.HEADER:
        # the common case (a session or a rate-limit header), read without the loop
        var1, cap1, header = caps[0].var, caps[0], caps[0].pattern

        def capture_header(c: Ctx, r: HttpResult) -> str | None:
            value = r.header(header)
            if value is None:
                value = _instead(c, cap1, MISSING)
                if isinstance(value, _Failed):
                    return value.error
            c.vars[var1] = value
            return None

        return capture_header

    def capture(c: Ctx, r: HttpResult) -> str | None:
        v = c.vars
        for var, fn, cap in plan:
            value = fn(c, r)
            if value is MISSING or value is None or isinstance(value, _Failed):
                value = _instead(c, cap, value)
                if isinstance(value, _Failed):
                    return value.error
            v[var] = value
            if secret and var in secret:
                if c.secrets is None:
                    c.secrets = []
                c.secrets.append(str(value))
        return None

    return capture


def _instead(c: Ctx, cap: Capture, found: Found) -> Found:
    """What a capture that found nothing, a null or a body of the wrong kind sets instead: its
    default, or a ``_Failed`` whose error is the request's error text."""
    var = cap.var
    if isinstance(found, _Failed):
        return _Failed(f"capture '{var}': {found.error}")
    if cap.default is None:
        what = "found nothing" if found is MISSING else "found null"
        return _Failed(f"capture '{var}': {cap.source.value} {cap.pattern!r}{_where(cap)} {what}")
    try:
        return cap.default.render(c)
    except EvalError as exc:  # still record the request before the journey ends
        return _Failed(f"capture '{var}' default: {exc}")


def secret_vars(caps: tuple[Capture, ...]) -> frozenset[str]:
    """The variables these captures mark secret (``secret: true``, CSRF tokens)."""
    return frozenset(c.var for c in caps if c.secret)


__all__ = ["MAX_HTML_CHARS", "captures_fn", "secret_vars"]
