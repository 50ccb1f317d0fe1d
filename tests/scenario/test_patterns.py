"""Scenario regexes: Python's ``re`` syntax and meaning, a time limit on every search, and
patterns whose compilation would itself take minutes refused at validate."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.errors import InputError
from loadkit.scenario import load_scenario
from loadkit.scenario.patterns import (
    DEFAULT_REGEX_TIMEOUT_S,
    RegexTimeout,
    compile_regex,
    literal_braces,
)

# what re reads literally, regex would read as fuzzy matching or refuse: both mean re's
SAME_AS_RE = [
    (r"/users/{id}", "GET /users/{id} now"),
    (r"foo{d}", "fo"),  # regex alone: 'foo' with one deletion allowed, so 'fo' matches
    (r"a{e<=1}", "b"),
    (r'"x":{"y":(\d+)}', '{"x":{"y":42}}'),
    (r"a{}b{,}c{2}", "a{}b{,}cc"),
    (r"[{]x{1,2}\{", "{xx{"),
    (r"\N{DIGIT ONE}{2}", "11"),
    (r"Order #[0-9]+", "Order #123"),
    (r"(?i)order-(\w+)", "ORDER-ab_1"),
    (r"(?>a+)b", "aaab"),
    (r"a++b", "aab"),
]


@pytest.mark.parametrize(("pattern", "text"), SAME_AS_RE)
def test_a_pattern_matches_what_pythons_re_matches(pattern: str, text: str) -> None:
    want = re.search(pattern, text)
    got = compile_regex(pattern).search(text)
    assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))


def test_literal_braces_escape_only_what_re_reads_literally() -> None:
    assert literal_braces(r"/u/{id}/x{2,3}[{]\{") == r"/u/\{id}/x{2,3}[{]\{"


def test_a_catastrophic_search_stops_at_the_limit_and_says_how_to_fix_it() -> None:
    rx = compile_regex(r"(a|aa)+$", timeout_s=0.05)
    text = "a" * 60 + "!"
    with pytest.raises(RegexTimeout) as caught:
        rx.search(text)
    message = caught.value.describe()
    assert "'(a|aa)+$' took longer than 50 ms on the body (61 characters)" in message
    assert "atomic group (?>...)" in message and "possessive quantifier" in message
    assert len(message) < 300  # records keep 300 characters of error text


def test_the_default_limit_is_a_tenth_of_a_second() -> None:
    assert compile_regex("x").timeout_s == DEFAULT_REGEX_TIMEOUT_S == 0.1


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(?:(?:(?:a{255}){255}){255})", "multiply to 16,581,375"),  # regex: 18 s to compile
        ("(unclosed", "missing )"),
        ("a{4294967296}", "too"),
        ("(" * 3000 + "a" + ")" * 3000, "too deeply nested"),
        ("x" * 20_001, "longer than 20,000 characters"),
        (r"\p{L}", "bad escape"),  # not re's syntax
        ("[[:alpha:]]", "not as a class such as [:alpha:]; escape it"),  # regex: letters
        ("[a&&b]", "possible set intersection at position 2"),
    ],
)
def test_a_pattern_re_refuses_or_too_costly_to_compile_is_refused(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        compile_regex(pattern)


def _scenario(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: s\nsettings: {settings}\npersonas:\n  p:\n    steps:\n"
        "      - request: GET /\n        expect: {regex: 'ok'}\n"
        "        capture: {_x: {regex: '(a+)'}}\n"
    )
    return path


def test_settings_regex_timeout_sets_every_searchs_limit(tmp_path: Path) -> None:
    scenario = load_scenario(_scenario(tmp_path, "{regex_timeout: 250ms}"))
    assert scenario.settings.regex_timeout_s == 0.25
    step = scenario.personas[0].steps[0]
    regexes = [step.expect.body[0].regex, step.captures[0].regex]  # type: ignore[attr-defined]
    assert [r.timeout_s for r in regexes if r is not None] == [0.25, 0.25]


@pytest.mark.parametrize("value", ["0s", "30s", "soon"])
def test_a_bad_regex_timeout_is_exit_2_with_the_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError) as caught:
        load_scenario(_scenario(tmp_path, f"{{regex_timeout: {value}}}"))
    assert caught.value.exit_code == 2
    assert "s.yaml:2:" in str(caught.value) and "regex_timeout" in str(caught.value)


# pieces where re and the regex engine could read a pattern differently (braces, classes,
# POSIX-looking classes, set operators, escapes, verbose mode)
ATOMS = [*"ab.^$*+?|(){}[]-\\,:&~ ed#\n", "(?:", "(?P<n>", "(?=", "(?<=", "(?>", r"\d", r"\w",
         r"\b", "{2}", "{1,3}", "{,2}", "{}", "*+", "(?i)", "(?x)", "[^", "[a-z]", "[]",
         "[:alpha:]", r"\[", "--", "&&", "{e}", "{d}", "{id}", r"\N{DIGIT ONE}"]  # fmt: skip
TEXTS = ["", "a", "aab", "ba{2}", "{id}", "a:b", "[a]", "&&", "1", "e d", " #\n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=6).map("".join))
def test_every_pattern_re_accepts_matches_the_same_or_is_refused_with_a_reason(
    pattern: str,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = re.compile(pattern)
        except re.error:
            with pytest.raises(ValueError):
                compile_regex(pattern)
            return
    try:
        got = compile_regex(pattern)
    except ValueError as exc:  # only where re itself warns that its reading will change
        assert "possible" in str(exc)
        return
    for text in TEXTS:
        a, b = want.search(text), got.search(text)
        assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups())), text
