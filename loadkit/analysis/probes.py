"""Target probes: HTTP GETs after the run, with assertions on the JSON answer.

A probe comes from the scenario's ``probes:`` list as a plain dict::

    {name: invariants, path: /admin/invariants,
     headers: {X-Admin-Key: "{{ env.LOADKIT_DEMO_ADMIN_KEY }}"},
     expect: ["ok == true", "oversold == 0", "{{ body.orders == figures.orders }}"]}

``url`` (absolute) or ``path`` (joined to the target URL) is required. ``{{ env.NAME }}`` in
header values is read from the environment at run time (so keys stay out of scenario files);
an ``expect`` item in ``{{ }}`` is an expression over the answer, the environment and the
run's figures (``loadkit.analysis.probe_expect``); ``path op value`` items and the
``{path: value}`` mapping still work.
``run_probes`` executes them with the standard library (no gevent) and writes each answer to
``RUN_DIR/analysis/probes/<name>.json``; header values are never written.

Probes obey the rules load obeys (``loadkit.hosts``): http(s) only, hosts on the scenario's
allow-list (loopback by default), no proxies. A redirect is followed only to an allowed host,
and a redirect to another origin (scheme, host or port) goes without the probe's headers, so an
admin key or ``Authorization`` never reaches another host. A refused or failed probe is a failed
gate with the reason; it never stops the analysis. How the GET is sent (redirects, secret
headers, the answer's size and time caps) is ``loadkit.analysis.probe_http``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadkit.analysis.model import GateKind, GateResult, GateStatus
from loadkit.analysis.probe_expect import (
    ExprExpectation,
    Scope,
    env_vars,
    run_figures,
    scenario_variables,
    template,
)
from loadkit.analysis.probe_http import MAX_ANSWER_BYTES, RedirectRefused, fetch
from loadkit.errors import InputError, Location, TargetError
from loadkit.hosts import check_url
from loadkit.scenario import EvalError, ProbeSpec, Template
from loadkit.units import parse_duration_s

_EXPECT_RE = re.compile(r"^\s*([A-Za-z0-9_.\[\]-]+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # a URL with a scheme, not a path
MAX_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Expectation:
    """``path op value`` on the JSON answer; ``path`` is dotted (``zones.0.sold``)."""

    path: str
    op: str
    value: Any

    def check(self, answer: Any, context: Mapping[str, Any] | None = None) -> str | None:
        """None when it holds, else what was wrong (``context`` is not used here)."""
        node = answer
        for part in self.path.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return f"{self.path} is missing from the answer"
        try:
            ok = {"==": node == self.value, "!=": node != self.value}.get(self.op)
            if ok is None:
                ok = {
                    "<": node < self.value,
                    "<=": node <= self.value,
                    ">": node > self.value,
                    ">=": node >= self.value,
                }[self.op]
        except TypeError:
            return f"{self.path} is {node!r}, cannot compare with {self.value!r}"
        return None if ok else f"{self.path} is {node!r}, expected {self.op} {self.value!r}"

    def __str__(self) -> str:
        return f"{self.path} {self.op} {json.dumps(self.value)}"


@dataclass(frozen=True)
class Probe:
    name: str
    url: str  # absolute, or a path joined to the target URL
    headers: tuple[tuple[str, str], ...] = ()
    expect: tuple[Expectation | ExprExpectation, ...] = ()
    timeout_s: float = 5.0
    # the header values compiled as templates ({{ env.NAME }})
    templates: tuple[tuple[str, Template], ...] = field(default=(), compare=False, repr=False)

    @property
    def needs_figures(self) -> bool:
        return any(isinstance(e, ExprExpectation) for e in self.expect)


@dataclass(frozen=True)
class ProbeResult:
    name: str
    url: str
    status: int  # HTTP status; 0 when there was no answer
    failures: tuple[str, ...]
    answer: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures and 200 <= self.status < 300

    def gate(self) -> GateResult:
        problems = ([self.error] if self.error else []) + list(self.failures)
        return GateResult(
            f"probe({self.name})",
            GateKind.PROBE,
            GateStatus.PASSED if self.ok else GateStatus.FAILED,
            None,
            f"HTTP {self.status}" if self.status else "no answer",
            "all expectations hold",
            detail="; ".join(problems),
        )


def _expectation(item: Any, loc: Location | None) -> Expectation | ExprExpectation:
    if isinstance(item, str) and "{{" in item:
        return ExprExpectation(item, template(item, "probe expectation", loc))
    if not isinstance(item, str) or not (m := _EXPECT_RE.match(item)):
        raise InputError(
            f"bad probe expectation {item!r}",
            location=loc,
            hint="Write it as 'path op value', e.g. \"ok == true\", or as an expression, "
            'e.g. "{{ body.orders == figures.orders }}".',
        )
    raw = m.group(3)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.strip("\"'")
    return Expectation(m.group(1), m.group(2), value)


def parse_probe(data: Mapping[str, Any], location: Location | None = None) -> Probe:
    """Build a ``Probe`` from a plain dict. Raises ``InputError`` naming the bad key."""
    allowed = {"name", "url", "path", "headers", "expect", "timeout"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(
            f"unknown probe key '{unknown[0]}'",
            location=location,
            hint=f"Valid keys: {', '.join(sorted(allowed))}.",
        )
    name = data.get("name")
    url = data.get("url") or data.get("path")
    if not isinstance(name, str) or not name:
        raise InputError("a probe needs a name", location=location)
    if len(name) > 100 or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise InputError(
            f"probe name {name[:100]!r} cannot be a file name",
            location=location,
            hint="Its answer is saved as analysis/probes/<name>.json: use letters, digits, "
            "'-', '_' and '.', at most 100 characters, not starting with '.'.",
        )
    if not isinstance(url, str) or not url:
        raise InputError(f"probe '{name}' needs a url or a path", location=location)
    headers = data.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise InputError(f"probe '{name}': headers must be a mapping", location=location)
    templates = tuple(
        (str(k), template(str(v), f"probe '{name}' header {k}", location))
        for k, v in headers.items()
    )
    expect = data.get("expect") or ()
    items: list[Expectation | ExprExpectation]
    if isinstance(expect, Mapping):
        items = [Expectation(str(k), "==", v) for k, v in expect.items()]
    elif isinstance(expect, list | tuple):
        items = [_expectation(e, location) for e in expect]
    else:
        raise InputError(f"probe '{name}': expect must be a list or a mapping", location=location)
    try:
        timeout_s = parse_duration_s(data.get("timeout", 5.0))
    except ValueError as exc:
        raise InputError(f"probe '{name}': bad timeout: {exc}", location=location) from None
    if not 0 < timeout_s <= MAX_TIMEOUT_S:  # also refuses NaN
        raise InputError(
            f"probe '{name}': timeout must be more than 0s and at most {MAX_TIMEOUT_S:g}s",
            location=location,
            hint="A probe asks one question after the run, e.g. timeout: 5s.",
        )
    return Probe(
        name,
        url,
        tuple((str(k), str(v)) for k, v in headers.items()),
        tuple(items),
        timeout_s,
        templates,
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def is_absolute(url: str) -> bool:
    """True for a URL with a scheme (``http://x/``, ``file:/etc``); False for a path."""
    return bool(_SCHEME_RE.match(url))


def probe_url(probe: Probe, target_url: str) -> str:
    """The probe's own absolute URL, or its path joined to the target's base URL."""
    if is_absolute(probe.url):
        return probe.url
    return target_url.rstrip("/") + "/" + probe.url.lstrip("/")


def check_probe(probe: Probe, allow_hosts: Sequence[str] = ()) -> None:
    """Refuse what the files alone show to be wrong: an absolute URL that is not http(s) or
    whose host is not on the allow-list. Raises TargetError (exit 2). A path is checked with the
    target at run time."""
    if is_absolute(probe.url):
        check_url(probe.url, allow_hosts, what=f"probe '{probe.name}' url")


def probe_problems(specs: Iterable[ProbeSpec], allow_hosts: Sequence[str]) -> list[InputError]:
    """Every problem of a scenario's probes, at its file:line, for ``loadkit validate``."""
    problems = []
    for spec in specs:
        try:
            check_probe(parse_probe(spec.raw, spec.location), allow_hosts)
        except InputError as exc:
            problems.append(exc)
        except TargetError as exc:
            problems.append(InputError(exc.message, location=spec.location, hint=exc.hint))
    return problems


def execute_probe(
    probe: Probe,
    target_url: str,
    allow_hosts: Sequence[str] = (),
    figures: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> ProbeResult:
    """GET the probe's URL and check its expectations, within about ``probe.timeout_s``;
    ``figures`` are the run's (``probe_expect.run_figures``) and ``variables`` its scenario's
    constants, for expression expectations.

    Never raises for a refused URL, a network error or a bad answer: the result says why.
    """
    url = probe_url(probe, target_url)
    try:
        check_url(url, allow_hosts, what="probe url")
    except TargetError as exc:
        return ProbeResult(probe.name, url, 0, (), None, f"refused: {exc}")
    readers = [t for _k, t in probe.templates]
    readers += [e.compiled for e in probe.expect if isinstance(e, ExprExpectation)]
    env = env_vars(readers, os.environ)
    try:
        headers = {k: _text(t.render(Scope(env))) for k, t in probe.templates}
    except EvalError as exc:
        return ProbeResult(probe.name, url, 0, (), None, f"refused: a header: {exc}")
    broken = [k for k, v in headers.items() if any(c in v for c in "\r\n\0")]
    if broken:  # http.client would refuse it with the value (a secret) in its message
        error = f"refused: header {broken[0]} holds a line break or NUL once {{{{ env }}}} is read"
        return ProbeResult(probe.name, url, 0, (), None, error)
    try:
        status, body = fetch(
            url, headers, (k for k, _ in probe.headers), allow_hosts, probe.timeout_s
        )
    except RedirectRefused as exc:
        return ProbeResult(probe.name, url, 0, (), None, f"refused: {exc.reason}")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return ProbeResult(probe.name, url, 0, (), None, f"no answer: {exc}")
    if body is None:
        failures: tuple[str, ...] = (f"the answer is larger than {MAX_ANSWER_BYTES} bytes",)
        return ProbeResult(probe.name, url, status, failures, None)
    try:
        answer = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ProbeResult(probe.name, url, status, ("the answer is not JSON",), None)
    context = {**(variables or {}), "status": status, "figures": dict(figures or {}), **env}
    failures = tuple(f for e in probe.expect if (f := e.check(answer, context)) is not None)
    if not 200 <= status < 300:
        failures = (f"HTTP {status}", *failures)
    return ProbeResult(probe.name, url, status, failures, answer)


def run_probes(
    probes: Sequence[Probe],
    target_url: str,
    run_dir: str | Path,
    allow_hosts: Sequence[str] = (),
) -> tuple[ProbeResult, ...]:
    """Execute every probe and write its answer to ``RUN_DIR/analysis/probes/<name>.json``.

    ``allow_hosts`` is the scenario's allow-list (loopback is always allowed)."""
    out_dir = Path(run_dir) / "analysis" / "probes"
    needed = any(p.needs_figures for p in probes)
    figures = run_figures(run_dir) if needed else None
    variables = scenario_variables(run_dir) if needed else None
    results = []
    for probe in probes:
        result = execute_probe(probe, target_url, allow_hosts, figures, variables)
        out_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "name": result.name,
            "url": result.url,
            "status": result.status,
            "ok": result.ok,
            "failures": list(result.failures),
            "error": result.error,
            "answer": result.answer,
        }
        (out_dir / f"{probe.name}.json").write_text(json.dumps(record, indent=2) + "\n")
        results.append(result)
    return tuple(results)


def load_probe_results(run_dir: str | Path) -> tuple[ProbeResult, ...]:
    """The probe answers a previous ``run_probes`` saved in ``RUN_DIR/analysis/probes/``.

    Probes ask the target right after the run; re-analyzing offline (months later, on
    another machine) reuses what the target answered then.
    """
    out = []
    for path in sorted((Path(run_dir) / "analysis" / "probes").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            out.append(
                ProbeResult(
                    name=str(data["name"]),
                    url=str(data["url"]),
                    status=int(data["status"]),
                    failures=tuple(str(f) for f in data.get("failures", ())),
                    answer=data.get("answer"),
                    error=data.get("error"),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            out.append(ProbeResult(path.stem, str(path), 0, (), error="saved answer unreadable"))
    return tuple(out)


__all__ = [
    "MAX_ANSWER_BYTES",
    "Expectation",
    "Probe",
    "ProbeResult",
    "check_probe",
    "execute_probe",
    "is_absolute",
    "load_probe_results",
    "parse_probe",
    "probe_problems",
    "probe_url",
    "run_probes",
]
