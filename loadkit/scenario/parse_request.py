"""Request-shaped steps from YAML: ``request`` (with expect / capture / record), ``poll`` and
``retry``. The base class of ``StepParser``."""

from __future__ import annotations

import re
from typing import Any

from loadkit.errors import Location
from loadkit.scenario.models import (
    Backoff,
    Interval,
    OnError,
    PollStep,
    RequestSpec,
    RequestStep,
    RetryStep,
    Step,
    ThinkKind,
)
from loadkit.scenario.parse_checks import CheckParser, is_var_name
from loadkit.scenario.templates import Template
from loadkit.scenario.timeouts import timeout_s
from loadkit.scenario.values import Values, parse_statuses
from loadkit.sources import Problems, YamlList, YamlMap
from loadkit.units import parse_fraction

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_BREAKS = ("\r", "\n", "\0")  # never in a header name or value (RFC 9110 5.5)
_REQUEST_KEYS = ("method", "path", "query", "headers", "json", "form", "body", "name", "timeout",
                 "follow_redirects")  # fmt: skip
_RETRY_ERRORS = ("timeout", "connection_error", "expectation_failed")


_TEMPLATE_RE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def readable(path: str) -> str:
    """A templated path as a request name: ``/events/{{ event_id }}`` → ``/events/{event_id}``
    (the name a person reads in ``try`` and reports; the records group by it)."""
    return _TEMPLATE_RE.sub(lambda m: "{" + m.group(1) + "}", path)


class RequestParser(CheckParser):
    def __init__(self, problems: Problems, values: Values) -> None:
        self.problems = problems
        self.values = values
        self.block_name = ""  # the enclosing poll/retry's name: unnamed requests inherit it

    def steps(self, value: Any, loc: Location, what: str = "steps") -> tuple[Step, ...]:
        raise NotImplementedError  # provided by StepParser

    def record(self, value: Any, loc: Location) -> Any:
        raise NotImplementedError  # provided by StepParser

    def weight(self, value: Any, loc: Location) -> float:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                return parse_fraction(value) * 100
            except ValueError:
                pass
        return self.values.number(value, loc, "weight", 0.0)

    # ------------------------------------------------------------------ request

    def request_step(self, raw: YamlMap, name: str, loc: Location) -> Step | None:
        req = self.request_spec(raw["request"], raw.value_loc("request"))
        if req is None:
            return None
        on_error = OnError.FAIL
        if "on_error" in raw:
            try:
                on_error = OnError(raw["on_error"])
            except ValueError:
                self.problems.add(
                    f"bad on_error {raw['on_error']!r}; use fail, continue or leave.",
                    raw.value_loc("on_error"),
                )
        return RequestStep(
            name or self.block_name or req.request_name, loc, req,
            expect=self.expect(raw.get("expect"), raw.value_loc("expect")),
            captures=self.captures(raw.get("capture"), raw.value_loc("capture")),
            record=self.record(raw["record"], raw.value_loc("record")) if "record" in raw else (),
            on_error=on_error,
        )  # fmt: skip

    def request_spec(self, value: Any, loc: Location) -> RequestSpec | None:
        if isinstance(value, str):
            method, _, path = value.strip().partition(" ")
            value = YamlMap(method=method, path=path.strip())
            value.loc, value.key_locs, value.value_locs = loc, {}, {}
        if not isinstance(value, YamlMap):
            self.problems.add("request is 'GET /path' or a mapping {method, path, ...}.", loc)
            return None
        self.problems.check_keys(value, _REQUEST_KEYS, ("path",), "a request")
        method = str(value.get("method", "GET")).upper()
        if method not in METHODS:
            self.problems.add(f"unknown HTTP method {method!r}; use one of {', '.join(METHODS)}.",
                              value.value_loc("method"))  # fmt: skip
        path = str(value.get("path", "/"))
        if not (path.startswith("/") or path.startswith("http") or path.startswith("{{")):
            self.problems.add(f"a path starts with '/', got {path!r}.", value.value_loc("path"))
        bodies = [k for k in ("json", "form", "body") if k in value]
        if len(bodies) > 1:
            self.problems.add(f"a request has one body, this one has {', '.join(bodies)}.", loc)
        request_name = value.get("name", f"{method} {readable(path)}")
        return RequestSpec(
            method=method,
            path=self.values.template(path, value.value_loc("path"), "path"),
            request_name=str(request_name),
            query=self._pairs(value, "query"),
            headers=self._pairs(value, "headers"),
            json=self._body(value, "json"),
            form=self._body(value, "form"),
            body=self._body(value, "body"),
            timeout_s=self._timeout(value) if "timeout" in value else None,
            timeout_at=value.value_loc("timeout") if "timeout" in value else None,
            follow_redirects=self._follow(value),
        )  # fmt: skip

    def _follow(self, spec: YamlMap) -> bool | None:
        value = spec.get("follow_redirects")
        if value is not None and not isinstance(value, bool):
            self.problems.add(f"follow_redirects is true or false, got {value!r}.",
                              spec.value_loc("follow_redirects"))  # fmt: skip
            return None
        return value

    def _timeout(self, spec: YamlMap) -> float | None:
        try:
            return timeout_s(spec["timeout"])
        except ValueError as exc:
            self.problems.add(f"bad timeout: {exc}", spec.value_loc("timeout"))
            return None

    def _pairs(self, spec: YamlMap, key: str) -> tuple[tuple[str, Template], ...]:
        if key not in spec:
            return ()
        value = spec[key]
        if not isinstance(value, YamlMap):
            self.problems.add(f"{key} must be a mapping of name: value.", spec.value_loc(key))
            return ()
        pairs = tuple(
            (str(k), self.values.template(v if isinstance(v, str) else _scalar_text(v),
                                          value.value_loc(k), f"{key}.{k}"))
            for k, v in value.items()
        )  # fmt: skip
        if key == "headers":
            for (name, template), k in zip(pairs, value, strict=True):
                if any(ch in name for ch in _BREAKS) or (
                    template.const and any(ch in str(template.value) for ch in _BREAKS)
                ):
                    self.problems.add(
                        f"header {name[:40]!r} holds a line break (CR, LF or NUL), which no"
                        " HTTP header may carry: remove it.",
                        value.value_loc(k),
                    )
        return pairs

    def _body(self, spec: YamlMap, key: str) -> Template | None:
        if key not in spec:
            return None
        value, vloc = spec[key], spec.value_loc(key)
        if key == "form" and not isinstance(value, YamlMap):
            self.problems.add("form must be a mapping of field: value.", vloc)
        if key == "body" and not isinstance(value, str):
            self.problems.add("body must be text (use json: or form: for structured bodies).", vloc)
        return self.values.template(value, vloc, key)

    # ------------------------------------------------------------------ poll / retry

    def poll_step(self, raw: YamlMap, name: str, loc: Location) -> Step | None:
        spec = raw["poll"]
        if not isinstance(spec, YamlMap):
            self.problems.add("poll takes a mapping {steps, until, interval, ...}.", loc)
            return None
        keys = ("steps", "until", "interval", "deadline", "max_polls", "abandon", "on_deadline")
        self.problems.check_keys(spec, keys, ("steps", "until"), "poll")
        return PollStep(
            name or "poll", loc,
            steps=self._block(spec, name),
            until=self._opt_expr(spec, "until") or self.values.expr("false", loc),
            interval=self._interval(spec.get("interval", 1), spec.value_loc("interval")),
            deadline_s=self._opt_duration(spec, "deadline"),
            max_polls=self.values.integer(spec["max_polls"], spec.value_loc("max_polls"),
                                          "max_polls", 1) if "max_polls" in spec else None,
            abandon=self.values.hazard(spec["abandon"], spec.value_loc("abandon"))
            if "abandon" in spec else (),
            on_deadline=self.values.end(spec.get("on_deadline", "give_up"),
                                        spec.value_loc("on_deadline"), True),
        )  # fmt: skip

    def _block(self, spec: YamlMap, name: str) -> tuple[Step, ...]:
        outer = self.block_name
        self.block_name = name or outer
        try:
            return self.steps(spec.get("steps", YamlList()), spec.value_loc("steps"))
        finally:
            self.block_name = outer

    def _opt_duration(self, spec: YamlMap, key: str) -> float | None:
        if key not in spec or spec[key] is None:
            return None
        return self.values.duration(spec[key], spec.value_loc(key), key)

    def _interval(self, value: Any, loc: Location) -> Interval:
        server_keys = ("header", "json", "fallback", "min")
        if isinstance(value, YamlMap) and any(k in value for k in server_keys):
            self.problems.check_keys(value, server_keys, what="a server-driven interval")
            jp = self.values.jsonpath(value["json"], value.value_loc("json")) \
                if "json" in value else None  # fmt: skip
            header = value.get("header")
            return Interval(
                header=str(header) if header else None, json=jp,
                fallback_s=self.values.duration(value.get("fallback", 1), value.value_loc("fallback")),
                min_s=self.values.duration(value.get("min", 0), value.value_loc("min")),
            )  # fmt: skip
        think = self.values.think(value, loc)
        if think.kind is ThinkKind.CONSTANT and think.a_s <= 0:
            self.problems.add("a poll interval must be above zero.", loc)
        return Interval(fixed=think)

    def retry_step(self, raw: YamlMap, name: str, loc: Location) -> Step | None:
        spec = raw["retry"]
        if not isinstance(spec, YamlMap):
            self.problems.add("retry takes a mapping {on, attempts, backoff, steps}.", loc)
            return None
        if "True" in spec:  # YAML 1.1 reads a bare `on:` key as the boolean true
            self.problems.add("YAML reads the key 'on' as true: write 'when:' instead.",
                              spec.key_loc("True"))  # fmt: skip
            spec = YamlMap(spec)
            spec.loc, spec.key_locs, spec.value_locs = raw["retry"].loc, {}, {}
            spec["when"] = spec.pop("True")
        keys = ("steps", "when", "attempts", "backoff", "jitter", "deadline", "on_give_up")
        self.problems.check_keys(spec, keys, ("steps", "when"), "retry")
        statuses, errors = self._retry_on(spec.get("when", YamlList()), spec.value_loc("when"))
        attempts: int | None = 3
        if "attempts" in spec:
            raw_attempts = spec["attempts"]
            attempts = None if raw_attempts in (None, "unlimited") else self.values.integer(
                raw_attempts, spec.value_loc("attempts"), "attempts", 1)  # fmt: skip
        return RetryStep(
            name or "retry", loc,
            steps=self._block(spec, name),
            statuses=frozenset(statuses), errors=frozenset(errors), attempts=attempts,
            backoff=self._backoff(spec),
            deadline_s=self._opt_duration(spec, "deadline"),
            on_give_up=self.values.end(spec.get("on_give_up", "give_up"),
                                       spec.value_loc("on_give_up"), True),
        )  # fmt: skip

    def _retry_on(self, value: Any, loc: Location) -> tuple[set[int], set[str]]:
        items = value if isinstance(value, list) else [value]
        statuses: set[int] = set()
        errors: set[str] = set()
        for item in items:
            if item in _RETRY_ERRORS:
                errors.add(str(item))
                continue
            try:
                statuses |= parse_statuses(item)
            except ValueError:
                self.problems.add(
                    f"retry on {item!r}: use status codes (503, '5xx') or "
                    f"{', '.join(_RETRY_ERRORS)}.", loc,
                )  # fmt: skip
        return statuses, errors

    def _backoff(self, spec: YamlMap) -> Backoff:
        jitter = 0.0
        if "jitter" in spec:
            jitter = self.values.fraction(spec["jitter"], spec.value_loc("jitter"), "jitter")
        value, loc = spec.get("backoff", "1s"), spec.value_loc("backoff")
        if isinstance(value, YamlList):
            delays = tuple(self.values.duration(v, value.item_loc(i), "backoff")
                           for i, v in enumerate(value))  # fmt: skip
            return Backoff(delays_s=delays or (0.0,), jitter=jitter)
        if isinstance(value, YamlMap):
            self.problems.check_keys(value, ("base", "factor", "max"), what="backoff")
            return Backoff(
                base_s=self.values.duration(value.get("base", "1s"), value.value_loc("base")),
                factor=self.values.number(value.get("factor", 2), value.value_loc("factor"),
                                          "factor", 1.0),
                max_s=self.values.duration(value.get("max", "30s"), value.value_loc("max")),
                jitter=jitter,
            )  # fmt: skip
        return Backoff(delays_s=(self.values.duration(value, loc, "backoff"),), jitter=jitter)


def _scalar_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


__all__ = ["METHODS", "RequestParser", "is_var_name"]
