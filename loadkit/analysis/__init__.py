"""Analysis: windows, thresholds, invariants, validity, probes and baselines (pure functions).

``analyze(run, thresholds)`` turns a results directory into an ``Analysis`` with a ``Verdict``
and an exit code; ``loadkit.report`` writes it out.
"""

from loadkit.analysis.analyze import analyze, decide, load_records
from loadkit.analysis.compare import Change, CompareSettings, Estimator, Statistic, compare
from loadkit.analysis.gates import evaluate_gates, regression_gate
from loadkit.analysis.invariants import evaluate_invariant, fifo_inversion_rate
from loadkit.analysis.locust_csv import LIMITS as LOCUST_CSV_LIMITS
from loadkit.analysis.locust_csv import analyze_locust_csv, read_locust_stats
from loadkit.analysis.model import (
    Analysis,
    BreachSpan,
    GateKind,
    GateResult,
    GateStatus,
    RunInfo,
    Validity,
    ValidityBudget,
    ValidityCheck,
    Verdict,
)
from loadkit.analysis.probes import (
    Expectation,
    Probe,
    ProbeResult,
    check_probe,
    execute_probe,
    load_probe_results,
    parse_probe,
    probe_problems,
    run_probes,
)
from loadkit.analysis.tables import compare_steps, hdr_curves, step_summary
from loadkit.analysis.validity import LOST_FATES, check_validity

__all__ = [
    "LOCUST_CSV_LIMITS",
    "LOST_FATES",
    "Analysis",
    "BreachSpan",
    "Change",
    "CompareSettings",
    "Estimator",
    "Expectation",
    "GateKind",
    "GateResult",
    "GateStatus",
    "Probe",
    "ProbeResult",
    "RunInfo",
    "Statistic",
    "Validity",
    "ValidityBudget",
    "ValidityCheck",
    "Verdict",
    "analyze",
    "analyze_locust_csv",
    "check_probe",
    "check_validity",
    "compare",
    "compare_steps",
    "decide",
    "evaluate_gates",
    "evaluate_invariant",
    "execute_probe",
    "fifo_inversion_rate",
    "hdr_curves",
    "load_probe_results",
    "load_records",
    "parse_probe",
    "probe_problems",
    "read_locust_stats",
    "regression_gate",
    "run_probes",
    "step_summary",
]
