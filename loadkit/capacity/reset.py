"""Send the scenario's ``reset:`` request (standard library, no gevent) between probes.

The URL obeys the allow-list (``loadkit.hosts``), like load and probes; redirects are not
followed (a reset that redirects is reported, not chased); header values read ``{{ env.NAME }}`` from
the environment now and are never written anywhere.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from loadkit.analysis.probe_expect import Scope
from loadkit.errors import TargetError
from loadkit.hosts import check_url
from loadkit.scenario import ResetSpec, compile_template


def reset_url(spec: ResetSpec, target_url: str) -> str:
    """The reset's absolute URL: its own, or its path joined to the target's base URL."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", spec.url):
        return spec.url
    return target_url.rstrip("/") + "/" + spec.url.lstrip("/")


def check_reset(spec: ResetSpec, target_url: str, allow_hosts: Sequence[str]) -> str:
    """The URL, after the allow-list check (``TargetError``, exit 2, when refused)."""
    url = reset_url(spec, target_url)
    check_url(url, allow_hosts, what="reset url")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def send_reset(
    spec: ResetSpec,
    target_url: str,
    allow_hosts: Sequence[str],
    env_defaults: Mapping[str, str | None] | None = None,
) -> str | None:
    """Send the reset; None when the target answered 2xx, else what went wrong (one line).
    ``{{ env.NAME }}`` reads the environment, else ``env_defaults`` (the scenario's ``env:``).
    Raises ``TargetError`` when the URL is not allowed."""
    url = check_reset(spec, target_url, allow_hosts)
    defaults = env_defaults or {}
    headers = {}
    for key, value in spec.headers:
        compiled = compile_template(value)
        env = {f"env.{n}": os.environ.get(n) or defaults.get(n) or "" for n in compiled.env}
        headers[key] = str(compiled.render(Scope(env)))
    if any(c in v for v in headers.values() for c in "\r\n\0"):
        raise TargetError("a reset header holds a line break or NUL once {{ env }} is read")
    data = spec.body.encode() if spec.body is not None else None
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=spec.method)
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _NoRedirects(),
    ):
        opener.add_handler(handler)
    try:
        with opener.open(request, timeout=spec.timeout_s) as response:
            status = int(response.getcode())
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"reset {spec.method} {url}: no answer ({exc})"
    if 200 <= status < 300:
        return None
    return f"reset {spec.method} {url}: HTTP {status}"


__all__ = ["check_reset", "reset_url", "send_reset"]
