"""The request step compiled to one closure: render (constants pre-rendered), send, classify,
capture, record facts.

Per request the closure does: a few attribute reads, the rendering of the dynamic parts only,
``visitor.http``, a status lookup in a precomputed set, the captures, ``visitor.record``.
No parsing, no logging, no dict-of-dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.runner.journey.captures import captures_fn
from loadkit.runner.journey.checks import classifier
from loadkit.runner.journey.per_visitor import fixed_per_journey
from loadkit.runner.journey.redirects import REDIRECT_STATUSES, Redirects, as_sent
from loadkit.runner.journey.types import (
    ArrivalFacts,
    Ctx,
    EndJourney,
    HttpResult,
    RetrySignal,
)
from loadkit.runner.redact import scrub
from loadkit.scenario.expr import EvalError, Expr
from loadkit.scenario.models import Fact, OnError, RequestStep
from loadkit.scenario.templates import Template

StepFn = Callable[[Ctx], None]
Fn = TypeVar("Fn", bound=Callable[[Ctx], Any])
_OK = Outcome.OK
_ERROR_END = {OnError.FAIL: ArrivalOutcome.FAILED, OnError.LEAVE: ArrivalOutcome.ABANDONED}


# ----------------------------------------------------------------------------- rendering


def _render_fn(t: Template) -> Callable[[Ctx], Any]:
    if t.const:
        value = t.value
        return lambda _c: value
    return t.render  # type: ignore[return-value]


def _url_fn(step: RequestStep) -> Callable[[Ctx], str]:
    req = step.request
    path, query = req.path, req.query
    if not query:
        if path.const:
            text = as_sent(str(path.value))
            return lambda _c: text
        render = path.render
        return lambda c: as_sent(str(render(c)))
    parts = [(k, _render_fn(v)) for k, v in query]
    path_fn = _render_fn(path)

    def url(c: Ctx) -> str:
        pairs = [(k, _text(f(c))) for k, f in parts]
        return f"{as_sent(path_fn(c))}?{urlencode(pairs, quote_via=quote)}"

    if path.const and all(v.const for _, v in query):
        text = url(None)  # type: ignore[arg-type]
        return lambda _c: text
    return url


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _headers_fn(step: RequestStep) -> Callable[[Ctx], dict[str, str] | None]:
    req = step.request
    fixed: dict[str, str] = {}
    if req.json is not None:
        fixed["Content-Type"] = "application/json"
    elif req.form is not None:
        fixed["Content-Type"] = "application/x-www-form-urlencoded"
    dynamic: list[tuple[str, Callable[[Ctx], Any]]] = []
    for key, t in req.headers:
        if t.const:
            fixed[key] = _text(t.value)
        else:
            dynamic.append((key, t.render))  # type: ignore[arg-type]
    if not dynamic:
        const = fixed or None
        return lambda _c: const

    def headers(c: Ctx) -> dict[str, str]:
        out = dict(fixed)
        for key, f in dynamic:
            value = out[key] = _text(f(c))
            if "\r" in value or "\n" in value or "\0" in value:
                # the value is not shown: a header is where tokens and keys travel
                raise EvalError(
                    f"header {key!r} got a line break (CR, LF or NUL) from its template, which"
                    " no HTTP header may carry: the request was not sent"
                )
        return out

    return headers


def _body_fn(step: RequestStep) -> Callable[[Ctx], bytes | None]:
    req = step.request
    if req.json is not None:
        encode: Callable[[Any], bytes] = lambda v: json.dumps(v, separators=(",", ":")).encode()  # noqa: E731
        t = req.json
    elif req.form is not None:
        encode = lambda v: urlencode({k: _text(x) for k, x in v.items()}).encode()  # noqa: E731
        t = req.form
    elif req.body is not None:
        encode = lambda v: _text(v).encode()  # noqa: E731
        t = req.body
    else:
        return lambda _c: None
    if t.const:
        data = encode(t.value)
        return lambda _c: data
    render = t.render
    return lambda c: encode(render(c))


# ----------------------------------------------------------------------------- facts


def _fact_setter(fact: Fact) -> Callable[[ArrivalFacts, Any, int], None]:
    def joined(f: ArrivalFacts, v: Any, t: int) -> None:
        if v:
            f.joined_ns = t

    def admitted(f: ArrivalFacts, v: Any, t: int) -> None:
        if v and f.admitted_ns is None:
            f.admitted_ns = t

    def position(f: ArrivalFacts, v: Any, _t: int) -> None:
        if v is not None and v != "":
            f.queue_position = int(v)

    def add_to(attr: str) -> Callable[[ArrivalFacts, Any, int], None]:
        def add(f: ArrivalFacts, v: Any, _t: int) -> None:
            items = v if isinstance(v, list | tuple) else ([] if v is None else [v])
            getattr(f, attr).extend(str(x) for x in items)

        return add

    def text_to(attr: str) -> Callable[[ArrivalFacts, Any, int], None]:
        def put(f: ArrivalFacts, v: Any, _t: int) -> None:
            if v is not None and v != "":
                setattr(f, attr, str(v))

        return put

    def count(f: ArrivalFacts, v: Any, _t: int) -> None:
        f.shop_ok_without_token = (f.shop_ok_without_token or 0) + int(v or 0)

    def tickets(f: ArrivalFacts, v: Any, _t: int) -> None:
        if v is not None and v != "":
            f.tickets_bought = (f.tickets_bought or 0) + int(v)

    return {
        Fact.JOINED: joined,
        Fact.ADMITTED: admitted,
        Fact.QUEUE_POSITION: position,
        Fact.TOKEN_ID: text_to("token_id"),
        Fact.SEATS_HELD: add_to("seats_held"),
        Fact.SEATS_BOUGHT: add_to("seats_bought"),
        Fact.ORDER_ID: text_to("order_id"),
        Fact.SHOP_OK_WITHOUT_TOKEN: count,
        Fact.TICKETS_BOUGHT: tickets,
    }[fact]


def record_fn(record: tuple[tuple[Fact, Template], ...]) -> Callable[[Ctx, int], None] | None:
    """Set arrival facts; ``at_ns`` is when the fact became true (the response's end)."""
    if not record:
        return None
    plan = [(_fact_setter(fact), _render_fn(t)) for fact, t in record]

    def apply(c: Ctx, at_ns: int) -> None:
        facts = c.visitor.facts
        for setter, render in plan:
            try:
                setter(facts, render(c), at_ns)
            except (TypeError, ValueError) as exc:
                raise EvalError(f"record: {exc}") from None

    return apply


# ----------------------------------------------------------------------------- the step


def compile_request(
    step: RequestStep,
    timeout_s: float | None,
    *,
    follow_redirects: bool = True,
    allow_hosts: tuple[str, ...] = (),
    constants: frozenset[str] = frozenset(),
) -> StepFn:
    """One closure for a request step (see the module docstring for what it does).

    ``follow_redirects`` is the scenario's setting (a request's own ``follow_redirects`` wins);
    ``allow_hosts`` is the scenario's allow-list, which every redirect hop must pass;
    ``constants`` are the variables fixed once a journey started (``journey_constants``): a
    request whose URL, headers and body read only those is rendered once per journey."""
    req = step.request
    method, rname, sname = req.method, req.request_name, step.name
    # the URL, headers and body: fixed for every visitor, or rendered (once per journey if can)
    fixed, render, once = _parts(step, constants)
    timeout = req.timeout_s if req.timeout_s is not None else timeout_s
    follow = req.follow_redirects if req.follow_redirects is not None else follow_redirects
    redirects = Redirects(allow_hosts, name=rname, step=sname, timeout_s=timeout)
    chain = redirects.follow if follow else None
    redirect_statuses = REDIRECT_STATUSES
    classify = classifier(step.expect)
    capture = captures_fn(step.captures) if step.captures else None
    that = step.expect.condition
    facts = record_fn(step.record)
    on_error = step.on_error

    def run(c: Ctx) -> None:
        c.step = sname
        v = c.visitor
        intended = c.due_ns
        intent = None if c.intents is None else _intent(c, (sname, rname), intended)
        if fixed is not None:
            u, h, b = fixed
        else:
            parts = c.memo.get(render) if once else None
            if parts is None:
                parts = render(c)
                if once:
                    c.memo[render] = parts
            u, h, b = parts
        r = v.http(method, u, name=rname, step=sname, headers=h, body=b, timeout_s=timeout,
                   intended_ns=intended, attempt=c.attempt, intent_ns=intent)  # fmt: skip
        if chain is not None and r.status in redirect_statuses:
            r, refused = chain(v, r, method, u, h, b, c.attempt, intent)
            if refused is not None:
                c.due_ns = r.end_ns
                c.last = r
                _settle(c, r, Outcome.HTTP_ERROR, "http_error", refused, on_error)
                return
        c.due_ns = r.end_ns  # the next request is meant to follow this one's end at once
        c.last = r
        outcome, label, error = classify(r)
        if outcome is _OK and label == "ok":
            if capture is not None:
                error = capture(c, r)
            if error is None and that is not None:
                error = _check_that(that, c)
            if error is None:  # the common case: a plain "ok", no label, no error text
                v.record(r, _OK)
                variables = c.vars
                variables["status"] = r.status
                variables["outcome"] = "ok"
                if facts is not None:
                    facts(c, r.end_ns)
                return
            outcome, label = Outcome.EXPECTATION_FAILED, "expectation_failed"
        _settle(c, r, outcome, label, error, on_error)

    return run


Parts = tuple[str, dict[str, str] | None, bytes | None]  # a request's URL, headers, body


def _parts(
    step: RequestStep, constants: frozenset[str]
) -> tuple[Parts | None, Callable[[Ctx], Parts], bool]:
    """``(fixed, render, once)`` for the URL, headers and body of a request step: ``fixed``
    when all three are constants (else None), ``render`` for the others, ``once`` when what it
    renders reads only values fixed for the journey (see ``per_visitor``) and may be kept."""
    req = step.request
    url_t = [req.path, *(t for _, t in req.query)]
    headers_t = [t for _, t in req.headers]
    body_t = [t for t in (req.json, req.form, req.body) if t is not None]
    url, headers, body = _url_fn(step), _headers_fn(step), _body_fn(step)
    # each part: its value when it is a constant, else how to render it
    url_v, url_r = _part(url, url_t)
    headers_v, headers_r = _part(headers, headers_t)
    body_v, body_r = _part(body, body_t)
    if url_r is None and headers_r is None and body_r is None:
        return (url_v, headers_v, body_v), _unused, False

    def render(c: Ctx) -> Parts:
        return (url_v if url_r is None else url_r(c),
                headers_v if headers_r is None else headers_r(c),
                body_v if body_r is None else body_r(c))  # fmt: skip

    return None, render, fixed_per_journey([*url_t, *headers_t, *body_t], constants)


def _part(render: Fn, templates: list[Template]) -> tuple[Any, Fn | None]:
    if all(t.const for t in templates):
        return render(None), None  # type: ignore[arg-type]  # a constant reads no scope
    return None, render


def _unused(_c: Ctx) -> Parts:  # pragma: no cover - fixed parts are never rendered
    raise AssertionError("fixed request parts are not rendered")


def _settle(
    c: Ctx, r: HttpResult, outcome: Outcome, label: str, error: str | None, on_error: OnError
) -> None:
    """Record an answer that is not a plain ``ok`` (a label, or a failure) and act on it."""
    if error is not None and c.secrets:
        error = scrub(error, c.secrets)
    c.visitor.record(r, outcome, error, None if label == outcome._value_ else label)
    variables = c.vars
    variables["status"] = r.status
    variables["outcome"] = label
    if outcome is not _OK:
        _on_failure(c, r.status, outcome, error or label, on_error)


def _intent(c: Ctx, key: tuple[str, str], intended_ns: int) -> int:
    """The intent of a request sent inside a retry block: a request already sent in an
    earlier attempt continues that intent; a first one (or one repeated within the same
    attempt, e.g. a poll) starts its own, at its intended start."""
    intents = c.intents
    assert intents is not None
    seen = intents.get(key)
    intent = seen[0] if seen is not None and seen[1] < c.attempt else intended_ns
    intents[key] = (intent, c.attempt)
    return intent


def _check_that(that: Expr, c: Ctx) -> str | None:
    try:
        return None if that.fn(c) else f"expectation failed: {that.source}"
    except EvalError as exc:
        return f"expectation {that.source!r}: {exc}"


def _on_failure(c: Ctx, status: int, outcome: Outcome, error: str, on_error: OnError) -> None:
    scope = c.retry
    if scope is not None and (status in scope.statuses or outcome.value in scope.errors):
        raise RetrySignal(error)
    if on_error is OnError.CONTINUE:
        return
    raise EndJourney(_ERROR_END[on_error], f"{c.step}: {error}")


__all__ = ["StepFn", "compile_request", "record_fn"]
