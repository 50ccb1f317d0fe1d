"""``loadkit capacity``: run the capacity search, one short rehearsal per probe.

This module sits at the top of the layering (beside ``rehearsal``): it wires the pure search
(``loadkit.capacity``) to real probes. A probe is one ordinary rehearsal (``rehearse``) of the
user's profile shape scaled to the probe's peak rate, into its own run folder under
``CAPACITY_DIR/probes/``, analyzed with the normal analyzer. Between probes the target is reset
(the scenario's ``reset:``) and left to cool down. The runner's own output goes to each probe's
``runner.log``; the terminal gets one line per probe. Returns an exit code; only ``cli`` exits.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadkit.capacity import (
    ProbeOutcome,
    ProbeResult,
    SearchSettings,
    Stop,
    search_capacity,
)
from loadkit.capacity.figures import probe_result
from loadkit.capacity.output import SearchMeta, exit_code, render_text, write_capacity
from loadkit.capacity.probe_profile import write_probe_profile
from loadkit.capacity.reset import check_reset, send_reset
from loadkit.capacity.workers import COST_SOURCE, plan_workers
from loadkit.errors import ExitCode, InputError, LoadkitError, TargetError
from loadkit.hosts import check_target
from loadkit.rehearsal import RESULTS_ROOT, Echo, Inputs, RunRequest, load_inputs, rehearse
from loadkit.rehearsal import resolve_settings as resolve_run_settings
from loadkit.units import format_rate, parse_duration_s, parse_fraction, parse_rate_per_s

DEFAULT_BUDGET_S = 600.0
DEFAULT_COOLDOWN_S = 5.0
DEFAULT_PROBE_DRAIN_S = 10.0


@dataclass(frozen=True)
class CapacityRequest:
    """What the user asked ``loadkit capacity`` for. Rates in arrivals/s (the profile's peak)."""

    scenario: Path
    profile: Path
    host: str | None = None
    thresholds_file: Path | None = None
    require_per_s: float | None = None
    max_per_s: float | None = None
    start_per_s: float | None = None  # default: the profile's own peak
    budget_s: float = DEFAULT_BUDGET_S
    cooldown_s: float = DEFAULT_COOLDOWN_S
    repeats: int = 2
    resolution: float = 0.05
    probe_length_s: float | None = None  # default: the profile's own duration
    drain_s: float = DEFAULT_PROBE_DRAIN_S
    workers: int | None = None
    seed: int | None = None
    out_dir: Path | None = None


def _flag(flag: str, value: str | None, parse: Callable[[object], float]) -> float | None:
    if value is None:
        return None
    try:
        number = parse(value)
    except ValueError as exc:
        raise InputError(f"bad {flag} {value!r}: {exc}") from None
    if not (number > 0 and math.isfinite(number)):
        raise InputError(f"bad {flag} {value!r}: it must be more than 0")
    return number


def _resolution(text: str) -> float:
    try:
        value = parse_fraction(text)
    except ValueError as exc:
        raise InputError(f"bad --resolution {text!r}: {exc}") from None
    if not 0 < value < 1:
        raise InputError(
            f"bad --resolution {text!r}", hint="Give the gap to stop at, e.g. 5% or 0.05."
        )
    return value


def capacity_request(
    scenario: Path,
    profile: Path | None,
    host: str | None,
    thresholds_file: Path | None,
    *,
    require: str | None = None,
    max_rate: str | None = None,
    start: str | None = None,
    budget: str = "10m",
    cooldown: str = "5s",
    repeats: int = 2,
    resolution: str = "5%",
    probe_length: str | None = None,
    drain: str = "10s",
    workers: int | None = None,
    seed: int | None = None,
    out_dir: Path | None = None,
) -> CapacityRequest:
    """A ``CapacityRequest`` from command-line text; a bad value is an ``InputError`` naming
    the flag (exit 2)."""
    if profile is None:
        raise InputError(
            "no profile given.",
            hint="Pass --profile SHAPE.yaml: its shape is scaled to each probe's peak rate.",
        )
    if repeats < 1:
        raise InputError(f"bad --repeats {repeats}: at least 1")
    cool = (
        0.0 if cooldown.strip() in ("0", "0s") else _flag("--cooldown", cooldown, parse_duration_s)
    )
    rates = {f: _flag(f, v, parse_rate_per_s) for f, v in
             (("--require", require), ("--max", max_rate), ("--start", start))}  # fmt: skip
    if rates["--max"] is not None and (rates["--start"] or 0) > rates["--max"]:
        raise InputError("--start is above --max", hint="Start at or below the --max rate.")
    return CapacityRequest(
        scenario=scenario,
        profile=profile,
        host=host,
        thresholds_file=thresholds_file,
        require_per_s=rates["--require"],
        max_per_s=rates["--max"],
        start_per_s=rates["--start"],
        budget_s=_flag("--budget", budget, parse_duration_s) or DEFAULT_BUDGET_S,
        cooldown_s=cool or 0.0,
        repeats=repeats,
        resolution=_resolution(resolution),
        probe_length_s=_flag("--probe-length", probe_length, parse_duration_s),
        drain_s=_flag("--drain", drain, parse_duration_s) or DEFAULT_PROBE_DRAIN_S,
        workers=workers,
        seed=seed,
        out_dir=out_dir,
    )


def _capacity_dir(root: Path, scenario_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-capacity-{re.sub(r'[^A-Za-z0-9._-]+', '-', scenario_name)}"
    for n in range(1000):
        path = root / (base if n == 0 else f"{base}-{n}") / "capacity"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise InputError(f"cannot create a capacity folder under {root}")


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 (ours, so the runner child's too) at ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def _reset(inputs: Inputs, host: str) -> str | None:
    """Send the scenario's reset (if any); None when it worked, else what went wrong."""
    scenario = inputs.scenario
    if scenario.reset is None:
        return None
    return send_reset(scenario.reset, host, scenario.allow_hosts, dict(scenario.env))


class _Prober:
    """``probe(rate)``: reset, cool down, rehearse the scaled shape, analyze, judge."""

    def __init__(self, req: CapacityRequest, inputs: Inputs, host: str, out: Path, echo: Echo):
        self.req, self.inputs, self.host, self.out, self.echo = req, inputs, host, out, echo
        self.count = 0
        self.interrupted_run: str | None = None

    def __call__(self, rate_per_s: float) -> ProbeResult:
        self.count += 1
        if self.count > 1:  # the first probe's reset was sent (and checked) by find_capacity
            time.sleep(self.req.cooldown_s)
            problem = _reset(self.inputs, self.host)
            if problem is not None:
                return ProbeResult(rate_per_s, ProbeOutcome.INCONCLUSIVE, reasons=(problem,))
        self.echo(f"probe {self.count}: {format_rate(rate_per_s)} …")
        try:
            result = self._judge(self._rehearse(rate_per_s), rate_per_s)
        except LoadkitError as exc:  # the search stops on it; the probes so far are written
            self.echo(f"probe {self.count}: {format_rate(rate_per_s)} could not be judged: {exc}")
            return ProbeResult(rate_per_s, ProbeOutcome.INCONCLUSIVE, reasons=(str(exc),))
        gate = f" — {result.first_failed_gate}" if result.first_failed_gate else ""
        p95 = result.details.get("p95_ms")
        self.echo(
            f"probe {self.count}: {format_rate(rate_per_s)} {result.outcome.value}"
            f" (p95 {'—' if p95 is None else f'{p95:.0f}ms'}, errors {result.error_rate:.1%}){gate}"
        )
        return result

    def _rehearse(self, rate_per_s: float) -> Path:
        """One rehearsal of the shape scaled to ``rate_per_s``, recorded only (analyzed once,
        by ``_judge``); its output goes to ``probes/<run-id>.log``. Ctrl-C → KeyboardInterrupt."""
        run_id = f"probe-{self.count:02d}-{rate_per_s:g}per_s"
        (self.out / "profiles").mkdir(exist_ok=True)
        (self.out / "probes").mkdir(exist_ok=True)
        profile_path = self.out / "profiles" / f"{run_id}.yaml"
        assert self.inputs.profile is not None
        write_probe_profile(
            self.req.profile, self.inputs.profile, rate_per_s, profile_path, self.req.probe_length_s
        )
        request = RunRequest(
            scenario=self.req.scenario,
            profile=profile_path,
            host=self.host,
            out_dir=self.out / "probes",
            seed=self.req.seed,
            thresholds_file=self.req.thresholds_file,
            workers=self.req.workers,
            run_id=run_id,
            analyze=False,
            drain_s=self.req.drain_s,
        )
        log_path = self.out / "probes" / f"{run_id}.log"
        with _output_to(log_path), log_path.open("a", encoding="utf-8") as log:
            code = rehearse(request, echo=lambda line: print(line, file=log, flush=True))
        if code == ExitCode.INTERRUPTED:
            self.interrupted_run = str(self.out / "probes" / run_id)  # kept, listed, not judged
            raise KeyboardInterrupt
        if code == ExitCode.BAD_INPUT:
            raise InputError(f"the runner refused probe {self.count}", hint=f"See {log_path}.")
        return self.out / "probes" / run_id

    def _judge(self, run_dir: Path, rate_per_s: float) -> ProbeResult:
        """Ask the scenario's probes, analyze with the normal analyzer, write the run's
        reports, and turn the analysis into the search's ``ProbeResult``."""
        from loadkit.analysis import analyze, parse_probe, run_probes
        from loadkit.report import write_reports
        from loadkit.results import open_run

        scenario = self.inputs.scenario
        asked = [parse_probe(p.raw, p.location) for p in scenario.probes]
        answers = run_probes(asked, self.host, run_dir, scenario.allow_hosts) if asked else ()
        run = open_run(run_dir)
        analysis = analyze(run, self.inputs.thresholds, probes=answers)
        write_reports(analysis, run_dir)
        requests = run.load_requests(["status", "outcome"])
        return probe_result(analysis, requests, rate_per_s, str(run_dir))


def _check(req: CapacityRequest, inputs: Inputs) -> str:
    """Refuse, before any load, what cannot give an answer; return the checked target URL."""
    if not any(not t.warn for t in inputs.thresholds) and not inputs.scenario.probes:
        raise InputError(
            "no gates: capacity is the largest rate at which every gate passes.",
            hint="Add thresholds (-t FILE, or 'thresholds:' in the scenario), e.g. "
            "'error_rate < 1%' and 'p(95) < 500ms'.",
        )
    run_request = RunRequest(scenario=req.scenario, profile=req.profile, host=req.host)
    settings = resolve_run_settings(run_request, inputs.scenario)
    host = check_target(str(settings["host"].value), inputs.scenario.allow_hosts)
    if inputs.scenario.reset is not None:
        check_reset(inputs.scenario.reset, host, inputs.scenario.allow_hosts)
    return host


def _search_settings(req: CapacityRequest, inputs: Inputs) -> SearchSettings:
    assert inputs.profile is not None
    start_per_s = req.start_per_s or inputs.profile.peak_rate()[0]
    if req.max_per_s is not None:  # the shape's own peak may be above --max
        start_per_s = min(start_per_s, req.max_per_s)
    try:
        return SearchSettings(
            start_rate_per_s=start_per_s,
            max_rate_per_s=req.max_per_s,
            repeats=req.repeats,
            resolution=req.resolution,
            budget_s=req.budget_s,
        )
    except ValueError as exc:
        hint = "Check --start, --max and the profile."
        raise InputError(f"cannot search: {exc}", hint=hint) from None


def find_capacity(req: CapacityRequest, echo: Echo) -> int:
    """Search, write ``capacity/`` (capacity.json, summary.md, knee.png), print the answer.
    Returns the exit code (see ``loadkit.capacity.output``)."""
    inputs = load_inputs(req.scenario, req.profile, req.thresholds_file)
    assert inputs.profile is not None
    host = _check(req, inputs)
    settings = _search_settings(req, inputs)
    problem = _reset(inputs, host)
    if problem is not None:
        raise TargetError(
            f"the scenario's reset request failed before the first probe: {problem}",
            hint="Check its path, method and headers (an admin key in ${VAR}?).",
        )
    out = _capacity_dir(req.out_dir or RESULTS_ROOT, inputs.scenario.name)
    prober = _Prober(req, inputs, host, out, echo)
    echo(f"capacity search: {req.scenario} × shape {req.profile} → {host}; results in {out}")
    started = time.monotonic()
    result = search_capacity(prober, settings)
    meta = SearchMeta(
        scenario=str(req.scenario),
        profile=str(req.profile),
        target=host,
        require_per_s=req.require_per_s,
        max_per_s=req.max_per_s,
        seed=req.seed if req.seed is not None else 1,
        workers=req.workers or 1,
        elapsed_s=time.monotonic() - started,
        interrupted_run=prober.interrupted_run,
    )
    paths = write_capacity(out, result, meta, inputs.thresholds)
    echo(render_text(result, meta))
    if result.stop is Stop.GENERATOR_BOUND:  # how many workers that rate would need here
        need = plan_workers(inputs.scenario, result.probes[-1].rate_per_s)
        echo(f"  estimate: {need.workers_needed} worker(s) for {format_rate(need.peak_rate_per_s)}"
             f" on this machine ({need.cores} cores; {COST_SOURCE})")  # fmt: skip
    echo(f"capacity folder: {out} ({', '.join(sorted(paths))})")
    return int(exit_code(result, req.require_per_s))


__all__ = ["CapacityRequest", "capacity_request", "find_capacity"]
