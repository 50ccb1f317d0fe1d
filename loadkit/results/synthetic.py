"""A synthetic-run builder: a real results directory with known answers, no Locust, no network.

``write_synthetic_run(path, SyntheticRun(...))`` writes ``manifest.json`` and segment files
exactly as ``loadkit.results.schema`` lays them out, so the analyzer, the reports, the notebook
and the benchmarks can be exercised on records whose latencies, breaches, drops, lateness and
funnel are chosen by the test. Everything is vectorised (10 million requests take seconds).

The model: arrivals are evenly spaced at ``arrivals_per_s`` from t0 to ``duration_s``; every
arrival that is not dropped makes one request per step, the first at its actual start and each
next one ``gap_s`` later. Service times are lognormal around each step's median (seeded);
``LatencyBreach`` overrides them with an exact value for requests whose *intended* start falls
in ``[start_s, end_s)`` (seconds after t0). Funnel stages are nested random subsets of exact
sizes; admissions follow join order at the declared rate, so FIFO and rate invariants hold
unless violations are seeded (``fifo_inversions``, ``oversell_pairs``, ``shop_ok_without_token``).

The spec (``SyntheticRun`` and its parts) is ``loadkit.results.synthetic_spec``, re-exported here;
this module writes it out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loadkit.results.schema import (
    ARRIVAL_SCHEMA,
    MANIFEST_NAME,
    RECORDS_DIR,
    REQUEST_SCHEMA,
    SCHEMA_VERSION,
    ArrivalOutcome,
    Outcome,
    RunStatus,
)
from loadkit.results.synthetic_spec import (
    DEFAULT_STEPS,
    ErrorBurst,
    Funnel,
    LatencyBreach,
    StepSpec,
    SyntheticRun,
)
from loadkit.results.writer import PARQUET_WRITE_OPTIONS

T0_NS = 1_796_094_000_000_000_000  # 2026-12-01T03:00:00Z: a fixed t0 keeps runs reproducible
_NS = 1_000_000_000


def _dict_array(values: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(values, pa.int32()), pa.array(labels))


def _arrivals(spec: SyntheticRun, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = round(spec.duration_s * spec.arrivals_per_s)
    scheduled = T0_NS + (np.arange(n) * (_NS / spec.arrivals_per_s)).astype(np.int64)
    for start_s, end_s in spec.gaps:  # a pause in the profile: those arrivals never come
        t_s = (scheduled - T0_NS) / _NS
        scheduled = scheduled[(t_s < start_s) | (t_s >= end_s)]
    n = scheduled.size
    ids = np.arange(n, dtype=np.int64)
    weights = np.array([w for _, w in spec.personas], dtype=float)
    persona = rng.choice(len(weights), size=n, p=weights / weights.sum()).astype(np.int32)
    lateness = rng.exponential(max(spec.lateness_ms, 1e-9), size=n)
    t_s = (scheduled - T0_NS) / _NS
    for start_s, end_s, late_ms in spec.late_spikes:
        lateness[(t_s >= start_s) & (t_s < end_s)] = late_ms
    dropped = np.zeros(n, dtype=bool)
    n_drop = round(n * spec.drop_fraction)
    if n_drop:
        dropped[rng.choice(n, size=n_drop, replace=False)] = True
    shard = (ids % spec.shards).astype(np.int32)
    return {
        "arrival_id": ids,
        "persona": persona,
        "shard": shard,
        "worker": (shard % spec.workers).astype(np.int32),
        "scheduled_ns": scheduled,
        "lateness_ms": lateness,
        "dropped": dropped,
    }


def _requests(spec: SyntheticRun, arr: dict[str, np.ndarray], rng: np.random.Generator) -> pa.Table:
    live = ~arr["dropped"]
    ids = arr["arrival_id"][live]
    base_ns = arr["scheduled_ns"][live]
    late_ms = arr["lateness_ms"][live]
    n_steps = len(spec.steps)
    step = np.repeat(np.arange(n_steps, dtype=np.int32)[None, :], len(ids), axis=0).ravel()
    offsets_s = np.cumsum([s.gap_s for s in spec.steps])
    intended = (base_ns[:, None] + (offsets_s[None, :] * _NS).astype(np.int64)).ravel()
    medians = np.array([s.median_ms for s in spec.steps])
    service = medians[step] * rng.lognormal(0.0, spec.sigma, size=step.size)
    late = np.repeat(late_ms, n_steps)
    arrival_id = np.repeat(ids, n_steps)
    attempt = np.ones(step.size, dtype=np.int16)
    if spec.retry_fraction > 0:
        extra = rng.choice(step.size, size=round(step.size * spec.retry_fraction), replace=False)
        extra.sort()
        step, intended, service, late, arrival_id = (
            np.concatenate([a, a[extra]]) for a in (step, intended, service, late, arrival_id)
        )
        intent = intended.copy()  # a retry's intent is its first attempt's intended start
        intended[-extra.size :] += _NS // 2
        attempt = np.concatenate([attempt, np.full(extra.size, 2, dtype=np.int16)])
    else:
        intent = intended
    names = [s.name for s in spec.steps]
    t_s = (intended - T0_NS) / _NS
    response = service + late
    for b in spec.breaches:
        hit = (step == names.index(b.step)) & (t_s >= b.start_s) & (t_s < b.end_s)
        response[hit] = b.response_ms
        service[hit] = np.maximum(b.response_ms - late[hit], 0.0)
    outcome = np.zeros(step.size, dtype=np.int32)  # index into list(Outcome): 0 is ok
    status = np.where(
        np.isin(step, [i for i, s in enumerate(spec.steps) if s.method == "POST"]), 201, 200
    ).astype(np.int16)
    outcomes = list(Outcome)
    for e in spec.error_bursts:
        hit = np.flatnonzero((step == names.index(e.step)) & (t_s >= e.start_s) & (t_s < e.end_s))
        chosen = hit[rng.random(hit.size) < e.fraction] if e.fraction < 1 else hit
        outcome[chosen] = outcomes.index(e.outcome)
        status[chosen] = 0 if e.outcome in (Outcome.CONNECTION_ERROR, Outcome.TIMEOUT) else e.status
    order = np.argsort(intended, kind="stable")
    persona = arr["persona"][arrival_id]  # arrival ids are 0..n-1, so they index directly
    error = np.full(step.size, None, dtype=object)
    error[outcome > 0] = "synthetic failure"
    cols = {
        "arrival_id": pa.array(arrival_id[order]),
        "worker": pa.array((arr["worker"][arrival_id])[order], pa.int32()),
        "persona": _dict_array(persona[order], [p for p, _ in spec.personas]),
        "step": _dict_array(step[order], names),
        "name": _dict_array(step[order], [s.request_name or "/" + s.name for s in spec.steps]),
        "method": _dict_array(step[order], [s.method for s in spec.steps]),
        "intended_ns": pa.array(intended[order]),
        "start_ns": pa.array(intended[order] + (late[order] * 1e6).astype(np.int64)),
        "service_ms": pa.array(service[order]),
        "response_ms": pa.array(response[order]),
        "status": pa.array(status[order], pa.int16()),
        "outcome": _dict_array(outcome[order], [o.value for o in outcomes]),
        "error": pa.array(error[order], pa.string()),
        "bytes": pa.array(np.full(step.size, 512, dtype=np.int64)),
        "attempt": pa.array(attempt[order], pa.int16()),
        "intent_ns": pa.array(intent[order]),
        "hop": pa.array(np.zeros(step.size, dtype=np.int16)),
        "label": pa.array(np.full(step.size, None, dtype=object), pa.string()).dictionary_encode(),
    }
    return pa.Table.from_pydict(cols, schema=REQUEST_SCHEMA)


def _funnel_columns(
    spec: SyntheticRun, arr: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, list[Any]]:
    n = arr["arrival_id"].size
    live = np.flatnonzero(~arr["dropped"])
    f = spec.funnel
    perm = rng.permutation(live)
    sizes = [round(live.size * x) for x in (f.joined, f.admitted, f.held, f.paid)]
    joined_ns = np.full(n, -1, dtype=np.int64)
    actual = arr["scheduled_ns"] + (arr["lateness_ms"] * 1e6).astype(np.int64)
    join_idx = np.sort(perm[: sizes[0]])
    joined_ns[join_idx] = actual[join_idx] + int(
        spec.steps[1].gap_s * _NS if len(spec.steps) > 1 else _NS
    )
    position = np.full(n, -1, dtype=np.int64)
    position[join_idx] = np.arange(1, join_idx.size + 1)
    adm_idx = np.sort(perm[: sizes[1]])  # sorted by id == sorted by join time
    per_s = spec.admission_rate_per_min / 60.0
    slots = (
        T0_NS
        + int(spec.onsale_offset_s * _NS)
        + (np.arange(adm_idx.size) * _NS / per_s).astype(np.int64)
    )
    adm_times = np.maximum.accumulate(np.maximum(slots, joined_ns[adm_idx] + _NS))
    onsale_ns = T0_NS + int(spec.onsale_offset_s * _NS)
    post = np.flatnonzero(joined_ns[adm_idx] >= onsale_ns)
    for k in range(spec.fifo_inversions):  # disjoint adjacent pairs, spread out
        i = post[min(3 * k, post.size - 2)] if post.size >= 2 else 0
        a, b = adm_times[i], adm_times[i + 1]
        adm_times[i], adm_times[i + 1] = (b, a) if a < b else (b + _NS, b)
    admitted_ns = np.full(n, -1, dtype=np.int64)
    admitted_ns[adm_idx] = adm_times
    held = set(perm[: sizes[2]].tolist())
    paid = np.sort(perm[: sizes[3]])
    bought: dict[int, list[str]] = {int(k): [f"A-{int(k)}"] for k in paid}
    for p in range(spec.oversell_pairs):
        a, b = int(paid[2 * p]), int(paid[2 * p + 1])
        bought[b] = list(bought[a])

    def nullable(a: np.ndarray) -> list[object]:
        return [None if v < 0 else int(v) for v in a.tolist()]

    no_token = np.zeros(n, dtype=np.int32)
    outsiders = np.setdiff1d(live, adm_idx)[: spec.shop_ok_without_token]
    no_token[outsiders] = 1
    return {
        "joined_ns": nullable(joined_ns),
        "admitted_ns": nullable(admitted_ns),
        "queue_position": nullable(position),
        "token_id": [f"t-{k}" if admitted_ns[k] >= 0 else None for k in range(n)],
        "seats_held": [[f"A-{k}"] if k in held else None for k in range(n)],
        "seats_bought": [bought.get(k) if spec.seat_ids else None for k in range(n)],
        "order_id": [f"o-{k}" if k in bought else None for k in range(n)],
        "shop_ok_without_token": list(no_token.tolist()) if spec.token_probes else [None] * n,
        "tickets_bought": [
            spec.tickets_per_order if k in bought and spec.tickets_per_order else None
            for k in range(n)
        ],
    }


def _arrival_table(
    spec: SyntheticRun, arr: dict[str, np.ndarray], rng: np.random.Generator
) -> pa.Table:
    dropped = arr["dropped"]
    actual = arr["scheduled_ns"] + (arr["lateness_ms"] * 1e6).astype(np.int64)
    journey_ns = int((sum(s.gap_s for s in spec.steps) + 1.0) * _NS)
    outcome = np.where(dropped, list(ArrivalOutcome).index(ArrivalOutcome.DROPPED), 0)
    reason = np.full(dropped.size, None, dtype=object)
    reason[dropped] = "in-flight cap"
    started = np.flatnonzero(~dropped)
    at = 0
    for text, fraction in spec.leave_reasons:  # consecutive started arrivals, in id order
        chosen = started[at : at + round(fraction * started.size)]
        at += chosen.size
        reason[chosen] = text
        outcome[chosen] = list(ArrivalOutcome).index(ArrivalOutcome.ABANDONED)
    cols: dict[str, object] = {
        "arrival_id": pa.array(arr["arrival_id"]),
        "persona": _dict_array(arr["persona"], [p for p, _ in spec.personas]),
        "shard": pa.array(arr["shard"], pa.int32()),
        "worker": pa.array(arr["worker"], pa.int32()),
        "scheduled_ns": pa.array(arr["scheduled_ns"]),
        "actual_ns": pa.array(actual, mask=dropped),
        "end_ns": pa.array(actual + journey_ns, mask=dropped),
        "lateness_ms": pa.array(arr["lateness_ms"], mask=dropped),
        "outcome": _dict_array(outcome.astype(np.int32), [o.value for o in ArrivalOutcome]),
        "reason": pa.array(reason.tolist(), pa.string()),
        "last_step": pa.array(
            [None if d else spec.steps[-1].name for d in dropped.tolist()], pa.string()
        ),
        "requests": pa.array(np.where(dropped, 0, len(spec.steps)).astype(np.int32)),
        "errors": pa.array(np.zeros(dropped.size, dtype=np.int32)),
    }
    for name, values in _funnel_columns(spec, arr, rng).items():
        cols[name] = pa.array(values, ARRIVAL_SCHEMA.field(name).type)
    return pa.Table.from_pydict(cols, schema=ARRIVAL_SCHEMA)


def _write_segments(
    records: Path, kind: str, table: pa.Table, spec: SyntheticRun
) -> dict[int, int]:
    written: dict[int, int] = {}
    workers = table.column("worker").to_numpy()
    for w in range(spec.workers):
        idx = np.flatnonzero(workers == w)
        written[w] = int(idx.size)
        for seq, chunk in enumerate(np.array_split(idx, max(spec.segments_per_worker, 1)), 1):
            if chunk.size or seq == 1:
                name = f"{kind}-w{w}-{seq:06d}.parquet"
                pq.write_table(table.take(pa.array(chunk)), records / name, **PARQUET_WRITE_OPTIONS)
    return written


def _manifest(spec: SyntheticRun, req: dict[int, int], arr: dict[int, int]) -> dict[str, object]:
    workers = []
    for w in range(spec.workers):
        entry: dict[str, object] = {
            "id": w,
            "host": "localhost",
            "pid": 1000 + w,
            "shards": [s for s in range(spec.shards) if s % spec.workers == w],
            "clock_offset_ms": 0.0,
            "requests_written": req.get(w, 0),
            "arrivals_written": arr.get(w, 0),
            "fate": "lost" if w in spec.lost_workers else "completed",
        }
        if spec.cpu_percent is not None:
            entry["cpu_percent_max"] = spec.cpu_percent
        workers.append(entry)
    running = spec.status == RunStatus.RUNNING
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "status": spec.status.value,
        "started_at": "2026-12-01T03:00:00Z",
        "ended_at": None if running else "2026-12-01T03:02:00Z",
        "t0_ns": T0_NS,
        "onsale_offset_s": spec.onsale_offset_s,
        "duration_s": spec.duration_s,
        "seed": spec.seed,
        "shards": spec.shards,
        "target": "http://127.0.0.1:8000",
        "versions": {"loadkit": "0.1.0", "locust": "synthetic", "gevent": "-", "python": "3.11"},
        "scenario": {"path": "synthetic.yaml", "sha256": "0" * 64, "name": "synthetic"},
        "profile": {"path": "synthetic.yaml", "sha256": "0" * 64, "name": "synthetic"},
        "thresholds": list(spec.thresholds),
        "thresholds_file": None,
        "settings": {},
        "phases": [{"name": n, "start_s": a, "end_s": b} for n, a, b in spec.phase_spans()],
        "planned": {
            "arrivals": round(spec.duration_s * spec.arrivals_per_s),
            "peak_rate_per_s": spec.arrivals_per_s,
        },
        "workers": workers,
        "records_complete": spec.records_complete and not running,
        "stop_reason": "interrupted" if spec.status == RunStatus.ABORTED else None,
    }


def write_synthetic_run(path: str | Path, spec: SyntheticRun | None = None) -> Path:
    """Write a results directory for ``spec`` at ``path`` (created); returns the path.

    Deterministic for a given spec (the seed drives every random choice).
    """
    spec = spec or SyntheticRun()
    run_dir = Path(path)
    records = run_dir / RECORDS_DIR
    records.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    arr = _arrivals(spec, rng)
    requests = _requests(spec, arr, rng)
    arrivals = _arrival_table(spec, arr, rng)
    req_counts = _write_segments(records, "requests", requests, spec)
    arr_counts = _write_segments(records, "arrivals", arrivals, spec)
    manifest = _manifest(spec, req_counts, arr_counts)
    (run_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return run_dir


__all__ = [
    "DEFAULT_STEPS",
    "T0_NS",
    "ErrorBurst",
    "Funnel",
    "LatencyBreach",
    "StepSpec",
    "SyntheticRun",
    "write_synthetic_run",
]
