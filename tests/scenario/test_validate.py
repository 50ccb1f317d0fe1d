"""Bad scenario files: every problem in one pass, each with file:line:column and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.errors import ExitCode, InputError, ValidationErrors
from loadkit.scenario import FeederMode, load_scenario

BAD = """\
name: bad
settings: {shards: 0, time_scal: 2}
feeders:
  cards: {file: missing.csv, mode: unique}
  users: {file: users.csv, mode: sequential, columns: [email, pin]}
personas:
  fan:
    weight: heavy
    steps:
      - request: GET /a/{{ evnt_id }}
        capture: {unused: $.x, rid: "$.[", m: {regex: "(unclosed"}}
      - request: GET /b/{{ later }}
      - set: {later: 1}
      - thnk: 2s
      - leave: bye
      - think: 1s
      - request: {method: FETCH, path: /c, headers: {A: "{{ env.SECRET }}"}}
        expct: {status: 200}
      - feed: card
      - retry: {on: [503], steps: [{request: GET /d}]}
variables:
  event_id: 1
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "users.csv").write_text("email,name\na@x,b\n")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    errors = info.value.errors if isinstance(info.value, ValidationErrors) else [info.value]
    return [str(e).replace(str(tmp_path) + "/", "") for e in errors]


def test_every_problem_is_reported_once_with_its_position(tmp_path: Path) -> None:
    got = _problems(tmp_path, BAD)
    expected_fragments = [
        "s.yaml:2:20: settings.shards: bad value for 'shards': expected a whole number >= 1, got 0",
        "s.yaml:2:23: settings.time_scal: unknown key 'time_scal' in settings. Did you mean 'time_scale'?",
        "s.yaml:4:17: feeders.cards.file: feeder file not found",
        "s.yaml:5:55: feeders.users.columns: feeder file",
        "lacks column(s) pin; it has email, name",
        "s.yaml:8:13: personas.fan.weight: weight must be a number, got text 'heavy'",
        "s.yaml:10:18: personas.fan.steps[0].request: undefined variable 'evnt_id'. Did you mean 'event_id'?",
        "s.yaml:11:27: personas.fan.steps[0].capture.unused: capture 'unused' is never used",
        "s.yaml:11:40: personas.fan.steps[0].capture.rid: bad JSONPath '$.['",
        "s.yaml:11:55: personas.fan.steps[0].capture.m.regex: bad regex '(unclosed'",
        "s.yaml:12:18: personas.fan.steps[1].request: variable 'later' is used before it is set",
        "s.yaml:14:9: personas.fan.steps[3].thnk: unknown step kind 'thnk'. Did you mean 'think'?",
        "s.yaml:16:9: personas.fan.steps[5]: unreachable step: the journey always ends at 'leave' (line 15)",
        "s.yaml:17:27: personas.fan.steps[6].request.method: unknown HTTP method 'FETCH'",
        "s.yaml:17:57: personas.fan.steps[6].request.headers.A: environment variable 'SECRET' is not declared under 'env:'",
        "s.yaml:18:9: personas.fan.steps[6].expct: unknown key 'expct' in a request step. Did you mean 'expect'?",
        "s.yaml:19:15: personas.fan.steps[7].feed: no feeder called 'card' under 'feeders:'. Did you mean 'cards'?",
        "s.yaml:20:17: personas.fan.steps[8].retry.True: YAML reads the key 'on' as true: write 'when:' instead.",
    ]
    for fragment in expected_fragments:
        assert any(fragment in line for line in got), f"missing: {fragment}\n" + "\n".join(got)
    assert len(got) == len(set(got))
    lines = [int(g.split(":")[1]) for g in got]
    assert lines == sorted(lines)  # reported in file order


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ("- think: {uniform: [5s, 2s]}", "high (2s) is below low (5s)"),
        ("- think: {gaussian: 1s}", "unknown key 'gaussian' in a think time"),
        ("- think: soon", "bad think time: expected a duration"),
        (
            "- if: 'a =='\n        then: []",
            "bad condition: unexpected end of expression (at character 5)",
        ),
        ("- repeat: {steps: []}", "repeat needs 'times', 'while' or 'until'"),
        ("- poll: {steps: [], until: 'true', abandon: lots}", "bad abandonment rate 'lots'"),
        ("- poll: {steps: [], until: 'true', interval: 0s}", "a poll interval must be above zero"),
        ("- choice: [{weight: 0, steps: []}]", "the branch weights add up to zero"),
        ("- request: GET /x\n        expect: {status: [200, 'ok']}", "expected HTTP status codes"),
        ("- request: GET /x\n        on_error: ignore", "bad on_error 'ignore'"),
        ("- request: GET /x\n        capture: {v: {json: $.a, header: X}}", "needs exactly one of"),
        ("- request: GET /x\n        record: {seat: 1}", "unknown key 'seat' in record"),
        ("- request: {path: x}", "a path starts with '/'"),
        ("- leave: {reason: r, outcome: vanished}", "bad value 'vanished'"),
        ("- include: nowhere", "no block called 'nowhere'"),
        ("- think: 1s\n        request: GET /", "a step has one kind, this one has 2"),
        ("- 42", "a step must be a mapping"),
        (
            '- request: {method: GET, path: /, headers: {X-A: "a\\r\\nX-Evil: 1"}}',
            "header 'X-A' holds a line break (CR, LF or NUL)",
        ),
    ],
)
def test_step_problems(tmp_path: Path, steps: str, fragment: str) -> None:
    text = f"personas:\n  p:\n    steps:\n      {steps}\n"
    got = _problems(tmp_path, text)
    assert any(fragment in line for line in got), "\n".join(got)


def test_expression_errors_point_at_the_character(tmp_path: Path) -> None:
    text = "personas:\n  p:\n    steps:\n      - if: x ===  2\n        then: []\n"
    got = _problems(tmp_path, text)
    assert got == [
        "s.yaml:4:17: personas.p.steps[0].if: bad condition: unexpected character '=' "
        "(at character 5)"
    ]


def test_invalid_yaml_is_one_located_problem(tmp_path: Path) -> None:
    got = _problems(tmp_path, "personas:\n  p: [\n")
    assert got[0].startswith("s.yaml:3:1: this is not valid YAML")


def test_missing_file_and_missing_personas(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")
    assert any("missing required key 'personas'" in p for p in _problems(tmp_path, "name: x\n"))


def test_blocks_are_spliced_and_recursion_is_caught(tmp_path: Path) -> None:
    text = """\
blocks:
  a: [{include: b}]
  b: [{include: a}]
personas:
  p: {steps: [{include: a}]}
"""
    assert any("block includes itself: a → b → a" in p for p in _problems(tmp_path, text))


def test_a_good_file_loads_into_frozen_models(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("id\n1\n2\n")
    text = """\
name: good
host: http://127.0.0.1:9000/
settings: {request_timeout: 2s, shards: 8, time_scale: 0.5}
feeders: {rows: {file: rows.csv, mode: unique, columns: [id]}}
blocks:
  hello: [{request: "GET /hello/{{ row.id }}", name: hello}]
personas:
  a: {weight: 3, steps: [{feed: {feeder: rows, as: row}}, {include: hello}, {think: 4s}]}
  b: {weight: "1%", steps: [{think: {exponential: 2s}}]}
thresholds: ["p(95) < 1s"]
probes: [{name: health, path: /healthz, expect: ["ok == true"]}]
"""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    s = load_scenario(path)
    assert (s.name, s.host, s.allow_hosts) == ("good", "http://127.0.0.1:9000",
                                               ("127.0.0.1", "localhost", "::1"))  # fmt: skip
    assert (s.settings.request_timeout_s, s.settings.shards, s.settings.time_scale) == (2, 8, 0.5)
    assert [(p.name, p.weight) for p in s.personas] == [("a", 3.0), ("b", 1.0)]
    assert s.personas[0].steps[1].name == "hello"
    assert s.personas[0].steps[2].think.a_s == 2.0  # type: ignore[union-attr]  # × time_scale
    assert s.feeders[0].mode is FeederMode.UNIQUE and s.feeders[0].columns == ("id",)
    assert s.thresholds[0].text == "p(95) < 1s" and s.thresholds[0].location is not None
    assert s.probes[0].raw == {"name": "health", "path": "/healthz", "expect": ["ok == true"]}
    assert len(s.sha256) == 64
    assert s.expected_journey_s() == pytest.approx((3 * 2.0 + 1 * 1.0) / 4)


def test_probe_expectations_may_be_expressions_and_a_broken_one_is_located(
    tmp_path: Path,
) -> None:
    head = "personas: {a: {weight: 1, steps: [{think: 1s}]}}\nprobes:\n  - name: stats\n"
    good = tmp_path / "good.yaml"
    good.write_text(head + '    path: /s\n    expect: ["{{ body.orders == figures.orders }}"]\n')
    assert load_scenario(good).probes[0].raw["expect"] == ["{{ body.orders == figures.orders }}"]
    got = _problems(tmp_path, head + '    path: /s\n    expect: ["{{ body.sold <= }}", "sold"]\n')
    assert len(got) == 2, got
    assert got[0].startswith("s.yaml:5:14: probes[0].expect[0]: bad probe expectation"), got
    assert "unexpected end of expression" in got[0], got
    assert "write 'path op value'" in got[1] and "or an expression" in got[1], got
