"""``reset:``: the request that puts the target back to a fresh state between capacity probes.

    reset: {method: POST, path: /admin/reset, headers: {X-Admin-Key: "{{ env.LOADKIT_DEMO_ADMIN_KEY }}"}}

``path`` is joined to the target URL; ``url`` is absolute (and must be on the allow-list, like
probes: checked by ``loadkit capacity`` before the first probe). ``body`` is text, or a mapping
sent as JSON. Header values may read the environment as ``{{ env.NAME }}`` when the request is sent,
so keys stay out of scenario files.
"""

from __future__ import annotations

import json
import re

from loadkit.scenario.models import ResetSpec
from loadkit.sources import Problems, YamlMap, expect_map
from loadkit.units import parse_duration_s

RESET_KEYS = ("method", "path", "url", "headers", "body", "timeout")
RESET_METHODS = ("POST", "PUT", "DELETE", "GET", "PATCH")
MAX_RESET_TIMEOUT_S = 300.0


def parse_reset(top: YamlMap, problems: Problems) -> ResetSpec | None:
    """The scenario's ``reset:`` or None; every problem is added to ``problems``."""
    if "reset" not in top:
        return None
    m = expect_map(top["reset"], top.value_loc("reset"), "the reset request", problems)
    if m is None:
        return None
    problems.check_keys(m, RESET_KEYS, (), "the reset request")
    method = str(m.get("method", "POST")).upper()
    if method not in RESET_METHODS:
        problems.add(
            f"bad reset method {m.get('method')!r}.",
            m.value_loc("method"),
            hint=f"Accepted: {', '.join(RESET_METHODS)}.",
        )
    url = m.get("url", m.get("path"))
    if not isinstance(url, str) or not url.strip():
        problems.add("the reset request needs 'path' (joined to the target) or 'url'.", m.loc)
        url = ""
    headers = m.get("headers", YamlMap())
    if not isinstance(headers, YamlMap):
        problems.add("reset headers must be a mapping.", m.value_loc("headers"))
        headers = YamlMap()
    for key, value in headers.items():  # one variable syntax everywhere: {{ env.NAME }}
        old = re.search(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(value))
        if old:
            problems.add(
                f"reset header {key} reads the environment as ${{{old.group(1)}}}; "
                "reset uses the syntax requests use.",
                headers.value_loc(key),
                hint=f'Write "{{{{ env.{old.group(1)} }}}}" instead of "${{{old.group(1)}}}".',
            )
    body = m.get("body")
    if isinstance(body, YamlMap):
        body = json.dumps({str(k): v for k, v in body.items()})
    elif body is not None and not isinstance(body, str):
        problems.add("the reset body is text or a mapping (sent as JSON).", m.value_loc("body"))
        body = None
    timeout_s = 10.0
    if "timeout" in m:
        timeout_s = problems.convert(m, "timeout", parse_duration_s, 10.0)
        if not 0 < timeout_s <= MAX_RESET_TIMEOUT_S:
            problems.add(
                f"the reset timeout must be more than 0s and at most {MAX_RESET_TIMEOUT_S:g}s.",
                m.value_loc("timeout"),
            )
    return ResetSpec(
        method=method,
        url=url.strip(),
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        body=body,
        timeout_s=timeout_s,
        location=m.loc,
    )


__all__ = ["RESET_KEYS", "parse_reset"]
