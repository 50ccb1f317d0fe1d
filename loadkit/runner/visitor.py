"""One arrival's person: own connection, own cookies, own randomness; runs one journey.

HTTP goes through geventhttpclient's ``HTTPClient`` (the engine beneath Locust's
``FastHttpSession``), one client per visitor with a single keep-alive connection, with
loadkit's rule for sending a request again (``loadkit.runner.http_client``: at most once, only
an idempotent one that got nothing back on a kept-alive connection; a POST never). We skip
``FastHttpSession``/``UserAgent`` on purpose: per visitor they build a ``CookieJar`` with urllib
adapters and a client pool, and per request they fire Locust's request event and its rounded
stats, which loadkit does not use (raw records are the truth). See BENCHMARKS.md for the cost.

Hot-path contract: ``http`` + ``record`` cost a few microseconds beyond the network I/O;
``record`` appends one tuple to the recorder's list and nothing else.

Redirects: the journey follows them (``compile_request``), calling ``http`` once per hop with
``hop`` >= 1, after checking the hop's host against the scenario's allow-list. Only such a hop
may go to another origin; it gets its own connection and its own cookie jar (a browser would not
send the target's cookies to another host). A step's own request on another origin is refused.

Timeouts (docs/scenarios.md): every request owns its full ``request_timeout``, from the moment
it is sent to the last byte of its answer (a new connection's connect included), however many
requests the visitor made before; ``connect_timeout`` separately bounds opening a connection.
The target itself (base URL, timeouts, resolved address) is ``loadkit.runner.target``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import gevent
from gevent import getcurrent
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPParseError

from loadkit.results.schema import GENERATOR_FAULT_PREFIX, Outcome
from loadkit.runner.clock import Clock
from loadkit.runner.cookies import CookieJar
from loadkit.runner.generator_faults import generator_fault
from loadkit.runner.http_client import VisitorClient, describe
from loadkit.runner.journey import ArrivalFacts, HttpResult
from loadkit.runner.journey.types import register_client_headers
from loadkit.runner.recorder import Recorder
from loadkit.runner.redact import redact
from loadkit.runner.target import Origin, Target, split_origin

USER_AGENT = "loadkit (geventhttpclient)"
register_client_headers(Headers)  # answers' headers read with one lookup (HttpResult.header)
_OK = Outcome.OK.value


class _RequestTimeout(Exception):
    """Raised inside a request by its own deadline timer (never escapes ``Visitor.http``)."""


class RunState:
    """Shared by a run's visitors: once ``stopping`` is set, a visitor's next request or sleep
    raises ``GreenletExit`` (the journey unwinds; the engine records the arrival as stopped)."""

    __slots__ = ("stopping",)

    def __init__(self) -> None:
        self.stopping = False


def _classify(exc: BaseException, method: str, client: VisitorClient) -> tuple[str, str]:
    """(error_kind, short text) for an exception raised while ``client`` sent ``method``."""
    if isinstance(exc, _RequestTimeout):
        return Outcome.TIMEOUT.value, "timeout: no complete response in time"
    if isinstance(exc, TimeoutError):
        return Outcome.TIMEOUT.value, f"timeout: {exc}" if str(exc) else "timeout"
    if isinstance(exc, HTTPParseError):
        return Outcome.CONNECTION_ERROR.value, redact(describe(exc, method, client.pool.reused))
    fault = generator_fault(exc)  # this process ran out of fds/ports: not the target's doing
    if fault is not None:
        return Outcome.CONNECTION_ERROR.value, fault
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Outcome.CONNECTION_ERROR.value, redact(text)


class Visitor:
    """The object a journey runs against (see docs/architecture.md, loadkit.runner)."""

    __slots__ = (
        "_client",
        "_clock",
        "_jar",
        "_last",
        "_others",
        "_recorder",
        "_rng",
        "_seed",
        "_state",
        "_target",
        "_timer",
        "_timer_s",
        "_worker_id",
        "arrival_id",
        "errors",
        "facts",
        "persona",
        "requests",
        "scheduled_ns",
        "vars",
    )

    def __init__(
        self,
        arrival_id: int,
        persona: str,
        *,
        seed: int,
        target: Target,
        recorder: Recorder,
        clock: Clock,
        worker_id: int = 0,
        state: RunState | None = None,
        scheduled_ns: int | None = None,
    ) -> None:
        self.arrival_id = arrival_id
        self.persona = persona
        # the arrival's scheduled start (epoch ns): its journey's first request is intended then
        self.scheduled_ns = clock.now_ns() if scheduled_ns is None else scheduled_ns
        self._seed = seed
        self._rng: random.Random | None = None  # built on first use: seeding costs ~10 µs
        self.facts = ArrivalFacts()
        self.vars: dict[str, Any] = {}
        self.requests = 0
        self.errors = 0
        self._target = target
        self._recorder = recorder
        self._clock = clock
        self._worker_id = worker_id
        self._state = state or RunState()
        self._jar = CookieJar()
        self._client: VisitorClient | None = None
        # redirect hops to other (allowed) origins: a connection and a cookie jar per origin
        self._others: dict[Origin, tuple[VisitorClient, CookieJar]] | None = None
        self._timer: Any = None  # the loop's timer watcher for request deadlines (see _deadline)
        self._timer_s = 0.0
        # (step, name, method, attempt, intent_ns, hop) of the last http() call, for record()
        self._last: tuple[str, str, str, int, int | None, int] = ("", "", "", 1, None, 0)

    @property
    def rng(self) -> random.Random:
        """The visitor's own seeded randomness: ``random.Random(seed * 1_000_003 + arrival_id)``."""
        if self._rng is None:
            self._rng = random.Random(self._seed * 1_000_003 + self.arrival_id)
        return self._rng

    @property
    def last_step(self) -> str:
        """The step of the last request sent ("" before the first)."""
        return self._last[0]

    def now_ns(self) -> int:
        """Epoch nanoseconds on the run's monotonic-derived clock."""
        return self._clock.now_ns()

    def sleep(self, seconds: float) -> None:
        """Think or wait, cooperatively. Raises GreenletExit when the run is stopping."""
        if self._state.stopping:
            raise gevent.GreenletExit
        gevent.sleep(max(0.0, seconds))
        if self._state.stopping:
            raise gevent.GreenletExit

    def cookie(self, name: str) -> str | None:
        """The value of one of this visitor's cookies, or None."""
        return self._jar.get(name)

    def clear_cookies(self) -> None:
        """Forget every cookie (a person who lost their session, e.g. a private window)."""
        self._jar.clear()

    def url_of(self, url_or_path: str) -> str:
        """The absolute URL a request path (or URL) of this visitor goes to."""
        return self._target.url_of(url_or_path)

    def _connect(self) -> VisitorClient:
        t = self._target
        # the run's resolved address: geventhttpclient would resolve on every connect
        self._client = self._new_client(t.scheme, t.host, t.port, t.addrinfo)
        return self._client

    def _new_client(
        self, scheme: str, host: str, port: int, addrinfo: tuple[tuple[Any, ...], ...] | None = None
    ) -> VisitorClient:
        return VisitorClient(scheme, host, port, connect_timeout_s=self._target.connect_timeout_s,
                             user_agent=USER_AGENT, addrinfo=addrinfo)  # fmt: skip

    def _other(self, url: str) -> tuple[VisitorClient, CookieJar, str]:
        """The connection, cookie jar and request target for a redirect hop to ``url``."""
        origin, path = split_origin(url)
        others = self._others if self._others is not None else {}
        self._others = others
        pair = others.get(origin)
        if pair is None:
            pair = others[origin] = (self._new_client(*origin), CookieJar())
        return pair[0], pair[1], path

    def _drop_connection(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        """Close the visitor's connection (the person leaves)."""
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._drop_connection()
        for client, _jar in (self._others or {}).values():
            client.close()
        self._others = None

    def _deadline(self, seconds: float) -> Any:
        """The visitor's request-deadline timer for ``seconds``, created on first use.

        One libev timer per visitor, re-armed per request with ``again``: with ``repeat`` set to
        the timeout, ``ev_timer_again`` starts it ``repeat`` seconds from now, a fresh deadline
        every time. (``gevent.Timeout.start`` after ``cancel`` does not: libev's stop keeps
        the time that was left and start counts down only that, so one visitor's requests
        shared a single timeout budget.) Measured per request, start+stop, on a loaded 2-core
        VM: ~0.12 µs this way, ~0.4 µs for the old reused Timeout, ~1.3 µs for a fresh
        ``gevent.Timeout`` per request.
        """
        timer = self._timer
        if timer is None or self._timer_s != seconds:
            if timer is not None:
                timer.close()
            # (a repeat of 0 would make ``again`` never start it: 0 s means "at once" instead)
            after_s = max(seconds, 1e-6)
            timer = self._timer = gevent.get_hub().loop.timer(after_s, after_s)
            self._timer_s = seconds
        return timer

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
    ) -> HttpResult:
        """Send one request; never raises for HTTP or network errors (status 0 then).

        The request gets ``timeout_s`` (default: the target's ``request_timeout_s``) from now
        to the last byte of the answer, then it ends as a ``timeout`` result. ``intended_ns``
        (default: now) is when it was meant to go out; ``response_ms`` is measured from it.
        ``name``, ``step``, ``method``, ``attempt`` and ``intent_ns`` (the first attempt's
        intended start; default ``intended_ns``) are kept for the ``record`` call that follows,
        with ``hop`` (a redirect hop's number, 0 for a step's own request). Only a hop (>= 1)
        may go to another origin, which the caller checked against the allow-list. Raises
        TargetError for a step's own absolute URL on another origin, and GreenletExit when the
        run is stopping.
        """
        if self._state.stopping:
            raise gevent.GreenletExit
        self._last = (step, name, method, attempt, intent_ns, hop)
        jar = self._jar
        client = None
        if hop and url_or_path.startswith(("http://", "https://")):
            origin, path = split_origin(url_or_path)
            t = self._target
            if origin != (t.scheme, t.host, t.port):
                client, jar, path = self._other(url_or_path)
        else:
            path = self._target.path_of(url_or_path)
        send_headers = dict(headers) if headers else {}
        cookie = jar.header_for(path)
        if cookie is not None:
            given = send_headers.get("Cookie")
            send_headers["Cookie"] = f"{given}; {cookie}" if given else cookie
        if client is None:
            client = self._client or self._connect()
        timer = self._deadline(self._target.request_timeout_s if timeout_s is None else timeout_s)
        status = 0
        content = b""
        resp_headers: Any = None
        kind: str | None = None
        error: str | None = None
        start_ns = self._clock.now_ns()
        # update=True: the deadline counts from now, not from the loop's cached time
        timer.again(getcurrent().throw, _RequestTimeout, update=True)
        try:
            resp = client.exchange(method, path, body or b"", send_headers)
            content = resp.read()
            status = resp.status_code
            resp_headers = resp.info()
        except (_RequestTimeout, OSError, HTTPParseError) as exc:
            kind, error = _classify(exc, method, client)
            if error.startswith(GENERATOR_FAULT_PREFIX):
                self._recorder.generator_faults += 1
            if client is self._client:
                self._drop_connection()  # in an unknown state: the next request reconnects
            else:
                self._drop_other(client)
        finally:
            timer.stop()
        end_ns = self._clock.now_ns()
        if resp_headers is not None and "set-cookie" in resp_headers:
            jar.update(resp_headers.getlist("set-cookie"), path)
        intended = start_ns if intended_ns is None else intended_ns
        return HttpResult(
            status=status,
            headers=resp_headers,
            content=content,
            error_kind=kind,
            error=error,
            intended_ns=intended,
            start_ns=start_ns,
            end_ns=end_ns,
            service_ms=(end_ns - start_ns) / 1e6,
            response_ms=(end_ns - intended) / 1e6,
        )

    def _drop_other(self, client: VisitorClient) -> None:
        client.close()
        others = self._others or {}
        for origin, (c, _jar) in list(others.items()):
            if c is client:  # the jar goes too: simpler, and such a hop is rare
                del others[origin]

    def record(
        self,
        result: HttpResult,
        outcome: Outcome,
        error: str | None = None,
        label: str | None = None,
    ) -> None:
        """Append one request row (exactly once per ``http`` call); ``label`` is the outcome
        label the scenario gave this answer, if any."""
        self.requests += 1
        value = outcome._value_  # ``.value`` is a property: ~0.1 µs per request
        if value != _OK:
            self.errors += 1
            self._recorder.error_count += 1
            text = error if error is not None else result.error
            error = redact(text) if text else value
        else:
            error = None
        step, name, method, attempt, intent_ns, hop = self._last
        self._recorder.requests.append(
            (
                self.arrival_id,
                self._worker_id,
                self.persona,
                step,
                name,
                method,
                result.intended_ns,
                result.start_ns,
                result.service_ms,
                result.response_ms,
                result.status,
                value,
                error,
                len(result.content),
                attempt,
                result.intended_ns if intent_ns is None else intent_ns,
                hop,
                label,
            )
        )


__all__ = ["USER_AGENT", "Origin", "RunState", "Target", "Visitor", "split_origin"]
