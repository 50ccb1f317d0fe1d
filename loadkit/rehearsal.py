"""What the CLI commands do, as library functions: validate, plan, run, analyze, try, demo.

This module sits at the top of the layering (beside ``cli``): it wires the loader, the
runner process, the analyzer and the reports together. It never imports gevent: the runner
is started as a child process (``python -m loadkit.runner RUN_DIR``) so the analyzer and the
CLI are never monkey-patched. It returns exit codes; only ``cli`` exits.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadkit.errors import ExitCode, InputError, Location, ResultsError, ValidationErrors
from loadkit.settings import Setting, Source, non_negative_int, positive_int, resolve

Echo = Callable[[str], None]

DEFAULT_SEED = 1
DEFAULT_SHARDS = 64
RESULTS_ROOT = Path("results")


# ----------------------------------------------------------------------------- validate / plan


def _load_all(
    scenario_path: Path, profile_path: Path | None, thresholds_path: Path | None
) -> tuple[object, object | None, list[object]]:
    """Load scenario, profile and thresholds, collecting every problem into one error."""
    from loadkit.profiles import load_profile
    from loadkit.scenario import load_scenario
    from loadkit.scenario.thresholds import load_thresholds_file, parse_threshold

    errors: list[InputError] = []

    def collect(exc: InputError) -> None:
        errors.extend(exc.errors if isinstance(exc, ValidationErrors) else [exc])

    scenario = profile = None
    try:
        scenario = load_scenario(scenario_path)
    except InputError as exc:
        collect(exc)
    if profile_path is not None:
        try:
            profile = load_profile(profile_path)
        except InputError as exc:
            collect(exc)
    specs = list(getattr(scenario, "thresholds", ()) or ())
    if thresholds_path is not None:
        try:
            specs.extend(load_thresholds_file(thresholds_path))
        except InputError as exc:
            collect(exc)
    thresholds = []
    for spec in specs:
        try:
            thresholds.append(parse_threshold(spec.text, spec.location))
        except InputError as exc:
            collect(exc)
    if errors:
        raise ValidationErrors(errors) if len(errors) > 1 else errors[0]
    return scenario, profile, thresholds


def validate_files(scenario: Path, profile: Path | None, thresholds: Path | None) -> str:
    """Return a one-paragraph summary, or raise every problem found (exit 2)."""
    sc, pr, gates = _load_all(scenario, profile, thresholds)
    personas = getattr(sc, "personas", ())
    parts = [
        f"{scenario}: ok, {len(personas)} persona(s): "
        + ", ".join(f"{p.name} {p.weight:g}" for p in personas)
    ]
    if pr is not None:
        parts.append(f"{profile}: ok, {getattr(pr, 'duration_s', 0):g}s")
    parts.append(f"{len(gates)} threshold(s) parse")
    return "; ".join(parts)


def plan_text(scenario: Path, profile: Path | None, seed: int | None) -> str:
    """The expected arrivals per phase, peak rate, total and visitors in flight."""
    from loadkit.profiles import compile_schedule, format_plan, plan

    sc, pr, _ = _load_all(scenario, _require_profile(profile), None)
    assert pr is not None
    seed_value = DEFAULT_SEED if seed is None else seed
    schedule = compile_schedule(pr, seed_value)  # type: ignore[arg-type]
    journey_s = _expected_journey_s(sc)
    return str(format_plan(plan(pr, schedule, journey_s)))  # type: ignore[arg-type]


def _expected_journey_s(scenario: object) -> float | None:
    estimate = getattr(scenario, "expected_journey_s", None)
    if callable(estimate):
        value = estimate()
        return float(value) if value is not None else None
    return None


def _require_profile(profile: Path | None) -> Path:
    if profile is None:
        raise InputError(
            "no profile given.",
            hint="Pass --profile PROFILE.yaml (when the crowd arrives), e.g. "
            "--profile profiles/spike-demo.yaml.",
        )
    return profile


# ----------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunRequest:
    """What the user asked ``loadkit run`` for (``None`` = not given on the command line)."""

    scenario: Path
    profile: Path | None
    host: str | None = None
    out_dir: Path | None = None
    seed: int | None = None
    thresholds_file: Path | None = None
    max_in_flight: int | None = None
    workers: int | None = None
    run_id: str | None = None
    analyze: bool = True
    duration_limit_s: float | None = None


def _new_run_dir(root: Path, run_id: str | None, scenario_name: str) -> Path:
    if run_id is not None:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
            raise InputError(f"bad --run-id {run_id!r}", hint="Use letters, digits, '.', '_', '-'.")
        path = root / run_id
        if path.exists():
            raise InputError(f"results folder {path} already exists", hint="Pick another --run-id.")
        path.mkdir(parents=True)
        return path
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{re.sub(r'[^A-Za-z0-9._-]+', '-', scenario_name)}"
    for n in range(1000):
        path = root / (base if n == 0 else f"{base}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise InputError(f"cannot create a run folder under {root}")


def _resolve_settings(request: RunRequest, scenario: object) -> dict[str, Setting]:
    file_settings = getattr(scenario, "settings", None)

    def from_file(name: str) -> object:
        return getattr(file_settings, name, None) if file_settings is not None else None

    host_default = getattr(scenario, "host", None)
    settings = {
        "host": resolve("host", cli=request.host, file=host_default, default=None),
        "seed": resolve("seed", cli=request.seed, default=DEFAULT_SEED, parse=non_negative_int),
        "max_in_flight": resolve(
            "max_in_flight",
            cli=request.max_in_flight,
            file=from_file("max_in_flight"),
            default=10_000,
            parse=positive_int,
        ),
        "workers": resolve("workers", cli=request.workers, default=1, parse=positive_int),
        "shards": resolve(
            "shards", cli=None, file=from_file("shards"), default=DEFAULT_SHARDS, parse=positive_int
        ),
        "request_timeout_s": resolve(
            "request_timeout_s",
            cli=None,
            file=from_file("request_timeout_s"),
            default=10.0,
            parse=float,
        ),
    }
    if settings["host"].value is None:
        raise InputError(
            "no target host.",
            location=Location(str(request.scenario)),
            hint="Pass --host http://HOST:PORT or set 'host:' in the scenario.",
        )
    return settings


def rehearse(request: RunRequest, echo: Echo) -> int:
    """Run the crowd in a runner child process, then analyze. Returns the exit code."""
    from loadkit.runner.spec import RunSpec

    scenario, profile, thresholds = _load_all(
        request.scenario, _require_profile(request.profile), request.thresholds_file
    )
    settings = _resolve_settings(request, scenario)
    root = request.out_dir or RESULTS_ROOT
    run_dir = _new_run_dir(root, request.run_id, str(getattr(scenario, "name", "run")))
    threshold_texts = [getattr(t, "text", str(t)) for t in thresholds]
    spec = RunSpec.from_settings(
        run_id=run_dir.name,
        scenario_path=request.scenario.resolve(),
        profile_path=_require_profile(request.profile).resolve(),
        settings=settings,
        thresholds=threshold_texts,
        duration_limit_s=request.duration_limit_s,
    )
    spec.dump(run_dir / "run-spec.json")
    echo(f"run {run_dir.name}: {request.scenario} × {request.profile} → {settings['host'].value}")
    runner_code = _run_child([sys.executable, "-m", "loadkit.runner", str(run_dir)], echo)
    if runner_code == ExitCode.BAD_INPUT:
        return runner_code
    if not request.analyze:
        echo(f"results: {run_dir}")
        return runner_code
    code = analyze_run(run_dir, None, None, csv=False, echo=echo)
    if runner_code == ExitCode.INTERRUPTED:
        return int(ExitCode.INTERRUPTED)
    return code


def _run_child(argv: list[str], echo: Echo) -> int:
    """Run a child that shares our Ctrl-C; wait for it to flush and exit on its own."""
    child = subprocess.Popen(argv)
    interrupted = False
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:
            # The child got the same SIGINT (same process group): give it time to stop
            # load and flush; a second Ctrl-C is passed on to it.
            if interrupted:
                child.send_signal(signal.SIGINT)
            interrupted = True
            echo("stopping: flushing records (Ctrl-C again to hurry)")
    if interrupted and code == 0:
        return int(ExitCode.INTERRUPTED)
    if code < 0:  # killed by a signal
        return int(ExitCode.INTERRUPTED) if -code in (signal.SIGINT, signal.SIGTERM) else 3
    return code


# ----------------------------------------------------------------------------- analyze


def analyze_run(
    run_dir: Path,
    thresholds_file: Path | None,
    baseline: Path | None,
    *,
    csv: bool,
    echo: Echo,
) -> int:
    """Analyze a results folder (or a Locust CSV prefix), write reports, return the exit code."""
    from loadkit.analysis import analyze
    from loadkit.report import render_terminal, write_reports
    from loadkit.results import open_run
    from loadkit.scenario.thresholds import load_thresholds_file, parse_threshold

    if csv:
        from loadkit.analysis import analyze_locust_csv

        return int(analyze_locust_csv(run_dir, thresholds_file, echo=echo))
    run = open_run(run_dir)
    texts = [str(t) for t in run.manifest.get("thresholds", [])]
    specs = [parse_threshold(t, Location(str(run_dir / "manifest.json"))) for t in texts]
    if thresholds_file is not None:
        specs.extend(
            parse_threshold(s.text, s.location) for s in load_thresholds_file(thresholds_file)
        )
    base = open_run(baseline) if baseline is not None else None
    analysis = analyze(run, specs, baseline=base)
    paths = write_reports(analysis, run_dir)
    echo(render_terminal(analysis))
    report = paths.get("report.html") or paths.get("summary.md")
    echo(f"report: {report}")
    return int(analysis.exit_code)


# ----------------------------------------------------------------------------- try / demo


def try_scenario(scenario: Path, host: str, persona: str | None, seed: int | None) -> int:
    """One visitor of each persona, verbose, in a gevent child process."""
    argv = [sys.executable, "-m", "loadkit.runner.trial", str(scenario), "--host", host]
    if persona:
        argv += ["--persona", persona]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return subprocess.call(argv)


def _repo_file(relative: str) -> Path:
    here = Path(relative)
    if here.exists():
        return here
    packaged = Path(__file__).resolve().parent.parent / relative
    if packaged.exists():
        return packaged
    raise InputError(f"cannot find {relative}", hint="Run from the loadkit checkout, or pass it.")


def run_demo(
    scenario: Path | None, profile: Path | None, port: int, seed: int | None, echo: Echo
) -> int:
    """Start the demo shop, rehearse the on-sale against it, stop it, print the verdict."""
    from loadkit.demo import ShopProcess

    scenario = scenario or _repo_file("scenarios/onsale-demo.yaml")
    profile = profile or _repo_file("profiles/spike-demo.yaml")
    echo("starting the demo ticket shop on 127.0.0.1 ...")
    with ShopProcess.start(port=port) as shop:
        echo(f"demo shop: {shop.url} (pid {shop.pid})")
        os.environ["LOADKIT_DEMO_ADMIN_KEY"] = shop.admin_key
        started = time.monotonic()
        code = rehearse(
            RunRequest(scenario=scenario, profile=profile, host=shop.url, seed=seed), echo
        )
        echo(f"rehearsal took {time.monotonic() - started:.0f}s; stopping the demo shop")
    return code


def read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


__all__ = [
    "RunRequest",
    "analyze_run",
    "plan_text",
    "rehearse",
    "run_demo",
    "try_scenario",
    "validate_files",
]

_ = Source  # re-exported for the CLI's settings help
