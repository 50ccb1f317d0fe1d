"""Gates: the threshold language and its evaluation, one engine for live and offline.

``parse_threshold(text, location)`` → a frozen ``Threshold``; ``evaluate_threshold(th,
Records(...))`` judges it on a run's records (the analyzer); ``AbortWatch`` judges an
``abort after`` threshold tick by tick (the runner's live guard). Both follow the same rules
(``loadkit.gates.rules``: sample floors, time ranges, phases) and the same window maths
(``loadkit.gates.windows``). docs/thresholds.md is the user reference.
"""

from loadkit.gates.evaluate import Records, covered_span, evaluate_threshold, no_data
from loadkit.gates.files import load_thresholds_file
from loadkit.gates.language import OUTCOMES, STAT_NAMES, caret_error, parse_threshold
from loadkit.gates.live import LIVE_KINDS, AbortWatch, LiveReading, NotLive
from loadkit.gates.model import (
    INVARIANTS,
    LATENCY_KINDS,
    SAMPLED_KINDS,
    SELECTOR_KEYS,
    Comparison,
    Stat,
    StatKind,
    Threshold,
    ThresholdSpec,
    TimeRef,
)
from loadkit.gates.result import BreachSpan, GateKind, GateResult, GateStatus, format_value
from loadkit.gates.rules import (
    DEFAULT_MIN_SAMPLES,
    DRAIN_PHASE,
    check_phase,
    check_selectors,
    min_samples,
    named_range,
)
from loadkit.gates.windows import per_group

__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "DRAIN_PHASE",
    "INVARIANTS",
    "LATENCY_KINDS",
    "LIVE_KINDS",
    "OUTCOMES",
    "SAMPLED_KINDS",
    "SELECTOR_KEYS",
    "STAT_NAMES",
    "AbortWatch",
    "BreachSpan",
    "Comparison",
    "GateKind",
    "GateResult",
    "GateStatus",
    "LiveReading",
    "NotLive",
    "Records",
    "Stat",
    "StatKind",
    "Threshold",
    "ThresholdSpec",
    "TimeRef",
    "caret_error",
    "check_phase",
    "check_selectors",
    "covered_span",
    "evaluate_threshold",
    "format_value",
    "load_thresholds_file",
    "min_samples",
    "named_range",
    "no_data",
    "parse_threshold",
    "per_group",
]
