"""Shop configuration and fault settings: frozen models, JSON (de)serialisation and validation.

Both live in the database (table ``settings``) so that every worker process sees the same
values; ``PUT /admin/config`` and ``PUT /admin/faults`` change them live. Every time constant is
configurable so that tests can run the whole on-sale in seconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

EVENT_ID = "onsale-2026"
MAX_SEATS_PER_ORDER = 4


class QueueingMethod(StrEnum):
    """How the waiting room orders visitors (Cloudflare's FIFO vs random pre-queue)."""

    FIFO = "fifo"
    PREQUEUE_SHUFFLE = "prequeue_shuffle"


class Bug(StrEnum):
    """Seeded bugs: each one makes at least one check of ``/admin/invariants`` fail."""

    NON_ATOMIC_HOLD = "non_atomic_hold"
    LIFO_ADMISSION = "lifo_admission"
    ADMISSION_X1_5 = "admission_x1_5"
    TOKEN_REUSE_ALLOWED = "token_reuse_allowed"
    NO_IDEMPOTENCY = "no_idempotency"
    NO_HOLD_SWEEPER = "no_hold_sweeper"


ROUTE_NAMES = (
    "events.get",
    "wr.join",
    "wr.status",
    "wr.token",
    "seats.get",
    "holds.create",
    "holds.delete",
    "orders.create",
    "orders.get",
    # the HTML storefront (--storefront html)
    "html.landing",
    "html.join",
    "html.queue",
    "html.event",
    "html.hold",
    "html.cart",
    "html.checkout",
    "html.order",
)


class ConfigError(ValueError):
    """Invalid configuration or faults; ``problems`` lists ``(field, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


@dataclass(frozen=True)
class ShopConfig:
    """Waiting room and shop behaviour. Defaults follow DOMAIN.md §2 and §4."""

    admission_rate_per_min: float = 300.0
    active_cap: int = 500
    refresh_interval_s: float = 20.0
    queue_silence_s: float = 300.0
    token_ttl_s: float = 900.0
    token_redeem_s: float = 600.0
    hold_ttl_s: float = 480.0
    hold_release_grace_s: float = 5.0
    sweeper_period_s: float = 1.0
    queueing_method: QueueingMethod = QueueingMethod.FIFO
    onsale_at: float = 0.0  # epoch seconds; 0 = open since the shop started
    seats_cache_s: float = 1.0
    ga_capacity: int = 500  # general-admission tickets (no seat ids) beside the seats

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class EndpointFault:
    """Latency added before an endpoint runs, and the share of its requests answered with an error."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Faults:
    """Injected faults, the simulated payment provider and the seeded bugs."""

    endpoints: Mapping[str, EndpointFault] = field(default_factory=dict)
    capacity_limit: int = 0  # 0 = no limit; else 503 beyond N concurrent requests per process
    payment_latency_ms: float = 250.0  # median of a lognormal distribution
    payment_latency_sigma: float = 0.5
    payment_decline_rate: float = 0.08
    bugs: frozenset[Bug] = frozenset()

    def has(self, bug: Bug) -> bool:
        return bug in self.bugs

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
            "capacity_limit": self.capacity_limit,
            "payment": {
                "latency_ms": self.payment_latency_ms,
                "latency_sigma": self.payment_latency_sigma,
                "decline_rate": self.payment_decline_rate,
            },
            "bugs": {b.value: b in self.bugs for b in Bug},
        }


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def _unknown(kind: str, key: str, choices: list[str]) -> tuple[str, str]:
    close = difflib.get_close_matches(key, choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(choices)}"
    return key, f"unknown {kind}{hint}"


MAXIMUM = 1e12  # any setting: keeps every sum and product of settings finite


def _number(
    problems: list[tuple[str, str]], name: str, value: Any, *, minimum: float, integer: bool
) -> float | int | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = 0.0
    if ok:
        try:
            number = float(value)  # an int beyond a float's range raises OverflowError
        except OverflowError:
            ok = False
    ok = ok and math.isfinite(number) and minimum <= number <= MAXIMUM
    if ok and integer and number != int(value):
        ok = False
    if not ok:
        kind = "an integer" if integer else "a number"
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        problems.append((name, f"must be {kind} from {minimum:g} to {MAXIMUM:g}, got {shown}"))
        return None
    return int(value) if integer else number


_CONFIG_MINIMUM: dict[str, float] = {
    "admission_rate_per_min": 0.0,
    "active_cap": 0,
    "refresh_interval_s": 0.0,
    "queue_silence_s": 0.01,
    "token_ttl_s": 0.01,
    "token_redeem_s": 0.01,
    "hold_ttl_s": 0.01,
    "hold_release_grace_s": 0.0,
    "sweeper_period_s": 0.01,
    "onsale_at": 0.0,
    "seats_cache_s": 0.0,
    "ga_capacity": 0,
}


def merge_config(base: ShopConfig, patch: Mapping[str, Any], now: float) -> ShopConfig:
    """``base`` with the keys of ``patch`` applied; raises ConfigError listing every problem.

    ``onsale_in_s`` (seconds from ``now``) is accepted as a convenience for ``onsale_at``.
    """
    problems: list[tuple[str, str]] = []
    changes: dict[str, Any] = {}
    names = [f.name for f in dataclasses.fields(ShopConfig)]
    for key, value in patch.items():
        if key == "onsale_in_s":
            secs = _number(problems, key, value, minimum=0.0, integer=False)
            if secs is not None:
                changes["onsale_at"] = now + secs
        elif key == "queueing_method":
            try:
                changes[key] = QueueingMethod(value)
            except ValueError:
                choices = ", ".join(m.value for m in QueueingMethod)
                problems.append((key, f"must be one of {choices}, got {value!r}"))
        elif key in _CONFIG_MINIMUM:
            num = _number(
                problems,
                key,
                value,
                minimum=_CONFIG_MINIMUM[key],
                integer=key in ("active_cap", "ga_capacity"),
            )
            if num is not None:
                changes[key] = num
        else:
            problems.append(_unknown("config key", key, [*names, "onsale_in_s"]))
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(base, **changes)


def config_from_json(data: Mapping[str, Any]) -> ShopConfig:
    return merge_config(ShopConfig(), data, now=0.0)


def _endpoint_fault(
    problems: list[tuple[str, str]], name: str, base: EndpointFault, raw: Any
) -> EndpointFault | None:
    if not isinstance(raw, Mapping):
        problems.append((name, "must be an object with latency_ms, error_rate, error_status"))
        return None
    values = dataclasses.asdict(base)
    for key, value in raw.items():
        where = f"{name}.{key}"
        if key == "latency_ms":
            values[key] = _number(problems, where, value, minimum=0.0, integer=False)
        elif key == "error_rate":
            values[key] = _number(problems, where, value, minimum=0.0, integer=False)
            if values[key] is not None and values[key] > 1:
                problems.append((where, f"must be between 0 and 1, got {value!r}"))
        elif key == "error_status":
            values[key] = _number(problems, where, value, minimum=400, integer=True)
            if values[key] is not None and values[key] > 599:
                problems.append((where, f"must be an HTTP error status 400-599, got {value!r}"))
        else:
            problems.append(_unknown("endpoint fault key", where, list(values)))
    if any(v is None for v in values.values()):
        return None
    return EndpointFault(**values)


def _merge_endpoints(
    problems: list[tuple[str, str]], base: Mapping[str, EndpointFault], raw: Any
) -> dict[str, EndpointFault]:
    out = dict(base)
    if not isinstance(raw, Mapping):
        problems.append(("endpoints", "must be an object keyed by endpoint name"))
        return out
    for name, spec in raw.items():
        if name not in ROUTE_NAMES:
            problems.append(_unknown("endpoint", f"endpoints.{name}", list(ROUTE_NAMES)))
        elif spec is None:
            out.pop(name, None)
        else:
            fault = _endpoint_fault(
                problems, f"endpoints.{name}", out.get(name, EndpointFault()), spec
            )
            if fault is not None:
                out[name] = fault
    return out


def _merge_payment(problems: list[tuple[str, str]], changes: dict[str, Any], raw: Any) -> None:
    keys = {
        "latency_ms": "payment_latency_ms",
        "latency_sigma": "payment_latency_sigma",
        "decline_rate": "payment_decline_rate",
    }
    if not isinstance(raw, Mapping):
        problems.append(
            ("payment", "must be an object with latency_ms, latency_sigma, decline_rate")
        )
        return
    for key, value in raw.items():
        if key not in keys:
            problems.append(_unknown("payment key", f"payment.{key}", list(keys)))
            continue
        num = _number(problems, f"payment.{key}", value, minimum=0.0, integer=False)
        if num is not None and key == "decline_rate" and num > 1:
            problems.append((f"payment.{key}", f"must be between 0 and 1, got {value!r}"))
        elif num is not None:
            changes[keys[key]] = num


def _merge_bugs(problems: list[tuple[str, str]], base: frozenset[Bug], raw: Any) -> frozenset[Bug]:
    bugs = set(base)
    if not isinstance(raw, Mapping):
        problems.append(("bugs", "must be an object of bug name -> true/false"))
        return base
    for name, on in raw.items():
        if name not in {b.value for b in Bug}:
            problems.append(_unknown("bug", f"bugs.{name}", [b.value for b in Bug]))
        elif not isinstance(on, bool):
            problems.append((f"bugs.{name}", f"must be true or false, got {on!r}"))
        elif on:
            bugs.add(Bug(name))
        else:
            bugs.discard(Bug(name))
    return frozenset(bugs)


def merge_faults(base: Faults, patch: Mapping[str, Any]) -> Faults:
    """``base`` with ``patch`` applied section by section; raises ConfigError.

    ``endpoints``: per endpoint name, an object merged into the current fault (null removes it);
    ``payment`` and ``bugs``: merged key by key; ``capacity_limit``: replaced.
    """
    problems: list[tuple[str, str]] = []
    changes: dict[str, Any] = {}
    for key, value in patch.items():
        if key == "endpoints":
            changes["endpoints"] = _merge_endpoints(problems, base.endpoints, value)
        elif key == "capacity_limit":
            changes[key] = _number(problems, key, value, minimum=0, integer=True)
        elif key == "payment":
            _merge_payment(problems, changes, value)
        elif key == "bugs":
            changes["bugs"] = _merge_bugs(problems, base.bugs, value)
        else:
            problems.append(
                _unknown("faults key", key, ["endpoints", "capacity_limit", "payment", "bugs"])
            )
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(base, **changes)


def faults_from_json(data: Mapping[str, Any]) -> Faults:
    return merge_faults(Faults(), data)
