"""The scenario's ``funnel:``: the stages its visitors pass, for reports (not gates).

    funnel:
      - step: queue.join              # visitors with an ok answer at this step (name = step)
      - {name: admitted, record: admitted}   # visitors whose arrival record has this fact
      - {name: paid, record: order_id}

Stages are counted independently and shown in order after ``arrived`` (visitors who started).
A step must be one the scenario defines; a record must be a fact ``record:`` can set.
"""

from __future__ import annotations

from collections.abc import Collection

from loadkit.errors import did_you_mean
from loadkit.scenario.models import Fact, FunnelStage
from loadkit.sources import Problems, YamlList, YamlMap, kind_of

MAX_STAGES = 20


def parse_funnel(
    top: YamlMap, steps: Collection[str], problems: Problems
) -> tuple[FunnelStage, ...]:
    """The ``funnel:`` stages of a scenario whose steps are ``steps`` (problems recorded)."""
    raw = top.get("funnel")
    if raw is None:
        return ()
    if not isinstance(raw, YamlList) or not raw or len(raw) > MAX_STAGES:
        problems.add(f"funnel is a list of 1 to {MAX_STAGES} stages such as '- step: checkout' "
                     f"or '- {{name: paid, record: order_id}}', got {kind_of(raw)}.",
                     top.value_loc("funnel"))  # fmt: skip
        return ()
    stages: list[FunnelStage] = []
    facts = [str(f) for f in Fact]
    for i, item in enumerate(raw):
        loc = raw.item_loc(i)
        if not isinstance(item, YamlMap):
            problems.add("a funnel stage is '- step: NAME' or '- record: FACT' "
                         "(with an optional 'name').", loc)  # fmt: skip
            continue
        problems.check_keys(item, ("name", "step", "record"), what="a funnel stage")
        kinds = [k for k in ("step", "record") if k in item]
        if len(kinds) != 1:
            problems.add("a funnel stage has one of 'step' or 'record'.", loc)
            continue
        kind, value = kinds[0], str(item[kinds[0]])
        known = steps if kind == "step" else facts
        if value not in known:
            hint = did_you_mean(value, sorted(known)).strip()
            what = "a step the scenario defines" if kind == "step" else "a fact 'record:' sets"
            problems.add(f"funnel {kind} {value!r} is not {what}.",
                         item.value_loc(kind),
                         hint=hint or f"{kind.capitalize()}s: {', '.join(sorted(known))}.")  # fmt: skip
            continue
        name = str(item.get("name") or value)
        if name in {s.name for s in stages} or name == "arrived":
            problems.add(f"funnel stage {name!r} is named twice ('arrived' comes first on its "
                         "own).", loc)  # fmt: skip
            continue
        stages.append(FunnelStage(name, value if kind == "step" else None,
                                  value if kind == "record" else None))  # fmt: skip
    return tuple(stages)


__all__ = ["MAX_STAGES", "parse_funnel"]
