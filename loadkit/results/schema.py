"""The results-directory contract: the only thing the runner and the analyzer share.

Layout of ``results/<run-id>/`` (schema_version 1)::

    manifest.json                      run facts (see MANIFEST_KEYS); written at start, updated at end
    records/requests-w<W>-<SEQ>.parquet   one segment per flush per worker (W = worker index,
    records/arrivals-w<W>-<SEQ>.parquet   SEQ = 000001, 000002, ...); written to *.tmp then renamed,
                                       so a killed run leaves only whole segments behind
    records/requests-w<W>.parquet      optional: a worker's compacted segments (after a clean end)
    records/arrivals-w<W>.parquet
    analysis/                          verdict.json, summary.md, report.html, junit.xml, windows.parquet, plots

Times are integers in epoch nanoseconds (``*_ns``) or float milliseconds (``*_ms``).
Readers must accept both segment files and compacted files, and ignore ``*.tmp``.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
RECORDS_DIR = "records"
ANALYSIS_DIR = "analysis"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ABORTED = "aborted"  # stopped early on purpose: Ctrl-C, an abort threshold
    FAILED = "failed"  # loadkit itself failed (crash, lost master)


class Outcome(StrEnum):
    """How one request went. Only ``ok`` counts toward latency stats."""

    OK = "ok"  # the response met the step's expectations (a declared 409/402 is ok)
    HTTP_ERROR = "http_error"  # an undeclared status (5xx, unexpected 4xx)
    CONNECTION_ERROR = "connection_error"  # refused, reset, DNS, TLS
    TIMEOUT = "timeout"
    EXPECTATION_FAILED = "expectation_failed"  # status fine, but an `expect` on the body failed


# A ``connection_error`` whose ``error`` text starts with this failed because the load
# generator ran out of its own resources (file descriptors, ephemeral ports, socket buffers),
# not because of the target: the analyzer counts such rows as generator faults (run invalid).
GENERATOR_FAULT_PREFIX = "generator fault"


class ArrivalOutcome(StrEnum):
    """How one arrival's journey ended."""

    COMPLETED = "completed"  # reached the end of the journey
    ABANDONED = "abandoned"  # left on purpose (abandonment hazard, `leave` step, expired hold)
    GAVE_UP = "gave_up"  # retries or poll deadline exhausted
    FAILED = "failed"  # an error ended the journey (failed capture, unrenderable template)
    DROPPED = "dropped"  # never started: the in-flight cap was full or the worker was lost
    CUT = "cut"  # still in flight at the end: the drain time ran out, or the run was stopped


REQUEST_SCHEMA = pa.schema(
    [
        ("arrival_id", pa.int64()),  # global index of the arrival in the seeded schedule
        ("worker", pa.int32()),
        ("persona", pa.dictionary(pa.int32(), pa.string())),
        (
            "step",
            pa.dictionary(pa.int32(), pa.string()),
        ),  # the journey step's name (e.g. queue.poll)
        ("name", pa.dictionary(pa.int32(), pa.string())),  # request name (URL template)
        ("method", pa.dictionary(pa.int32(), pa.string())),
        ("intended_ns", pa.int64()),  # when the request was meant to go out (epoch ns)
        ("start_ns", pa.int64()),  # when it actually went out (epoch ns)
        ("service_ms", pa.float64()),  # start → last byte
        ("response_ms", pa.float64()),  # intended start → last byte (no coordinated omission)
        ("status", pa.int16()),  # HTTP status; 0 when there was no response
        ("outcome", pa.dictionary(pa.int32(), pa.string())),  # Outcome
        ("error", pa.string()),  # short error text, null when ok; credentials redacted
        ("bytes", pa.int64()),  # response body bytes
        ("attempt", pa.int16()),  # 1 for the first try, 2.. for retries of the same intent
        # the intent this attempt belongs to: its first attempt's intended_ns (== intended_ns
        # outside retries); (arrival_id, step, name, intent_ns) names one intent. Absent from
        # runs written before it existed: readers fill it with intended_ns (INTENT_FILL)
        ("intent_ns", pa.int64()),
        # a redirect chain's hop: 0 for the request the step sent, 1.. for each redirect
        # followed. Hops keep the step, name, attempt and intent_ns of the request that started
        # the chain, so (arrival_id, step, name, intent_ns) still names one intent. Absent from
        # older runs: readers fill 0 (CONSTANT_FILL)
        ("hop", pa.int16()),
        # the outcome label the scenario gave this answer (``outcomes: {403: csrf_refused}``, an
        # ``expect`` check's ``label``); null when it has none. Absent from older runs: null
        ("label", pa.dictionary(pa.int32(), pa.string())),
    ]
)
# request columns a reader may find missing in older runs, and the column that stands in
INTENT_FILL = {"intent_ns": "intended_ns"}
# request columns a reader may find missing in older runs, and the value that stands in
CONSTANT_FILL = {"hop": 0}

ARRIVAL_SCHEMA = pa.schema(
    [
        ("arrival_id", pa.int64()),
        ("persona", pa.dictionary(pa.int32(), pa.string())),
        ("shard", pa.int32()),
        ("worker", pa.int32()),
        ("scheduled_ns", pa.int64()),  # from the seeded schedule (epoch ns = t0 + offset)
        ("actual_ns", pa.int64()),  # null when dropped
        ("end_ns", pa.int64()),  # null when dropped
        ("lateness_ms", pa.float64()),  # actual - scheduled; null when dropped
        ("outcome", pa.dictionary(pa.int32(), pa.string())),  # ArrivalOutcome
        ("reason", pa.string()),  # why it ended that way (leave reason, error), null if completed
        ("last_step", pa.string()),
        ("requests", pa.int32()),
        ("errors", pa.int32()),
        # what the journey observed, for client-side invariants (null when not reached)
        ("joined_ns", pa.int64()),  # waiting-room join answered
        ("admitted_ns", pa.int64()),  # first status that said admitted
        ("queue_position", pa.int64()),  # position the room reported at join
        ("token_id", pa.string()),  # the access token's id (jti), never the token itself
        ("seats_held", pa.list_(pa.string())),
        ("seats_bought", pa.list_(pa.string())),
        ("order_id", pa.string()),
        ("shop_ok_without_token", pa.int32()),  # shop 2xx answers received with no token sent
        # tickets bought (``record: {tickets_bought: N}``, added up); null when never recorded
        # (a general-admission shop has quantities, not seat ids). Absent from older runs: null
        ("tickets_bought", pa.int32()),
    ]
)

# manifest.json keys (all written; unknown keys must be ignored by readers):
MANIFEST_KEYS = {
    "schema_version": "int, SCHEMA_VERSION",
    "run_id": "str, e.g. 20261201-031500-onsale-demo",
    "status": "RunStatus",
    "started_at": "ISO-8601 UTC wall time of the command",
    "ended_at": "ISO-8601 UTC or null while running",
    "t0_ns": "int epoch ns: the schedule's time zero (profile time 0)",
    "onsale_offset_s": "float: the on-sale second, seconds after t0 (profile 'onsale_at')",
    "duration_s": "float: planned profile length",
    "seed": "int",
    "shards": "int S: arrival k belongs to shard k mod S",
    "target": "base URL without credentials",
    "versions": "{loadkit, locust, gevent, python}",
    "scenario": "{path, sha256, name, resolved: the loaded model as JSON}",
    "profile": "{path, sha256, name, resolved}",
    "thresholds": "[str]: threshold expressions in force",
    "thresholds_file": "{path, sha256} of the --thresholds file, or null",
    "settings": "{name: {value, source}}: resolved settings and where each came from",
    "phases": "[{name, start_s, end_s}] relative to t0",
    "planned": "{arrivals, peak_rate_per_s, ...}",
    "workers": "[{id, host, pid, shards, clock_offset_ms, requests_written, arrivals_written, fate}]",
    "records_complete": "bool: every worker's records are all in records/",
    "stop_reason": "str or null: why the run ended early",
}

__all__ = [
    "ANALYSIS_DIR",
    "ARRIVAL_SCHEMA",
    "CONSTANT_FILL",
    "GENERATOR_FAULT_PREFIX",
    "INTENT_FILL",
    "MANIFEST_KEYS",
    "MANIFEST_NAME",
    "RECORDS_DIR",
    "REQUEST_SCHEMA",
    "SCHEMA_VERSION",
    "ArrivalOutcome",
    "Outcome",
    "RunStatus",
]
