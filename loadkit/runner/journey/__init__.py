"""The journey compiler: a loaded ``Scenario`` compiled once into plain closures.

Mirrors ``loadkit.scenario``'s parser: ``compile_request`` compiles what ``parse_request``
parses (request steps: send, classify, capture, record facts), ``compile_steps`` what
``parse_steps`` parses (think, poll, retry, choice, if, repeat, leave, set, record, feed,
clear_cookies) and dispatches every step kind through one table, ``compile`` turns a whole
scenario into ``CompiledScenario``; ``types`` holds what they run on (the Visitor protocol,
``HttpResult``, ``Ctx``, the control signals) and ``feeders`` the CSV rows at run time.

Adding a step kind: its model in ``scenario/step_models.py``, its parser in ``parse_steps.py`` (or
``parse_request.py``), its compiler in ``compile_steps.py`` (or ``compile_request.py``) with
one line in ``Compiler``'s table, and a section in docs/scenarios.md.
"""

from loadkit.runner.journey.compile import (
    DEFAULT_SHARDS,
    CompiledPersona,
    CompiledScenario,
    compile_scenario,
)
from loadkit.runner.journey.types import (
    ArrivalFacts,
    HttpResult,
    JourneyEnd,
    VisitorProtocol,
)

__all__ = [
    "DEFAULT_SHARDS",
    "ArrivalFacts",
    "CompiledPersona",
    "CompiledScenario",
    "HttpResult",
    "JourneyEnd",
    "VisitorProtocol",
    "compile_scenario",
]
