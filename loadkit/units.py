"""Parse and format durations, rates, percentages and sizes.

Durations are returned in seconds (float); rates in events per second; percentages as
fractions (``"0.1%"`` → ``0.001``). Every parser raises ``ValueError`` with a message that
says what is accepted; callers wrap it in an ``InputError`` with the file location.
"""

from __future__ import annotations

import math
import re

_DURATION_UNITS_S = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_DURATION_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*(ns|us|µs|ms|sec|s|min|m|h)?\s*$")
_COMPOUND_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|sec|s|min|m|h)")
_RATE_RE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(k)?\s*(?:/|per\s+)\s*(s|sec|second|m|min|minute|h|hour)\s*$"
)
_RATE_PER_S = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 1 / 60,
    "min": 1 / 60,
    "minute": 1 / 60,
    "h": 1 / 3600,
    "hour": 1 / 3600,
}
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

DURATION_HELP = "a duration such as 250ms, 1.5s, 2m, 1h or 1m30s (a bare number means seconds)"
RATE_HELP = "a rate such as 500/s, 30/min, 1.2k/s or 'per minute' (a bare number means per second)"
PERCENT_HELP = "a percentage such as 0.1% or a fraction such as 0.001"


def _finite(number: float, value: object) -> float:
    """``number`` if finite: NaN or infinity (YAML ``.nan``, ``.inf``, ``"1e999"``) is refused."""
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {value!r}")
    return number


def parse_duration_s(value: object) -> float:
    """Parse ``value`` (``"1.5s"``, ``"800ms"``, ``"2m"``, ``"1m30s"``, ``3``) into seconds.

    Raises ``ValueError`` naming the accepted forms, or saying it must be finite.
    """
    return _finite(_duration_s(value), value)


def _duration_s(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    m = _DURATION_RE.match(value)
    if m:
        return float(m.group(1)) * _DURATION_UNITS_S[m.group(2) or "s"]
    text = value.replace(" ", "")
    parts = _COMPOUND_RE.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _DURATION_UNITS_S[u] for n, u in parts)
    raise ValueError(f"expected {DURATION_HELP}, got {value!r}")


def parse_rate_per_s(value: object) -> float:
    """Parse ``"500/s"``, ``"30/min"``, ``"1.2k/s"`` or a bare number (per second).

    Raises ``ValueError`` naming the accepted forms, or saying it must be finite.
    """
    return _finite(_rate_per_s(value), value)


def _rate_per_s(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {RATE_HELP}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        m = _RATE_RE.match(value)
        if m:
            n = float(m.group(1)) * (1000 if m.group(2) else 1)
            return n * _RATE_PER_S[m.group(3)]
    raise ValueError(f"expected {RATE_HELP}, got {value!r}")


def parse_fraction(value: object) -> float:
    """Parse ``"0.1%"`` → 0.001, or a bare fraction ``0.001``; ``ValueError`` if bad or not
    finite."""
    return _finite(_fraction(value), value)


def _fraction(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {PERCENT_HELP}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"expected {PERCENT_HELP}, got {value!r}")


def parse_size_bytes(value: object) -> int:
    """Parse ``"10MB"``, ``"512KiB"`` or a bare integer number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$", value)
        if m and m.group(2).lower() in _SIZE_UNITS | {"": 1}:
            size = _finite(float(m.group(1)) * _SIZE_UNITS.get(m.group(2).lower(), 1), value)
            return int(size)
    raise ValueError(f"expected a size such as 10MB or 512KiB, got {value!r}")


def format_duration(seconds: float) -> str:
    """Human form: ``0.0123`` → ``"12.3ms"``, ``75`` → ``"1m15s"``."""
    if seconds != seconds:  # NaN
        return "—"
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if abs(seconds) < 1:
        ms = seconds * 1e3
        return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"
    if abs(seconds) < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_ms(ms: float) -> str:
    """Format a millisecond value for tables: ``"12.3ms"``, ``"1.25s"``."""
    return format_duration(ms / 1e3)


def format_rate(per_s: float) -> str:
    """``"1,234/s"``, ``"12.5/s"``, ``"0.50/s"``."""
    if per_s != per_s:
        return "—"
    if per_s >= 100:
        return f"{per_s:,.0f}/s"
    if per_s >= 10:
        return f"{per_s:.1f}/s"
    return f"{per_s:.2f}/s"


def format_percent(fraction: float) -> str:
    """``0.00123`` → ``"0.12%"``."""
    if fraction != fraction:
        return "—"
    pct = fraction * 100
    if pct == 0:
        return "0%"
    if pct < 0.01:
        return f"{pct:.3f}%"
    if pct < 10:
        return f"{pct:.2f}%"
    return f"{pct:.1f}%"


__all__ = [
    "DURATION_HELP",
    "PERCENT_HELP",
    "RATE_HELP",
    "format_duration",
    "format_ms",
    "format_percent",
    "format_rate",
    "parse_duration_s",
    "parse_fraction",
    "parse_rate_per_s",
    "parse_size_bytes",
]
