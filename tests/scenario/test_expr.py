"""The expression language, templates and JSONPath subset: values, errors and safety."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.scenario import (
    EvalError,
    ExprError,
    compile_expr,
    compile_jsonpath,
    compile_template,
    compile_value,
)
from loadkit.scenario.jsonpath import MISSING


class Scope:
    def __init__(self, **variables: Any) -> None:
        self.vars: dict[str, Any] = dict(variables)
        self.rng = random.Random(3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 // 2 + 7 % 2 - -1", 5),
        ("10 / 4", 2.5),
        ("'a' + \"b\"", "ab"),
        ("not 1 == 2 and 3 >= 3", True),
        ("1 > 2 or 'x'", "x"),
        ("2 in [1, 2] and 3 not in [1]", True),
        ("seat.zone == 'A' and seat.ids[1] == 'A-2'", True),
        ("seat['ids'][-1]", "A-2"),
        ("len(seat.ids) + int('4') + max(1, 5, 3) + min([4, 2])", 13),
        ("str(round(2.567, 1)) + upper('x')", "2.6X"),
        ("get(seat, 'missing', 0)", 0),
        ("true and not false and null == None", True),
        ("env.REGION", "eu"),
    ],
)
def test_expressions_evaluate(text: str, expected: Any) -> None:
    scope = Scope(seat={"zone": "A", "ids": ["A-1", "A-2"]}, **{"env.REGION": "eu"})
    assert compile_expr(text)(scope) == expected


def test_constant_expressions_fold_and_record_what_they_read() -> None:
    assert compile_expr("2 * (3 + 4)").const
    e = compile_expr("a.b + len(c) + env.X + uuid()")
    assert not e.const
    assert e.names == {"a", "c"} and e.env == {"X"} and e.functions == {"len", "uuid"}


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("1 +", "unexpected end of expression", 3),
        ("a ==== b", "unexpected .==.", 4),
        ("__import__('os')", "unknown function '__import__'", 0),
        ("lenn(x)", "Did you mean 'len'?", 0),
        ("len(1, 2)", r"takes 1 argument\(s\), got 2", 0),
        ("a; b", "unexpected character ';'", 1),
        ("x.__class__", None, None),
    ],
)
def test_syntax_errors_name_the_problem_and_position(
    text: str, message: str | None, offset: int | None
) -> None:
    if message is None:  # attribute access only reads mapping keys: no escape to Python objects
        with pytest.raises(EvalError, match=r"not found|cannot index"):
            compile_expr(text)(Scope(x={"a": 1}))
        return
    with pytest.raises(ExprError, match=message) as info:
        compile_expr(text)
    assert info.value.offset == offset


def test_runtime_errors_are_eval_errors() -> None:
    with pytest.raises(EvalError, match="variable 'nope' is not set"):
        compile_expr("nope + 1")(Scope())
    with pytest.raises(EvalError, match="cannot compute"):
        compile_expr("'a' - 1")(Scope())
    with pytest.raises(EvalError, match="int\\(\\) failed"):
        compile_expr("int(x)")(Scope(x="abc"))


def test_generators_are_seeded_by_the_visitor() -> None:
    a, b = Scope(), Scope()
    expr = compile_expr("[uuid(), randint(1, 100), choice(['x', 'y'], [1, 3]), zipf(50)]")
    assert expr(a) == expr(b)
    assert len(expr(a)[0]) == 36


def test_zipf_pick_prefers_the_front_and_never_repeats() -> None:
    scope = Scope(seats=[f"s{i}" for i in range(200)])
    pick = compile_expr("zipf_pick(seats, 4, 1.1)")
    firsts = []
    for _ in range(300):
        got = pick(scope)
        assert len(set(got)) == 4
        firsts.append(int(got[0][1:]))
    assert sorted(firsts)[150] < 20  # the median best pick is near the front


def test_templates_keep_types_and_constants() -> None:
    assert compile_template("plain").const
    assert compile_template("{{ 1 + 1 }}").value == 2
    t = compile_template("{{ seats }}")
    assert t.render(Scope(seats=[1, 2])) == [1, 2]
    t = compile_template("n={{ n }} ok={{ ok }} none={{ x }}")
    assert t.render(Scope(n=3, ok=True, x=None)) == "n=3 ok=true none="
    body = compile_value({"a": ["{{ n }}", 2], "b": "c"})
    assert body.render(Scope(n=5)) == {"a": [5, 2], "b": "c"}
    assert compile_value({"a": [1, "x"]}).const


def test_template_errors_report_offsets() -> None:
    with pytest.raises(ExprError) as info:
        compile_template("abc {{ 1 + }}")
    assert info.value.offset == 11
    with pytest.raises(ExprError, match="without a closing"):
        compile_template("abc {{ x")


DOC = {"a": {"b": [{"id": 1, "s": "free"}, {"id": 2, "s": "taken"}, {"id": 3, "s": "free"}]},
       "zones": [{"free": ["A1", "A2"]}, {"free": ["B1"]}], "k-1": 5}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.a.b[0].id", 1),
        ("$['a']['b'][-1].s", "free"),
        ("$.k-1", 5),
        ("$.a.b[*].id", [1, 2, 3]),
        ("$.a.b[?(@.s == 'free')].id", [1, 3]),
        ("$.a.b[?(@.id > 1 and @.s != 'free')].id", [2]),
        ("$.zones[*].free[*]", ["A1", "A2", "B1"]),
        ("$..id", [1, 2, 3]),
        ("$.a.b[1:].id", [2, 3]),
        ("$.nope", MISSING),
        ("$.a.b[9]", MISSING),
    ],
)
def test_jsonpath_subset(path: str, expected: Any) -> None:
    assert compile_jsonpath(path).find(DOC) == expected


@pytest.mark.parametrize("path", ["a.b", "$.", "$[", "$.a[?(@.x == )]", "$.a[?(x == 1)]", "$a"])
def test_bad_jsonpaths_are_rejected(path: str) -> None:
    with pytest.raises(ExprError):
        compile_jsonpath(path)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1'\"()[]{}.,@$*?=!<>+-/%_ \\", max_size=30))
def test_parsers_reject_garbage_with_their_own_error_only(text: str) -> None:
    for parse in (compile_expr, compile_jsonpath, compile_template):
        with contextlib.suppress(ExprError):  # anything else (a crash) fails the test
            parse(text)
