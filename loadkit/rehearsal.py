"""What the CLI commands do, as library functions: run, analyze, try, worker, merge.

Loading and checking the inputs (``validate``, ``plan``) is ``loadkit.rehearsal_inputs``,
re-exported here.

This module sits at the top of the layering (beside ``cli``): it wires the loader, the
runner process, the analyzer and the reports together. It never imports gevent: the runner
is a child process (``python -m loadkit.runner RUN_DIR``) so the analyzer and the CLI are
never monkey-patched. It returns exit codes; only ``cli`` exits.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadkit.errors import ExitCode, InputError, Location
from loadkit.gates import Threshold, load_thresholds_file, parse_threshold
from loadkit.rehearsal_inputs import Inputs, load_inputs, plan_text, require_profile, validate_files
from loadkit.runner.child import run_child
from loadkit.runner.distributed.worker_spec import WorkerFlags
from loadkit.runner.run_settings import RunFlags, resolve_run_settings, settings_json
from loadkit.scenario import Scenario, check_timeouts, load_scenario
from loadkit.settings import Setting, Source

Echo = Callable[[str], None]

RESULTS_ROOT = Path("results")


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
    drain_s: float | str | None = None
    t0_ns: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    master: MasterRequest | None = None  # ``loadkit master``: wait for remote workers
    live: str | None = None  # --live HOST:PORT: serve /metrics and the live page
    live_key: str | None = None  # --live-key: needed beyond loopback (else LOADKIT_LIVE_KEY)


@dataclass(frozen=True)
class MasterRequest:
    """``loadkit master`` flags: where to listen and how many workers to wait for."""

    bind: str | None = None
    port: int | None = None
    expect_workers: int | None = None
    worker_wait_s: float | None = None
    dry_run: bool = False
    key_file: Path | None = None  # the cluster key (else LOADKIT_CLUSTER_KEY)


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


def resolve_settings(request: RunRequest, scenario: Scenario) -> dict[str, Setting]:
    """Every run setting with where it came from: flag > LOADKIT_* env > scenario > default."""
    m = request.master
    flags = RunFlags(
        host=request.host,
        seed=request.seed,
        max_in_flight=request.max_in_flight,
        workers=request.workers,
        drain_s=request.drain_s,
        master=m is not None,
        master_bind=m.bind if m else None,
        master_port=m.port if m else None,
        expect_workers=m.expect_workers if m else None,
        worker_wait_s=m.worker_wait_s if m else None,
        dry_run=m.dry_run if m else False,
    )
    return resolve_run_settings(flags, scenario)


def rehearse(request: RunRequest, echo: Echo) -> int:
    """Run the crowd in a runner child process, then analyze. Returns the exit code."""
    from loadkit.runner.live_address import KEY_ENV, prepare_live
    from loadkit.runner.spec import RunMode, RunSpec, check_target

    inputs = load_inputs(
        request.scenario, require_profile(request.profile), request.thresholds_file
    )
    settings = resolve_settings(request, inputs.scenario)
    assert inputs.profile is not None  # require_profile
    check_timeouts(inputs.scenario, inputs.profile.duration_s + float(settings["drain_s"].value))
    host = check_target(str(settings["host"].value), inputs.scenario.allow_hosts)
    child_env = {**os.environ, **request.extra_env}
    if request.master is not None:
        child_env.update(_cluster_key(request.master, settings))
    _check_space(request.out_dir or RESULTS_ROOT, inputs, settings, echo)
    # exit 2 before any load: a taken port, no key beyond loopback
    live, live_key = prepare_live(request.live, request.live_key, os.environ)
    if live_key:
        child_env[KEY_ENV] = live_key  # never written to the run folder
    run_dir = _new_run_dir(request.out_dir or RESULTS_ROOT, request.run_id, inputs.scenario.name)
    spec = RunSpec(
        run_id=run_dir.name,
        scenario_path=str(request.scenario.resolve()),
        profile_path=str(require_profile(request.profile).resolve()),
        host=host,
        seed=int(settings["seed"].value),
        shards=int(settings["shards"].value),
        max_in_flight=int(settings["max_in_flight"].value),
        request_timeout_s=float(settings["request_timeout_s"].value),
        connect_timeout_s=float(settings["connect_timeout_s"].value),
        drain_timeout_s=float(settings["drain_s"].value),
        thresholds=tuple(t.text for t in inputs.thresholds),
        thresholds_file=str(request.thresholds_file.resolve()) if request.thresholds_file else None,
        settings=settings_json(settings),
        t0_ns=request.t0_ns,
        mode=RunMode.MASTER if "expect_workers" in settings else RunMode.LOCAL,
        live=live,
    )
    spec.dump(run_dir / "run-spec.json")
    echo(f"run {run_dir.name}: {request.scenario} × {request.profile} → {host}")
    argv = [sys.executable, "-m", "loadkit.runner", str(run_dir)]
    if spec.mode is RunMode.MASTER:
        argv = [sys.executable, "-m", "loadkit.runner.distributed", "master", str(run_dir)]
    runner_code = run_child(argv, echo, env=child_env, run_dir=run_dir)
    if not (run_dir / "manifest.json").exists():  # it never started: nothing to analyze
        echo(f"results: {run_dir}")
        return runner_code if runner_code != ExitCode.PASSED else int(ExitCode.INVALID)
    if runner_code == ExitCode.BAD_INPUT or not request.analyze:
        echo(f"results: {run_dir}")
        return runner_code
    probes = _run_probes(inputs.scenario, host, run_dir, echo)
    code = analyze_run(
        run_dir, request.thresholds_file, None, csv=False, echo=echo, probes_done=probes
    )
    return int(ExitCode.INTERRUPTED) if runner_code == ExitCode.INTERRUPTED else code


def _cluster_key(master: MasterRequest, settings: dict[str, Setting]) -> dict[str, str]:
    """The master child's environment for the cluster key (never argv, never the run folder);
    records in ``settings`` whether workers need one. Raises InputError (exit 2) when the
    master would listen beyond loopback without a key."""
    from loadkit.runner.distributed.auth import (
        KEY_ENV,
        load_cluster_key,
        require_key_beyond_loopback,
    )

    key = load_cluster_key(master.key_file)
    require_key_beyond_loopback(str(settings["master_bind"].value), key)
    if key is None:
        settings["cluster_key"] = Setting(False, Source.DEFAULT)
        return {}
    source = Source.CLI if master.key_file is not None else Source.ENV
    settings["cluster_key"] = Setting(True, source, key.source)  # whether, never what
    return {KEY_ENV: key.secret.decode("utf-8")}


def _check_space(root: Path, inputs: Inputs, settings: dict[str, Setting], echo: Echo) -> None:
    """Refuse a run whose records cannot fit under ``root``; warn when it is tight."""
    from loadkit.runner.defaults import DEFAULT_FLUSH_INTERVAL_S
    from loadkit.runner.disk_space import check_free_space, estimate_records

    profile = inputs.profile
    assert profile is not None
    run_s = profile.duration_s + float(settings["drain_s"].value)
    estimate = estimate_records(
        inputs.scenario, profile.expected_arrivals(), run_s, DEFAULT_FLUSH_INTERVAL_S
    )
    check_free_space(root, estimate, echo)


def _run_probes(scenario: Scenario, host: str, run_dir: Path, echo: Echo) -> bool:
    """Ask the target the scenario's probe questions now, while it is still up."""
    from loadkit.analysis import parse_probe, run_probes

    if not scenario.probes:
        return False
    probes = [parse_probe(p.raw, p.location) for p in scenario.probes]
    for result in run_probes(probes, host, run_dir, scenario.allow_hosts):
        answer = f"HTTP {result.status}" if result.status else result.error
        echo(f"probe {result.name}: {'ok' if result.ok else 'FAILED'} ({answer})")
    return True


# ----------------------------------------------------------------------------- analyze


def _thresholds_for(run_dir: Path, texts: Sequence[object], extra: Path | None) -> list[Threshold]:
    """The manifest's thresholds, then ``extra``'s; a text in both keeps the file's line."""
    specs = load_thresholds_file(extra) if extra is not None else ()
    in_file = {s.text.strip() for s in specs}
    manifest = str(run_dir / "manifest.json")
    out = [
        parse_threshold(str(t), Location(manifest, key_path=f"thresholds[{i}]"))
        for i, t in enumerate(texts)
        if str(t).strip() not in in_file
    ]
    return out + [parse_threshold(s.text, s.location) for s in specs]


def analyze_run(
    run_dir: Path,
    thresholds_file: Path | None,
    baseline: Path | None,
    *,
    csv: bool,
    echo: Echo,
    probes_done: bool = True,
) -> int:
    """Analyze a results folder (or a Locust CSV prefix), write reports, return the exit code."""
    from loadkit.analysis import analyze, analyze_locust_csv, load_probe_results
    from loadkit.report import render_terminal, write_reports
    from loadkit.results import open_run

    if csv:
        gates = _thresholds_for(run_dir, (), thresholds_file)
        analysis = analyze_locust_csv(run_dir, gates)
        out_dir = run_dir.parent / f"{run_dir.name}-loadkit"
    else:
        run = open_run(run_dir)
        gates = _thresholds_for(run_dir, run.manifest.get("thresholds", []), thresholds_file)
        base = open_run(baseline) if baseline is not None else None
        probes = load_probe_results(run_dir) if probes_done else ()
        analysis = analyze(run, gates, probes=probes, baseline=base)
        out_dir = run_dir
    paths = write_reports(analysis, out_dir)
    echo(render_terminal(analysis))
    echo(f"report: {paths.get('report.html') or paths.get('summary.md')}")
    return int(analysis.exit_code)


# ----------------------------------------------------------------------------- try / demo


def run_worker(flags: WorkerFlags, key_file: Path | None, echo: Echo) -> int:
    """``loadkit worker``: join a master (its own gevent process) and run what it hands out.

    The options are resolved here once (flag > LOADKIT_* > default) and handed over in a spec
    file; the cluster key, if any, in the child's environment (never argv, never the file).
    """
    import tempfile

    from loadkit.runner.distributed.auth import KEY_ENV, load_cluster_key
    from loadkit.runner.distributed.worker_spec import dump_worker_spec, resolve_worker

    options = resolve_worker(flags)
    key = load_cluster_key(key_file)
    env = {**os.environ, **({KEY_ENV: key.secret.decode("utf-8")} if key else {})}
    folder = Path(options.worker_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="worker-spec-", suffix=".json", dir=folder)
    os.close(fd)
    try:
        spec = dump_worker_spec(options, name)
        argv = [sys.executable, "-m", "loadkit.runner.distributed", "worker", "--spec", str(spec)]
        return run_child(argv, echo, env=env)
    finally:
        Path(name).unlink(missing_ok=True)


def merge_worker_folders(run_dir: Path, worker_dirs: Sequence[Path]) -> tuple[int, str]:
    """``loadkit results merge``: complete a run from worker folders; (exit code, summary)."""
    from loadkit.results import merge

    report = merge(run_dir, list(worker_dirs))
    code = ExitCode.PASSED if report.records_complete else ExitCode.INVALID
    return int(code), report.summary()


def try_scenario(
    scenario: Path,
    host: str | None,
    persona: str | None,
    seed: int | None,
    *,
    time_scale: float | None = None,
) -> int:
    """One visitor of each persona, verbose, in a gevent child process; ``time_scale``
    multiplies every wait.

    Settings are resolved here as ``run`` resolves them and handed over in a spec file.
    """
    import tempfile

    from loadkit.runner.run_settings import resolve_trial

    spec = resolve_trial(
        load_scenario(scenario),
        host=host,
        seed=seed,
        persona=persona,
        time_scale=1.0 if time_scale is None else time_scale,
    )
    fd, name = tempfile.mkstemp(prefix="loadkit-try-", suffix=".json")
    os.close(fd)
    try:
        spec.dump(name)
        argv = [sys.executable, "-m", "loadkit.runner.trial", "--spec", name]
        return run_child(argv, echo=lambda line: print(line, file=sys.stderr))
    finally:
        Path(name).unlink(missing_ok=True)


__all__ = [
    "Inputs",
    "MasterRequest",
    "RunRequest",
    "WorkerFlags",
    "analyze_run",
    "load_inputs",
    "merge_worker_folders",
    "plan_text",
    "rehearse",
    "resolve_settings",
    "run_child",
    "run_worker",
    "try_scenario",
    "validate_files",
]
