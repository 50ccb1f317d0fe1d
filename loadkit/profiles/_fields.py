"""Reading typed fields out of a profile's YAML mappings, with located problems.

Only the loader uses this. Times may be durations (``90s``, ``1m30s``) or positions relative to
the on-sale second (``onsale``, ``onsale+2m``, ``onsale-30s``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from loadkit.errors import Location
from loadkit.sources import Problems, YamlMap
from loadkit.units import DURATION_HELP, RATE_HELP, parse_duration_s, parse_rate_per_s

TIME_HELP = f"{DURATION_HELP}, or a time relative to the on-sale: onsale, onsale+2m, onsale-30s"
_ONSALE_RE = re.compile(r"^\s*onsale\s*(?:([+-])\s*(.+?))?\s*$")
_FRACTION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


class _AlreadyReported(Exception):
    """A time refers to a bad 'onsale_at', whose problem is already in the list."""


@dataclass
class FieldReader:
    """Typed reads from YAML mappings; every bad value becomes one problem, never an exception.

    ``onsale_at_s`` resolves ``onsale`` times; ``duration_s`` bounds every time.
    """

    problems: Problems
    onsale_at_s: float | None
    duration_s: float | None
    onsale_is_broken: bool = False  # 'onsale_at' was given but bad: already reported once

    def time(self, m: YamlMap, key: str, *, required: bool = True) -> float | None:
        """A point on the timeline, in seconds since profile time 0, within [0, duration]."""
        if key not in m:
            if required:
                self.problems.add(f"missing required key '{key}'.", m.loc)
            return None
        value = m[key]
        try:
            t = self._parse_time(value)
        except _AlreadyReported:
            return None
        except ValueError as exc:
            self.problems.add(f"bad value for '{key}': {exc}", m.value_loc(key))
            return None
        if self.duration_s is not None and not 0.0 <= t <= self.duration_s + 1e-9:
            self.problems.add(
                f"'{key}' is {value!r} = {t:g}s, outside the profile (0s to {self.duration_s:g}s).",
                m.value_loc(key),
                hint="Times are measured from the start of the profile.",
            )
            return None
        return t

    def _parse_time(self, value: object) -> float:
        match = _ONSALE_RE.match(value) if isinstance(value, str) else None
        if match is None:
            try:
                return parse_duration_s(value)
            except ValueError:
                raise ValueError(f"expected {TIME_HELP}, got {value!r}") from None
        if self.onsale_at_s is None and self.onsale_is_broken:
            raise _AlreadyReported
        if self.onsale_at_s is None:
            raise ValueError(f"{value!r} uses 'onsale' but the profile has no 'onsale_at'")
        sign, offset = match.group(1), match.group(2)
        if sign is None:
            return self.onsale_at_s
        try:
            delta = parse_duration_s(offset)
        except ValueError:
            raise ValueError(f"expected {TIME_HELP}, got {value!r}") from None
        return self.onsale_at_s + (delta if sign == "+" else -delta)

    def span(
        self, m: YamlMap, key: str, *, required: bool = True, allow_zero: bool = False
    ) -> float | None:
        """A length of time in seconds, > 0 (or >= 0 with ``allow_zero``)."""
        if key not in m:
            if required:
                self.problems.add(f"missing required key '{key}'.", m.loc)
            return None
        try:
            value = parse_duration_s(m[key])
        except ValueError as exc:
            self.problems.add(f"bad value for '{key}': {exc}", m.value_loc(key))
            return None
        if not ((value > 0 or (allow_zero and value == 0)) and math.isfinite(value)):
            least = "zero or more" if allow_zero else "greater than zero"
            self.problems.add(
                f"'{key}' must be a {'non-negative' if allow_zero else 'positive'} duration, "
                f"got {m[key]!r}.",
                m.value_loc(key),
                hint=f"Accepted: {DURATION_HELP}, {least}.",
            )
            return None
        return value

    def rate(self, m: YamlMap, key: str, *, required: bool = True) -> float | None:
        """Arrivals per second, >= 0."""
        if key not in m:
            if required:
                self.problems.add(f"missing required key '{key}'.", m.loc)
            return None
        return self.rate_value(m[key], m.value_loc(key), key)

    def rate_value(self, value: object, where: Location, what: str) -> float | None:
        """``value`` as arrivals per second, >= 0; a problem located at ``where`` otherwise."""
        try:
            rate = parse_rate_per_s(_without_minus(value))
        except ValueError as exc:
            self.problems.add(f"bad value for '{what}': {exc}", where)
            return None
        if isinstance(value, str) and value.strip().startswith("-"):
            rate = -rate
        if not math.isfinite(rate):  # units refuses these; kept so no path says "negative"
            self.problems.add(f"'{what}' must be a finite number, got {value!r}.", where)
            return None
        if not rate >= 0:
            self.problems.add(
                f"'{what}' must not be negative, got {value!r}.",
                where,
                hint=f"Accepted: {RATE_HELP}, zero or more.",
            )
            return None
        return rate

    def positive_number(self, m: YamlMap, key: str) -> float | None:
        """A number > 0 (a bare number or a fraction such as ``1/25``)."""
        if key not in m:
            return None
        value = m[key]
        number = parse_number(value)
        if number is None or not (number > 0 and math.isfinite(number)):
            self.problems.add(
                f"'{key}' must be a number greater than zero (such as 0.04 or 1/25), "
                f"got {value!r}.",
                m.value_loc(key),
            )
            return None
        return number


def _without_minus(value: object) -> object:
    # units.parse_rate_per_s rejects "-5/s" as malformed; strip the sign so that the message
    # can say what is really wrong with it: a negative rate.
    return value.strip()[1:] if isinstance(value, str) and value.strip().startswith("-") else value


def parse_number(value: object) -> float | None:
    """``3``, ``0.5``, ``"0.5"`` or ``"1/25"`` as a float; ``None`` if it is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _FRACTION_RE.match(value)
        if match:
            den = float(match.group(2))
            return float(match.group(1)) / den if den else None
        try:
            return float(value)
        except ValueError:
            return None
    return None


__all__ = ["TIME_HELP", "FieldReader", "parse_number"]
