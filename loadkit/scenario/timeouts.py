"""Timeouts a scenario may set, and the checks they must pass.

Every request owns its full ``request_timeout`` (docs/scenarios.md, "Timeouts"). A timeout must
be longer than 0 (checked by the loader) and no longer than the whole run, profile plus drain
(``check_timeouts``, once the profile is known): a longer one could never fire, so a request
that never answers would hold its visitor until the run cuts it and never count as a timeout.
"""

from __future__ import annotations

from loadkit.errors import InputError, Location, ValidationErrors
from loadkit.scenario.checks import _all_steps
from loadkit.scenario.models import RequestStep, Scenario
from loadkit.units import parse_duration_s


def timeout_s(value: object) -> float:
    """A timeout in seconds (``"10s"``, ``"800ms"``, ``2``), longer than 0.

    Raises ``ValueError`` saying what is accepted.
    """
    seconds = parse_duration_s(value)
    if not seconds > 0:
        raise ValueError(f"a timeout must be longer than 0 (e.g. 10s or 800ms), got {value!r}")
    return seconds


def check_timeouts(scenario: Scenario, run_s: float) -> None:
    """Raise ``InputError`` (``ValidationErrors`` for several) naming file:line for each timeout
    in ``scenario`` longer than ``run_s``, the whole run (profile length + drain), in seconds."""
    found: dict[str, tuple[float, Location]] = {}  # by location: an included block once
    settings = scenario.settings
    values = {"request_timeout": settings.request_timeout_s,
              "connect_timeout": settings.connect_timeout_s}  # fmt: skip
    for key, loc in settings.timeout_locations:
        seconds = values.get(key)
        if seconds is not None:
            found[str(loc)] = (seconds, loc)
    for step in _all_steps(p.steps for p in scenario.personas):
        if isinstance(step, RequestStep) and step.request.timeout_s is not None:
            loc = step.request.timeout_at or Location(scenario.path)
            found[str(loc)] = (step.request.timeout_s, loc)
    errors = [
        InputError(
            f"a timeout of {seconds:g}s is longer than the whole run ({run_s:g}s: the profile "
            "plus its drain): it could never fire.",
            location=loc,
            hint="Use a timeout a person would wait for one answer (e.g. 10s), or lengthen "
            "the profile or --drain.",
        )
        for seconds, loc in found.values()
        if seconds > run_s
    ]
    if errors:
        raise errors[0] if len(errors) == 1 else ValidationErrors(errors)


__all__ = ["check_timeouts", "timeout_s"]
