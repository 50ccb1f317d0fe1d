"""Budgets of the expression language and limits of the YAML loader, in process."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from loadkit.errors import InputError
from loadkit.scenario import EvalError, ExprError, compile_expr, compile_template, load_scenario
from loadkit.scenario.budget import BudgetError
from loadkit.sources import load_yaml_text


class Scope:
    def __init__(self, **variables: Any) -> None:
        self.vars: dict[str, Any] = dict(variables)
        self.rng = random.Random(3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a' * 10000000000", "'*' would make a text of 10,000,000,000 characters"),
        ("range(10000000000)", "range() would make a list of 10,000,000,000 items"),
        ("'%0999999999d' % 1", "format width or precision of 999999999"),
        ("'%*d' % [5, 1]", "'*' width"),
        ("(" * 3000 + "1" + ")" * 3000, "nests more than 100 levels"),
        ("1" + "+1" * 500, "nests more than 100 levels"),
        ("9" * 500, "a number of 500 digits"),
        ("[[1] * 1000] * 1001", "would make a list of"),
        ("x" * 10_001, "an expression of 10,001 characters"),
    ],
)
def test_an_over_budget_constant_is_a_compile_error(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        compile_expr(text)
    assert message in str(info.value)
    assert 0 <= info.value.offset <= len(text)


def test_the_budget_error_points_at_its_operator() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("1 + ('%0999999999d' % 1)")
    assert info.value.offset == 20  # the '%' operator


@pytest.mark.parametrize(
    ("text", "variables", "message"),
    [
        ("x * x", {"x": 2**3000}, "'*' would make a number of over 4,096 bits"),
        ("'ab' * n", {"n": 10**10}, "'*' would make a text"),
        ("s + s", {"s": "a" * 6_000_000}, "'+' would make a text of 12,000,000"),
        ("[l, l]", {"l": [[0] * 1000] * 999}, "a list would make a list of"),
        ("str(l)", {"l": [[0] * 1000] * 999 * 2}, "would make a text"),
        ("join(l, '-')", {"l": ["x" * 1_000_000] * 11}, "join() would make a text"),
        ("split(s, 'a')", {"s": "a" * 2_000_000}, "split() would make a list"),
        ("int(s)", {"s": "9" * 2000}, "int() would make a number of over 4,096 bits"),
    ],
)
def test_an_over_budget_value_at_run_time_is_a_budget_error(
    text: str, variables: dict[str, Any], message: str
) -> None:
    expr = compile_expr(text)
    assert not expr.const
    with pytest.raises(BudgetError) as info:
        expr(Scope(**variables))
    assert message in str(info.value)
    assert isinstance(info.value, EvalError)  # so a journey ends failed with this reason


def test_values_within_budget_still_work() -> None:
    assert compile_expr("'%05d' % 7").value == "00007"
    assert compile_expr("len(range(100000))").value == 100_000
    assert compile_expr("[0] * 3 + [1]").value == [0, 0, 0, 1]
    assert compile_expr("x * x")(Scope(x=2**2000)) == 2**4000
    assert compile_template("{{ a }}-{{ b }}").render(Scope(a=1, b=[2])) == "1-[2]"


def test_a_template_repeating_a_big_value_is_refused() -> None:
    template = compile_template("{{ s }}" * 20)
    with pytest.raises(BudgetError):
        template.render(Scope(s="x" * 1_000_000))


def test_type_mismatches_name_kinds_not_python_types() -> None:
    with pytest.raises(EvalError) as info:
        compile_expr("x + 1")(Scope(x=None))
    assert "'+' does not work on nothing (null) and a number" in str(info.value)
    with pytest.raises(EvalError) as info:
        compile_expr("len(x)")(Scope(x=None))
    assert str(info.value) == "len() does not work on nothing (null)"
    for text_function in ("split(x)", "lower(x)", "upper(x)", "join(x)"):  # methods of text
        with pytest.raises(EvalError) as info:
            compile_expr(text_function)(Scope(x=1))
        assert "does not work on a number" in str(info.value), text_function


def _bomb(levels: int) -> str:
    lines = ["l0: &l0 [a, a, a, a, a, a, a, a, a]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_its_line() -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text(_bomb(10), "s.yaml")
    assert str(info.value).startswith("s.yaml:")
    assert "more than 1,000 alias uses" in str(info.value)


def test_a_few_anchors_still_load() -> None:
    data = load_yaml_text(_bomb(3), "s.yaml")
    assert len(data["l2"]) == 9 and data["l2"][0][0] == ["a"] * 9


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text("x: " + "[" * 500 + "]" * 500, "s.yaml")
    assert str(info.value).startswith("s.yaml:1:")
    with pytest.raises(InputError) as info:
        load_yaml_text("x: " + "[" * 80 + "]" * 80, "s.yaml")
    assert "more than 64 levels of nesting" in str(info.value)


def test_a_wrong_kind_is_named_for_people(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("personas: [a]\n")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert "personas must be a mapping (key: value lines), got a list." in str(info.value)
    assert "YamlList" not in str(info.value)


def _feeder_scenario(folder: Path, file: str, extra: str = "") -> Path:
    path = folder / "s.yaml"
    path.write_text(f"{extra}feeders:\n  f: {{file: '{file}'}}\n"
                    "personas: {p: {steps: [{feed: f}]}}\n")  # fmt: skip
    return path


@pytest.mark.parametrize("file", ["/etc/hostname", "../outside.csv", "/dev/zero"])
def test_a_feeder_outside_the_folder_is_refused(tmp_path: Path, file: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (tmp_path / "outside.csv").write_text("id\n1\n")
    with pytest.raises(InputError) as info:
        load_scenario(_feeder_scenario(folder, file))
    assert "s.yaml:2:" in str(info.value)
    assert "outside this file's folder" in str(info.value)


def test_allow_paths_admits_a_folder_but_not_a_special_file(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (tmp_path / "outside.csv").write_text("id\n1\n")
    scenario = load_scenario(_feeder_scenario(folder, "../outside.csv", "allow_paths: [..]\n"))
    assert scenario.feeders[0].columns == ("id",)
    with pytest.raises(InputError) as info:
        load_scenario(_feeder_scenario(folder, "/dev/zero", "allow_paths: [/dev]\n"))
    assert "the feeder file is a device, pipe or socket, not a regular file" in str(info.value)
