"""``loadkit try SCENARIO --host URL``: one visitor of each persona, every request printed.

The way a scenario author debugs a file: each request with its step, status, time and the
values it captured, each wait, and how the journey ended with the facts it recorded. Runs in
its own gevent-patched process: ``python -m loadkit.runner.trial --spec FILE`` (the spec
``loadkit try`` resolved, ``run_settings.TrialSpec``) or ``... SCENARIO [--host URL]
[--persona NAME] [--seed N] [--time-scale F]`` (resolved here the same way). Exit 0 when no
journey failed, 1 when one failed, 2 for bad input (printed without a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from loadkit.errors import ExitCode, InputError, LoadkitError
from loadkit.results.schema import ArrivalOutcome, Outcome
from loadkit.runner.journey import (
    CompiledScenario,
    HttpResult,
    JourneyEnd,
    VisitorProtocol,
    compile_scenario,
)
from loadkit.runner.redact import REDACTED, redact, scrub

if TYPE_CHECKING:
    from loadkit.runner.run_settings import TrialSpec

_HIDDEN = {"status", "outcome", "persona", "arrival_id"}
_MAX_VALUE = 70


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _shown(name: str, value: Any) -> str:
    """``name=value`` for the terminal, with tokens and credentials redacted (the whole value
    when the name itself says it is a secret, e.g. ``csrf_token``, ``session``)."""
    if redact(f"{name}=x") != f"{name}=x":
        return f"{name}={REDACTED}"
    return redact(f"{name}={_short(value) if not isinstance(value, str) else value}",
                  max_chars=_MAX_VALUE + len(name) + 1)  # fmt: skip


class TraceVisitor:
    """Wraps a real visitor: same behaviour, plus a line per request and per wait."""

    def __init__(
        self,
        inner: Any,
        out: TextIO,
        time_scale: float = 1.0,
        secret_vars: frozenset[str] = frozenset(),
    ) -> None:
        self.inner = inner
        self.out = out
        self.time_scale = time_scale
        self.secret_vars = secret_vars
        self.arrival_id: int = inner.arrival_id
        self.persona: str = inner.persona
        self.scheduled_ns: int = inner.scheduled_ns
        self.rng = inner.rng
        self.facts = inner.facts
        self.vars: dict[str, Any] = inner.vars
        self._pending: tuple[str, str, str, int] = ("", "", "", 0)
        self._seen: dict[str, Any] = {}

    def http(self, method: str, url_or_path: str, **kw: Any) -> HttpResult:
        result: HttpResult = self.inner.http(method, url_or_path, **kw)
        self._pending = (kw["step"], method, url_or_path, kw.get("hop", 0))
        self._seen = dict(self.vars)  # captures run after this, before record()
        return result

    def record(
        self,
        result: HttpResult,
        outcome: Outcome,
        error: str | None = None,
        label: str | None = None,
    ) -> None:
        self.inner.record(result, outcome, error, label)
        step, method, url, hop = self._pending
        status = str(result.status) if result.status else "---"
        if hop:
            step = f"  ↳ redirect {hop}"
        shown_label = f" [{label}]" if label else ""
        line = f"  {step:<18} {method:<6} {url:<40} {status:>3} {result.service_ms:8.1f}ms"
        line += f"  {outcome.value}{shown_label}" + (f": {error}" if error else "")
        print(self._hide(line), file=self.out)
        changed = {k: v for k, v in self.vars.items()
                   if k not in _HIDDEN and self._seen.get(k, _NO) != v}  # fmt: skip
        if changed:
            shown = ", ".join(
                f"{k}={REDACTED}" if k in self.secret_vars else _shown(k, v)
                for k, v in changed.items()
            )
            print(f"  {'':<18} captured {self._hide(shown)}", file=self.out)

    def _hide(self, text: str) -> str:
        """``text`` without the values of secret variables, credentials or tokens."""
        values = [str(self.vars[k]) for k in self.secret_vars if self.vars.get(k) is not None]
        return redact(scrub(text, values), max_chars=4 * len(text) + 100)  # never clipped

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            scaled = seconds * self.time_scale
            note = f" (×{self.time_scale:g} → {scaled:.2f}s)" if self.time_scale != 1 else ""
            print(f"  {'':<18} … wait {seconds:.2f}s{note}", file=self.out)
            self.inner.sleep(scaled)

    def now_ns(self) -> int:
        return int(self.inner.now_ns())

    def url_of(self, url_or_path: str) -> str:
        return str(self.inner.url_of(url_or_path))

    def cookie(self, name: str) -> str | None:
        value: str | None = self.inner.cookie(name)
        return value

    def clear_cookies(self) -> None:
        print(f"  {'':<18} (cookies cleared)", file=self.out)
        self.inner.clear_cookies()


_NO = object()


def _facts_text(facts: Any) -> str:
    parts = []
    for name in ("joined_ns", "admitted_ns", "queue_position", "token_id", "seats_held",
                 "seats_bought", "tickets_bought", "order_id", "shop_ok_without_token"):  # fmt: skip
        value = getattr(facts, name, None)
        # 0 is news for the one fact that is a count of breaches: "the shop refused every try"
        if value in (None, []) or (value == 0 and name != "shop_ok_without_token"):
            continue
        if name.endswith("_ns"):
            parts.append(name.removesuffix("_ns"))
        else:
            parts.append(_shown(name, value))
    return ", ".join(parts) or "none"


VisitorFactory = Callable[[int, str], Any]


def run_trial(
    compiled: CompiledScenario,
    make_visitor: VisitorFactory,
    out: TextIO,
    *,
    persona: str | None = None,
    time_scale: float = 1.0,
) -> list[tuple[str, JourneyEnd]]:
    """Run one journey per persona (or only ``persona``) with tracing; return how each ended."""
    chosen = [p for p in compiled.personas if persona is None or p.name == persona]
    ends = []
    for arrival_id, p in enumerate(chosen):
        print(f"persona {p.name} (arrival {arrival_id})", file=out)
        inner = make_visitor(arrival_id, p.name)
        secrets: frozenset[str] = getattr(compiled, "secret_vars", frozenset())  # stand-ins lack it
        visitor = TraceVisitor(inner, out, time_scale, secrets)
        try:
            end = p.run(visitor)
        except Exception as exc:  # as in a run: this journey fails, with the reason, no traceback
            failed = redact(f"{type(exc).__name__}: {exc}")
            end = JourneyEnd(ArrivalOutcome.FAILED, failed, getattr(inner, "last_step", "") or "")
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
        reason = f": {end.reason}" if end.reason else ""
        print(visitor._hide(f"  → {end.outcome.value}{reason} (last step "
                            f"{end.last_step or '-'}); facts: {_facts_text(visitor.facts)}"),
              file=out)  # fmt: skip
        ends.append((p.name, end))
    return ends


def _real_visitor_factory(spec: TrialSpec) -> VisitorFactory:
    from loadkit.runner.clock import Clock
    from loadkit.runner.recorder import Recorder
    from loadkit.runner.visitor import Target, Visitor

    seed = spec.seed
    target = Target.from_url(
        spec.host,
        request_timeout_s=spec.request_timeout_s,
        connect_timeout_s=spec.connect_timeout_s,
    )
    clock, recorder = Clock.measure(), Recorder()

    def make(arrival_id: int, persona: str) -> VisitorProtocol:
        recorder.requests.clear()
        return Visitor(arrival_id, persona, seed=seed, target=target, recorder=recorder,
                       clock=clock)  # fmt: skip

    return make


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="loadkit try", description="Run one visitor of each persona, printing every step."
    )
    parser.add_argument("scenario", nargs="?", default=None)
    parser.add_argument("--spec", help="a trial spec file (written by loadkit try)")
    parser.add_argument("--host", help="target base URL (default: the scenario's host)")
    parser.add_argument("--persona", help="only this persona")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply every wait (think, poll, backoff), e.g. 0.1")  # fmt: skip
    return parser.parse_args(argv)


def trial(argv: list[str], out: TextIO, environ: Mapping[str, str] | None = None) -> int:
    """The command body; returns the exit code. Raises ``LoadkitError`` for bad input.

    ``argv`` is ``--spec FILE`` (``loadkit try`` resolved everything) or a scenario and flags,
    resolved here the same way (``run_settings.resolve_trial``).
    """
    from loadkit.runner.run_settings import TrialSpec, resolve_trial
    from loadkit.scenario import load_scenario

    args = _parse(argv)
    if args.spec is not None:
        spec = TrialSpec.load(args.spec)
        scenario = load_scenario(spec.scenario_path)
    elif args.scenario is not None:
        scenario = load_scenario(args.scenario)
        spec = resolve_trial(scenario, host=args.host, seed=args.seed, persona=args.persona,
                             time_scale=args.time_scale, environ=environ)  # fmt: skip
    else:
        raise InputError("loadkit try needs a scenario file (or --spec FILE)")
    compiled = compile_scenario(scenario, seed=spec.seed, environ=environ)
    factory = _real_visitor_factory(spec)
    print(f"loadkit try {scenario.name} → {spec.host} (seed {spec.seed})", file=out)
    ends = run_trial(compiled, factory, out, persona=spec.persona, time_scale=spec.time_scale)
    failed = [name for name, end in ends if end.outcome is ArrivalOutcome.FAILED]
    return int(ExitCode.FAILED) if failed else int(ExitCode.PASSED)


def main(argv: list[str]) -> int:
    """Entry point (after gevent monkey-patching): prints, never raises for bad input."""
    try:
        return trial(argv, sys.stdout)
    except LoadkitError as exc:
        print(f"loadkit try: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()
    sys.exit(main(sys.argv[1:]))
