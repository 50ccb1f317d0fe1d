"""The results directory: the only contract between the runner and the analyzer.

Analyst side: ``open_run(path)`` returns a ``Run`` with tidy pandas frames (requests,
arrivals, windows, funnel) and never imports gevent. Runner side: ``SegmentWriter`` and the
manifest helpers write the layout described in ``loadkit.results.schema``. ``merge`` assembles
a distributed run from worker folders; ``write_synthetic_run`` builds runs with known answers
for tests, benchmarks and notebooks.
"""

from loadkit.results.merge import MergeReport, merge
from loadkit.results.reader import Run, open_run
from loadkit.results.schema import (
    ANALYSIS_DIR,
    ARRIVAL_SCHEMA,
    MANIFEST_NAME,
    RECORDS_DIR,
    REQUEST_SCHEMA,
    SCHEMA_VERSION,
    ArrivalOutcome,
    Outcome,
    RunStatus,
)
from loadkit.results.synthetic import (
    ErrorBurst,
    Funnel,
    LatencyBreach,
    StepSpec,
    SyntheticRun,
    write_synthetic_run,
)
from loadkit.results.writer import SegmentWriter, read_manifest, write_manifest

__all__ = [
    "ANALYSIS_DIR",
    "ARRIVAL_SCHEMA",
    "MANIFEST_NAME",
    "RECORDS_DIR",
    "REQUEST_SCHEMA",
    "SCHEMA_VERSION",
    "ArrivalOutcome",
    "ErrorBurst",
    "Funnel",
    "LatencyBreach",
    "MergeReport",
    "Outcome",
    "Run",
    "RunStatus",
    "SegmentWriter",
    "StepSpec",
    "SyntheticRun",
    "merge",
    "open_run",
    "read_manifest",
    "write_manifest",
    "write_synthetic_run",
]
