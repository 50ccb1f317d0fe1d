"""The types a journey runs on: the Visitor protocol, HTTP results, arrival facts, the run
context and the control signals. The public ones are re-exported by ``loadkit.runner.journey``."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadkit.results.schema import ArrivalOutcome, Outcome

_UNSET: Any = object()


class HttpResult:
    """One response (or its absence: ``status == 0`` with ``error_kind`` and ``error``).

    ``headers`` is whatever the client returns (geventhttpclient ``Headers``, a dict, or None);
    use ``header(name)`` / ``header_list(name)`` for case-insensitive access. Times: epoch ns,
    durations in ms.
    """

    __slots__ = (
        "_json",
        "_text",
        "content",
        "end_ns",
        "error",
        "error_kind",
        "headers",
        "intended_ns",
        "response_ms",
        "service_ms",
        "start_ns",
        "status",
    )

    def __init__(
        self,
        *,
        status: int,
        headers: Any = None,
        content: bytes = b"",
        error_kind: str | None = None,
        error: str | None = None,
        intended_ns: int = 0,
        start_ns: int = 0,
        end_ns: int = 0,
        service_ms: float = 0.0,
        response_ms: float = 0.0,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self.error_kind = error_kind
        self.error = error
        self.intended_ns = intended_ns
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.service_ms = service_ms
        self.response_ms = response_ms
        self._json = _UNSET
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (bad bytes replaced), decoded once."""
        if self._text is None:
            self._text = self.content.decode("utf-8", errors="replace")
        return self._text

    def json(self) -> Any:
        """The body parsed as JSON (parsed once). Raises ``ValueError`` if it is not JSON."""
        if self._json is _UNSET:
            self._json = json.loads(self.content)
        return self._json

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        headers = self.headers
        if type(headers) is _ClientHeaders:  # the real client's: one dict lookup, no copy
            entry = _dict_get(headers, name.lower())
            if not entry:  # absent (or set to an empty list)
                return None
            return str(entry[1] if type(entry) is tuple else entry[0][1])
        getlist = getattr(headers, "getlist", None)
        if getlist is not None:  # the real client's headers: no copy of the list
            values = getlist(name)
            return str(values[0]) if values else None
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        headers = self.headers
        if headers is None:
            return []
        getlist = getattr(headers, "getlist", None)
        if getlist is not None:
            return list(getlist(name))
        if isinstance(headers, Mapping):
            lower = name.lower()
            for key, value in headers.items():
                if str(key).lower() == lower:
                    return list(value) if isinstance(value, list) else [str(value)]
        return []


_ClientHeaders: Any = None  # the HTTP client's header type, when registered (below)
_dict_get = dict.get


def register_client_headers(cls: type) -> None:
    """Let ``HttpResult.header`` read headers of type ``cls`` (geventhttpclient's ``Headers``,
    registered by ``runner/visitor.py``) with one dict lookup, if it stores under each
    lower-cased name ``(name, value)`` or a list of such pairs — checked here, so a client that
    stores them otherwise only keeps the general path."""
    global _ClientHeaders
    h = cls()
    h.add("X-One", "1")
    h.add("X-Two", "2")
    h.add("x-two", "3")
    one, two = _dict_get(h, "x-one"), _dict_get(h, "x-two")
    if one == ("X-One", "1") and two == [("X-Two", "2"), ("x-two", "3")]:
        _ClientHeaders = cls


@dataclass(slots=True)
class ArrivalFacts:
    """What one journey observed, for client-side invariants (arrival records)."""

    joined_ns: int | None = None
    admitted_ns: int | None = None
    queue_position: int | None = None
    token_id: str | None = None
    seats_held: list[str] = field(default_factory=list)
    seats_bought: list[str] = field(default_factory=list)
    order_id: str | None = None
    shop_ok_without_token: int | None = None  # None: the journey never tried without a token
    tickets_bought: int | None = None  # None: the journey never recorded a quantity


@dataclass(frozen=True)
class JourneyEnd:
    """How a journey ended: outcome, why (None when completed), and the last step reached."""

    outcome: ArrivalOutcome
    reason: str | None
    last_step: str


class VisitorProtocol(Protocol):
    """What a journey needs of a visitor (implemented by ``loadkit.runner.visitor.Visitor``).

    ``facts`` and ``vars`` are mutated in place by the journey; ``cookie``/``clear_cookies``
    serve the ``capture: {cookie: ...}`` and ``clear_cookies`` steps.
    """

    @property
    def arrival_id(self) -> int: ...

    @property
    def persona(self) -> str: ...

    @property
    def scheduled_ns(self) -> int:
        """The arrival's scheduled start (epoch ns): the first request is intended then."""
        ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def facts(self) -> ArrivalFacts: ...

    @property
    def vars(self) -> dict[str, Any]: ...

    def http(
        self,
        method: str,
        url_or_path: str,
        *,
        name: str,
        step: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_s: float | None = None,
        intended_ns: int | None = None,
        attempt: int = 1,
        intent_ns: int | None = None,
        hop: int = 0,
    ) -> HttpResult: ...

    def record(
        self,
        result: HttpResult,
        outcome: Outcome,
        error: str | None = None,
        label: str | None = None,
    ) -> None: ...

    def url_of(self, url_or_path: str) -> str:
        """The absolute URL a request path goes to (only called to follow a redirect)."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def now_ns(self) -> int: ...

    def cookie(self, name: str) -> str | None: ...

    def clear_cookies(self) -> None: ...


@dataclass(frozen=True)
class RetryScope:
    """The innermost ``retry`` block: which failures it retries."""

    statuses: frozenset[int]
    errors: frozenset[str]


class Ctx:
    """One journey's running state; also the scope expressions read (``vars``, ``rng``).

    ``due_ns`` is when the journey's next request is meant to go out (epoch ns), the start of
    its ``response_ms`` (no coordinated omission): the arrival's scheduled start at first, then
    each request's end, plus every think, poll interval or backoff waited since.
    """

    __slots__ = ("attempt", "due_ns", "intents", "last", "memo", "retry", "rng", "secrets",
                 "step", "vars", "visitor")  # fmt: skip

    def __init__(self, visitor: VisitorProtocol) -> None:
        self.visitor = visitor
        self.vars = visitor.vars
        self.rng = visitor.rng
        self.due_ns: int = visitor.scheduled_ns
        self.last: HttpResult | None = None
        self.retry: RetryScope | None = None
        self.attempt = 1
        # inside a retry block: (step, request name) -> (intent_ns, attempt) of its latest row
        self.intents: dict[tuple[str, str], tuple[int, int]] | None = None
        self.step = ""
        # values captured as secret (CSRF tokens, ``secret: true``): scrubbed from error texts
        self.secrets: list[str] | None = None
        # request parts rendered once per journey (see ``per_visitor``), by their renderer
        self.memo: dict[Any, Any] = {}


class EndJourney(Exception):
    """Ends the journey with ``outcome`` and ``reason``."""

    def __init__(self, outcome: ArrivalOutcome, reason: str | None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class RetrySignal(Exception):
    """A request inside a ``retry`` block failed in a way that block retries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


__all__ = [
    "ArrivalFacts",
    "Ctx",
    "EndJourney",
    "HttpResult",
    "JourneyEnd",
    "RetryScope",
    "RetrySignal",
    "VisitorProtocol",
    "register_client_headers",
]
