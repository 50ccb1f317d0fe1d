"""The crowd language: scenario files (personas, journeys, data) as frozen, validated models.

``load_scenario(path)`` reads a YAML scenario and reports every problem in one pass
(``ValidationErrors``, exit 2). The runner compiles the model into closures
(``loadkit.runner.journey.compile_scenario``). See docs/scenarios.md.
"""

from loadkit.scenario.expr import EvalError, Expr, ExprError, compile_expr
from loadkit.scenario.jsonpath import JsonPath, compile_jsonpath
from loadkit.scenario.loader import load_scenario
from loadkit.scenario.models import (
    LOOPBACK_HOSTS,
    Feeder,
    FeederMode,
    Persona,
    ProbeSpec,
    ResetSpec,
    Scenario,
    ScenarioSettings,
    Step,
    ThresholdSpec,
)
from loadkit.scenario.templates import Template, compile_template, compile_value
from loadkit.scenario.timeouts import check_timeouts

__all__ = [
    "LOOPBACK_HOSTS",
    "EvalError",
    "Expr",
    "ExprError",
    "Feeder",
    "FeederMode",
    "JsonPath",
    "Persona",
    "ProbeSpec",
    "ResetSpec",
    "Scenario",
    "ScenarioSettings",
    "Step",
    "Template",
    "ThresholdSpec",
    "check_timeouts",
    "compile_expr",
    "compile_jsonpath",
    "compile_template",
    "compile_value",
    "load_scenario",
]
