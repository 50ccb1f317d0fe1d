"""The steps of a journey: frozen dataclasses the loader builds and the runner compiles.

One class per step kind (``RequestStep``, ``ThinkStep``, ``PollStep``, ...; ``Step`` is their
union) and the parts they are made of (requests, expectations, captures, think times,
intervals, backoffs, branches). Expressions, templates, JSONPaths and regexes are already
compiled. Times are seconds (``_s``). Re-exported by ``loadkit.scenario.models``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from loadkit.errors import Location
from loadkit.results.schema import ArrivalOutcome
from loadkit.scenario.expr import Expr
from loadkit.scenario.jsonpath import JsonPath
from loadkit.scenario.patterns import BoundedRegex
from loadkit.scenario.templates import Template


class ThinkKind(StrEnum):
    CONSTANT = "constant"
    UNIFORM = "uniform"
    EXPONENTIAL = "exponential"  # a = mean
    LOGNORMAL = "lognormal"  # a = median, b = sigma


@dataclass(frozen=True)
class ThinkSpec:
    """A random duration: constant a; uniform [a, b]; exponential mean a; lognormal median a,
    sigma b. Seconds, already multiplied by ``time_scale``."""

    kind: ThinkKind
    a_s: float
    b_s: float = 0.0

    def mean_s(self) -> float:
        import math

        if self.kind is ThinkKind.UNIFORM:
            return (self.a_s + self.b_s) / 2
        if self.kind is ThinkKind.LOGNORMAL:
            return self.a_s * math.exp(self.b_s**2 / 2)
        return self.a_s


class CaptureSource(StrEnum):
    JSON = "json"
    REGEX = "regex"
    HEADER = "header"
    COOKIE = "cookie"
    FORM_FIELD = "form_field"  # an HTML <input>/<textarea>/<select> value by name
    CSRF = "csrf"  # a page's CSRF token: the named (or a csrf-looking) hidden input, or <meta>
    LINK = "link"  # the href of the first <a> whose text contains the pattern


HTML_SOURCES = frozenset({CaptureSource.FORM_FIELD, CaptureSource.CSRF, CaptureSource.LINK})


@dataclass(frozen=True)
class Capture:
    """Set variable ``var`` from the response, or from variable ``from_var`` when given (a
    regex or JSONPath applied to a captured value). No match, or a null, is a failure unless
    a ``default`` (a template, e.g. ``"{{ state }}"`` to keep the previous value) is given.
    A ``secret`` capture's value is shown as ``[redacted]`` by ``loadkit try`` and in records."""

    var: str
    source: CaptureSource
    pattern: str  # JSONPath text, regex, header/cookie/field name, link text ("" = any csrf)
    location: Location
    jsonpath: JsonPath | None = field(default=None, repr=False)
    regex: BoundedRegex | None = field(default=None, repr=False)
    default: Template | None = None
    from_var: Template | None = None  # ``{{ VAR }}``: the value the pattern applies to
    secret: bool = False


@dataclass(frozen=True)
class JsonCheck:
    """``expect.json``: the value at ``path`` must compare to ``value`` with ``op``
    (``{$.ok: true}`` is ``==``; ``["$.count > 0"]`` any of == != < <= > >=)."""

    path: JsonPath
    value: Any
    op: str = "=="


@dataclass(frozen=True)
class BodyCheck:
    """One test on a response body: it contains ``text``, matches ``regex``, or has ``json``
    (every JSONPath equal to its value). ``negate`` turns "contains" into "does not contain"."""

    text: str | None = None
    regex: BoundedRegex | None = field(default=None, repr=False)
    json: tuple[JsonCheck, ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class Expect:
    """Which statuses are fine, which are business outcomes (labelled, still ``ok``), and
    what the body must hold. ``labels`` are body-recognised business outcomes, e.g. a 200
    page saying "Sold out" labelled ``sold_out`` (still ``ok``, the label is recorded)."""

    ok_statuses: frozenset[int] | None = None  # None = any status below 400
    outcomes: tuple[tuple[int, str], ...] = ()  # e.g. (409, "seat_taken")
    json: tuple[JsonCheck, ...] = ()
    condition: Expr | None = None  # `expect.that`: an expression over captured values
    body: tuple[BodyCheck, ...] = ()  # `expect.text`, `not_text`, `regex`: all must hold
    labels: tuple[tuple[str, BodyCheck], ...] = ()  # `outcomes: {sold_out: {text: ...}}`


class OnError(StrEnum):
    FAIL = "fail"  # the journey ends `failed` (default)
    CONTINUE = "continue"  # carry on; `status`/`outcome` tell what happened
    LEAVE = "leave"  # the journey ends `abandoned`, reason = the error


class Fact(StrEnum):
    JOINED = "joined"
    ADMITTED = "admitted"
    QUEUE_POSITION = "queue_position"
    TOKEN_ID = "token_id"
    SEATS_HELD = "seats_held"
    SEATS_BOUGHT = "seats_bought"
    ORDER_ID = "order_id"
    SHOP_OK_WITHOUT_TOKEN = "shop_ok_without_token"
    TICKETS_BOUGHT = "tickets_bought"  # a number of tickets bought (added up): quota checks


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: Template
    request_name: str
    query: tuple[tuple[str, Template], ...] = ()
    headers: tuple[tuple[str, Template], ...] = ()
    json: Template | None = None
    form: Template | None = None
    body: Template | None = None
    timeout_s: float | None = None
    timeout_at: Location | None = field(default=None, compare=False)  # where timeout_s was set
    follow_redirects: bool | None = None  # None = the scenario's settings.follow_redirects


@dataclass(frozen=True)
class StepBase:
    name: str
    location: Location


@dataclass(frozen=True)
class RequestStep(StepBase):
    request: RequestSpec
    expect: Expect = field(default_factory=Expect)
    captures: tuple[Capture, ...] = ()
    record: tuple[tuple[Fact, Template], ...] = ()
    on_error: OnError = OnError.FAIL


@dataclass(frozen=True)
class ThinkStep(StepBase):
    think: ThinkSpec


@dataclass(frozen=True)
class HazardStage:
    """From ``after_s`` of polling on, leave with rate ``per_s`` (a constant hazard)."""

    after_s: float
    per_s: float


@dataclass(frozen=True)
class Interval:
    """How long to wait between polls: ``fixed``, or what the server asks for (the
    ``Retry-After``-style ``header``, then ``json`` path), else ``fallback_s``."""

    fixed: ThinkSpec | None = None
    header: str | None = None
    json: JsonPath | None = None
    fallback_s: float = 1.0
    min_s: float = 0.0


@dataclass(frozen=True)
class PollStep(StepBase):
    steps: tuple[Step, ...]
    until: Expr
    interval: Interval
    deadline_s: float | None = None
    max_polls: int | None = None
    abandon: tuple[HazardStage, ...] = ()
    on_deadline: ArrivalOutcome | None = ArrivalOutcome.GAVE_UP  # None = carry on


@dataclass(frozen=True)
class Backoff:
    """Wait before attempt n+1: ``delays_s[n-1]`` (last one repeats), or
    ``base_s * factor**(n-1)`` capped at ``max_s``; ± ``jitter`` fraction."""

    delays_s: tuple[float, ...] = ()
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.0


@dataclass(frozen=True)
class RetryStep(StepBase):
    steps: tuple[Step, ...]
    statuses: frozenset[int]
    errors: frozenset[str]  # connection_error, timeout, expectation_failed
    attempts: int | None  # total tries, None = no cap
    backoff: Backoff
    deadline_s: float | None = None
    on_give_up: ArrivalOutcome | None = ArrivalOutcome.GAVE_UP  # None = carry on


@dataclass(frozen=True)
class Branch:
    weight: float
    steps: tuple[Step, ...]
    location: Location


@dataclass(frozen=True)
class ChoiceStep(StepBase):
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class IfStep(StepBase):
    condition: Expr
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...] = ()


@dataclass(frozen=True)
class RepeatStep(StepBase):
    steps: tuple[Step, ...]
    times: int | None = None
    while_: Expr | None = None
    until: Expr | None = None
    index_var: str | None = None


@dataclass(frozen=True)
class LeaveStep(StepBase):
    reason: Template
    outcome: ArrivalOutcome = ArrivalOutcome.ABANDONED


@dataclass(frozen=True)
class SetStep(StepBase):
    assignments: tuple[tuple[str, Template], ...]


@dataclass(frozen=True)
class RecordStep(StepBase):
    record: tuple[tuple[Fact, Template], ...]


@dataclass(frozen=True)
class FeedStep(StepBase):
    feeder: str
    var: str


@dataclass(frozen=True)
class ClearCookiesStep(StepBase):
    """Forget the visitor's cookies (a fan whose browser lost the queue cookie)."""


Step: TypeAlias = (
    RequestStep
    | ThinkStep
    | PollStep
    | RetryStep
    | ChoiceStep
    | IfStep
    | RepeatStep
    | LeaveStep
    | SetStep
    | RecordStep
    | FeedStep
    | ClearCookiesStep
)


__all__ = [
    "HTML_SOURCES",
    "Backoff",
    "BodyCheck",
    "Branch",
    "Capture",
    "CaptureSource",
    "ChoiceStep",
    "ClearCookiesStep",
    "Expect",
    "Fact",
    "FeedStep",
    "HazardStage",
    "IfStep",
    "Interval",
    "JsonCheck",
    "LeaveStep",
    "OnError",
    "PollStep",
    "RecordStep",
    "RepeatStep",
    "RequestSpec",
    "RequestStep",
    "RetryStep",
    "SetStep",
    "Step",
    "StepBase",
    "ThinkKind",
    "ThinkSpec",
    "ThinkStep",
]
