"""Every example in README.md and docs/*.md works as written (unit layer: no network, no load).

Users copy YAML and commands from the docs; an example that does not validate, or a flag that
does not exist, is a bug they meet in their first ten minutes. This test reads every fenced
block of the pages and checks it with loadkit's own code:

- ``yaml`` blocks are classified by what they show (a whole scenario or profile, or a fragment:
  steps, a part of a request step, top-level scenario keys, profile segments or keys) and
  checked by ``loadkit validate`` (the CLI entry, in-process: the loaders plus the threshold,
  selector and probe checks); a fragment is wrapped into the smallest valid document around
  it (``WRAPPERS``). A block that fits no kind fails the test, so a new example must be
  classified, not silently skipped.
- threshold lines in docs/thresholds.md (gates files, bare lines, the gate column of result
  tables) parse with ``loadkit.gates.parse_threshold``; an error it shows is the error
  loadkit gives;
- every ``loadkit ...`` command line in any block names subcommands and ``--flags`` that exist
  in the click command tree of ``loadkit.cli`` (``demo-shop``: the demo shop's own parser),
  and so does every inline `` `loadkit ...` `` in the prose; the shipped scenarios and
  profiles they name exist, and so do the ``make`` targets the pages name; ``demo-shop``
  lines in ``sh`` blocks parse with the shop's parser, and the JSON settings the pages show
  (``json`` blocks, ``--faults-json``) are ones the shop accepts; nothing is run;
- ``python`` blocks parse and import names loadkit has (architecture.md's signature
  listings aside).

A block that is deliberately not valid (an error example, another tool's config) carries
``<!-- not-checked: why -->`` on the line before its fence.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import click
import pytest
import yaml

from loadkit.cli import cli, main
from loadkit.demo.config import ConfigError, config_from_json, faults_from_json
from loadkit.demo.server import build_parser
from loadkit.errors import LoadkitError, Location
from loadkit.gates import load_thresholds_file, parse_threshold
from loadkit.scenario.loader import TOP_KEYS
from loadkit.scenario.parse_steps import KINDS as STEP_KINDS

REPO = Path(__file__).resolve().parent.parent
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
OPENING = re.compile(r"^```(\S*)\s*$")
NOT_CHECKED = re.compile(r"^<!-- not-checked: (.+) -->$", re.MULTILINE)


@dataclass(frozen=True)
class Fence:
    """One fenced block: where it is, its language, its text, and a not-checked reason."""

    page: Path
    line: int  # 1-based line of the opening ```
    language: str
    body: str
    not_checked: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def read_fences(page: Path) -> list[Fence]:
    """The page's fenced blocks in order; an unclosed fence is a test failure."""
    lines = page.read_text().splitlines()
    out: list[Fence] = []
    i = 0
    while i < len(lines):
        opening = OPENING.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{page.relative_to(REPO)}:{i + 1}: fence never closed"
        marker = NOT_CHECKED.match(lines[i - 1]) if i else None
        body = "\n".join(lines[i + 1 : end]) + "\n"
        out.append(Fence(page, i + 1, opening.group(1), body, marker and marker.group(1)))
        i = end + 1
    return out


FENCES = [f for page in PAGES for f in read_fences(page)]


def fences(*languages: str, checked: bool = True) -> list[Fence]:
    return [f for f in FENCES if f.language in languages and (f.not_checked is None or not checked)]


def ids(items: list[Fence]) -> list[str]:
    return [f.where for f in items]


# --- YAML: classify, wrap, validate -------------------------------------------------------

# the loader's own key lists, so a key it learns is classified without touching this test
SCENARIO_KEYS = frozenset(TOP_KEYS) - {"personas"}
STEP_KEYS = frozenset({"name", *STEP_KINDS})
REQUEST_PARTS = frozenset({"expect", "capture", "record", "on_error"})  # beside `request:`
PROFILE_KEYS = frozenset({"scale", "phases"})

# A fragment's steps may read names an earlier step of the page's journey set (`state` after
# a capture, `tries` in a retry loop); the wrapper sets them first, so only names the page
# really leaves undefined fail. Keep this list to names the pages' prose introduces.
ASSUMED = {"state": "queued", "tries": 0, "n": 1, "free": [], "sold_out": False, "hold_id": "h1",
           "zone": "A", "token": "t", "seats": [], "order_url": "/orders/1", "cart": "{}"}  # fmt: skip


def _indent(text: str, spaces: int) -> str:
    return textwrap.indent(text, " " * spaces)


# What the pages' step fragments assume the scenario around them declares: the feeder the
# `feed:` examples read (on the shipped data), the test card import-har.md's skeleton reads.
CONTEXT = (
    "env: {CARD_NUMBER: '4242424242424242'}\n"
    "feeders:\n  accounts: {file: data/accounts.csv, mode: unique}\n"
)


def _scenario(steps: str, top: str = CONTEXT, captured: frozenset[str] = frozenset()) -> str:
    """The smallest scenario around ``steps``: one persona that sets the assumed names and
    makes a request, then ``steps``, then (if the fragment captures names) a ``leave`` that
    uses them, as the page's journey would later: a capture nobody uses is an error."""
    assumed = ", ".join(f"{k}: {v!r}" for k, v in ASSUMED.items())
    used = " ".join(f"{{{{ {name} }}}}" for name in sorted(captured))
    return (
        "name: doc-example\n"
        f"{top}"
        "personas:\n"
        "  visitor:\n"
        "    weight: 1\n"
        "    steps:\n"
        f"      - set: {{{assumed}}}\n"
        "      - request: GET /            # sets outcome and status, as the page's would\n"
        f"{_indent(steps, 6)}" + (f'      - leave: "{used}"\n' if captured else "")
    )


def _captured(data: object) -> frozenset[str]:
    """Names a fragment captures (anywhere in it)."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "capture" and isinstance(value, dict):
                found |= {str(k) for k in value}
            found |= _captured(value)
    elif isinstance(data, list):
        for item in data:
            found |= _captured(item)
    return frozenset(found)


def wrap_steps(body: str, data: object) -> str:
    return _scenario(body, captured=_captured(data))


def wrap_request_part(body: str, data: object) -> str:
    step = "- name: example\n  request: GET /\n" + _indent(body, 2)
    return _scenario(step, captured=_captured(data))


def wrap_scenario_keys(body: str, data: object) -> str:
    # a step named `login`, for the funnel example's {step: login}
    return _scenario("- name: login\n  request: GET /\n", top=body)


PROFILE_BASE = "name: doc-example\nduration: 150s\nonsale_at: 60s\n"


def wrap_segments(body: str, data: object) -> str:
    # as long as profiles/onsale-reference.yaml: the reference curve's default span fits
    return "name: doc-example\nduration: 62m\nonsale_at: 30m\nsegments:\n" + _indent(body, 2)


def wrap_profile_keys(body: str, data: object) -> str:
    return PROFILE_BASE + "segments:\n  - {kind: constant, rate: 5/s, from: 0s, to: 150s}\n" + body


def as_is(body: str, data: object) -> str:
    return body


# kind → (what the document is checked as, how the fragment is wrapped)
WRAPPERS: dict[str, tuple[str, Callable[[str, object], str]]] = {
    "scenario": ("scenario", as_is),
    "profile": ("profile", as_is),
    "steps": ("scenario", wrap_steps),
    "request part": ("scenario", wrap_request_part),
    "scenario keys": ("scenario", wrap_scenario_keys),
    "profile segments": ("profile", wrap_segments),
    "profile keys": ("profile", wrap_profile_keys),
}


def classify(data: object) -> str | None:
    """The kind of a YAML example, or None when it fits none (the test then fails)."""
    if isinstance(data, dict):
        keys = set(data)
        if "personas" in keys:
            return "scenario"
        if "segments" in keys:
            return "profile"
        if keys <= REQUEST_PARTS:
            return "request part"
        if keys <= SCENARIO_KEYS:
            return "scenario keys"
        if keys <= PROFILE_KEYS:
            return "profile keys"
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        if all("kind" in item for item in data):
            return "profile segments"
        if all(next(iter(item)) in STEP_KEYS for item in data):
            return "steps"
    return None


def alternatives(body: str, data: object) -> list[str]:
    """The examples a block shows. A block that repeats a top-level key (``scale: ...``
    twice), or a list of ``leave`` steps (a journey ends at its first), shows alternatives:
    each top-level entry is then an example of its own. Any other block is one example."""
    entries: list[list[str]] = []
    for line in body.splitlines(keepends=True):
        if re.match(r"^[A-Za-z_-]", line) or not entries:
            entries.append([])
        entries[-1].append(line)
    if isinstance(data, dict):
        keys = [e[0].split(":", 1)[0] for e in entries]
        if len(set(keys)) < len(keys):
            return ["".join(e) for e in entries]
    if (
        isinstance(data, list)
        and len(data) > 1
        and all(isinstance(step, dict) and list(step) == ["leave"] for step in data)
    ):
        return ["".join(e) for e in entries]
    return [body]


def loadkit_validate(folder: Path, kind: str, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``loadkit validate`` (the CLI entry, in-process) on the document as a user would:
    a scenario alone, a profile with the smallest scenario. Its complaint, or "" when it
    exits 0."""
    path = folder / f"{kind}.yaml"
    path.write_text(text)
    argv = ["validate", str(path)]
    if kind == "profile":
        (folder / "scenario.yaml").write_text(_scenario(""))
        argv = ["validate", str(folder / "scenario.yaml"), "--profile", str(path)]
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return "" if done.value.code == 0 else f"exit {done.value.code}\n{out}{err}"


@pytest.mark.parametrize("fence", fences("yaml"), ids=ids(fences("yaml")))
def test_every_yaml_example_validates(
    fence: Fence, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the pages' feeders read the shipped example data, under the scenario's folder
    shutil.copytree(REPO / "scenarios" / "data", tmp_path / "data")
    whole = textwrap.dedent(fence.body)
    try:
        examples = alternatives(whole, yaml.safe_load(whole))
    except yaml.YAMLError as exc:
        pytest.fail(f"{fence.where}: the block is not YAML a user could paste:\n{exc}")
    for body in examples:
        data = yaml.safe_load(body)
        kind = classify(data)
        assert kind is not None, (
            f"{fence.where}: this yaml block is neither a scenario, a profile nor a known "
            f"fragment; teach classify() its kind, or mark it <!-- not-checked: why -->\n{body}"
        )
        checked_as, wrap = WRAPPERS[kind]
        document = wrap(body, data)
        complaint = loadkit_validate(tmp_path, checked_as, document, capsys)
        if complaint:
            pytest.fail(
                f"{fence.where}: the {kind} example does not validate: loadkit validate says\n"
                f"{complaint}--- the {checked_as} checked ---\n{document}"
            )


def test_every_not_checked_marker_stands_before_a_block_and_says_why() -> None:
    reasons = {f.where: f.not_checked for f in FENCES if f.not_checked is not None}
    markers = sum(len(NOT_CHECKED.findall(p.read_text())) for p in PAGES)
    assert markers == len(reasons), "a <!-- not-checked: ... --> line not right before a fence"
    for where, why in reasons.items():
        assert len(why.split()) >= 3, f"{where}: say why it is not checked"


# --- threshold lines ----------------------------------------------------------------------

THRESHOLDS_PAGE = REPO / "docs" / "thresholds.md"
RESULT = re.compile(r"^(PASS|FAIL|NO DATA|ERROR|SKIP)\s+(.+?)(\s{2,}.*)?$")


def threshold_lines(fence: Fence) -> Iterator[str]:
    """The gate lines a thresholds.md block shows: each line, a result line's gate column."""
    for line in fence.body.splitlines():
        text = re.sub(r"(^|\s+)#.*$", "", line).strip()
        if not text:
            continue
        result = RESULT.match(text)
        yield result.group(2) if result else text


ERROR_SHOWN = re.compile(r"^(\S+):(\d+):(\d+): ")


def check_error_example(fence: Fence) -> None:
    """A block showing a parse error (``FILE:LINE:COL: ...``, the threshold, a caret line) is
    what ``parse_threshold`` says about that threshold; ``...`` in the page stands for text
    it leaves out."""
    shown = fence.body.rstrip("\n")
    where = ERROR_SHOWN.match(shown)
    assert where is not None
    text = shown.splitlines()[1].strip()
    location = Location(where.group(1), int(where.group(2)), int(where.group(3)))
    with pytest.raises(LoadkitError) as raised:
        parse_threshold(text, location)
    pattern = ".*?".join(re.escape(part) for part in shown.split("..."))
    assert re.fullmatch(pattern, str(raised.value), re.DOTALL), (
        f"{fence.where}: the page shows\n{shown}\nbut loadkit says\n{raised.value}"
    )


# a gates file the pages show: a ``text`` block whose first line names it, `# gates.txt`
GATES_FILES = [f for f in fences("text") if re.match(r"# [\w.-]+\.txt\n", f.body)]


@pytest.mark.parametrize("fence", GATES_FILES, ids=ids(GATES_FILES))
def test_every_gates_file_in_the_pages_loads(fence: Fence, tmp_path: Path) -> None:
    path = tmp_path / fence.body.splitlines()[0].removeprefix("# ")
    path.write_text(fence.body)
    try:
        specs = load_thresholds_file(path)
        for spec in specs:
            parse_threshold(spec.text, spec.location)
    except LoadkitError as exc:
        pytest.fail(f"{fence.where}: the gates file does not load:\n{exc}")
    assert len(specs) == len(list(threshold_lines(fence))), f"{fence.where}: a line was lost"


THRESHOLD_FENCES = [f for f in read_fences(THRESHOLDS_PAGE) if f.not_checked is None]


@pytest.mark.parametrize("fence", THRESHOLD_FENCES, ids=ids(THRESHOLD_FENCES))
def test_every_threshold_line_in_the_thresholds_page_parses(fence: Fence) -> None:
    if fence in GATES_FILES:
        return  # test_every_gates_file_in_the_pages_loads
    assert fence.language == "", f"{fence.where}: unexpected block language {fence.language!r}"
    if ERROR_SHOWN.match(fence.body):
        check_error_example(fence)
        return
    for text in threshold_lines(fence):
        try:
            parse_threshold(text)
        except LoadkitError as exc:
            pytest.fail(f"{fence.where}: {text!r} does not parse:\n{exc}")


# --- commands -----------------------------------------------------------------------------

COMMAND = re.compile(
    r"^(?:\$\s+)?(?:[A-Z_]+=\S+\s+)*(loadkit|python -m loadkit\.demo)\s+([a-z-].*)$"
)


def command_lines(fence: Fence) -> Iterator[list[str]]:
    """The ``loadkit ...`` command lines of a block as argument lists (continuations joined,
    comments, environment prefixes and a trailing ``&`` dropped; ``[--opt X]`` as ``--opt X``;
    ``python -m loadkit.demo`` as ``demo-shop``)."""
    # a usage synopsis continues a command on indented lines of options, without a backslash
    text = re.sub(r"\n\s+(?=\[?-)", " ", fence.body.replace("\\\n", " "))
    for line in text.splitlines():
        match = COMMAND.match(line.strip())
        if match is None:
            continue
        words = shlex.split(match.group(2), comments=True)
        words = [w.strip("[]") for w in words if w not in ("&", "|", "...")]
        yield (["demo-shop"] if match.group(1).startswith("python") else []) + words


def _options(command: click.Command) -> set[str]:
    return {name for p in command.params for name in (*p.opts, *p.secondary_opts)}


def unknown_words(argv: list[str]) -> list[str]:
    """Subcommands and options in ``argv`` that the loadkit command tree does not have."""
    command: click.Command = cli
    rest = list(argv)
    while isinstance(command, click.Group) and rest:
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return [name]
        command = sub
    if command.name == "demo-shop":
        known = {s for a in build_parser()._actions for s in a.option_strings}
    else:
        known = _options(command) | {"-h", "--help"}
    flags = [w.split("=", 1)[0] for w in rest if re.match(r"^--?[A-Za-z]", w)]
    return [f for f in flags if f not in known]


COMMAND_FENCES = [f for f in FENCES if f.not_checked is None and any(command_lines(f))]


def test_the_pages_show_commands_to_check() -> None:
    pages = {f.page.name for f in COMMAND_FENCES}
    assert {"README.md", "scenarios.md", "own-site.md", "capacity.md", "live.md"} <= pages


@pytest.mark.parametrize("fence", COMMAND_FENCES, ids=ids(COMMAND_FENCES))
def test_every_command_uses_subcommands_and_flags_that_exist(fence: Fence) -> None:
    bad = {" ".join(argv): unknown_words(argv) for argv in command_lines(fence)}
    bad = {line: words for line, words in bad.items() if words}
    assert not bad, f"{fence.where}: unknown subcommands or options: {bad}"


SHIPPED = re.compile(r"^(scenarios|profiles)/[\w.-]+\.yaml$")


@pytest.mark.parametrize("fence", COMMAND_FENCES, ids=ids(COMMAND_FENCES))
def test_every_command_names_shipped_files_that_exist(fence: Fence) -> None:
    # a file the page has the user write first (`import-har ... -o scenarios/my-site.yaml`)
    written = {w for f in FENCES if f.page == fence.page for argv in command_lines(f)
               for flag, w in pairwise(argv) if flag in ("-o", "--output")}  # fmt: skip
    named = {w for argv in command_lines(fence) for w in argv if SHIPPED.match(w)}
    missing = sorted(w for w in named - written if not (REPO / w).is_file())
    assert not missing, f"{fence.where}: the commands name files the repository lacks: {missing}"


MAKE = re.compile(r"^make ([a-z-]+)", re.MULTILINE)


def test_every_make_target_the_pages_name_exists() -> None:
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.MULTILINE))
    named = {(f.where, t) for f in FENCES for t in MAKE.findall(f.body)}
    named |= {(p.name, t) for p in PAGES for t in re.findall(r"`make ([a-z-]+)`", p.read_text())}
    assert named, "the README shows make targets"
    missing = sorted((where, t) for where, t in named if t not in targets)
    assert not missing, f"make targets the Makefile lacks: {missing}"


INLINE_COMMAND = re.compile(r"`loadkit ([a-z][^`]*)`")


def test_every_inline_command_uses_subcommands_and_flags_that_exist() -> None:
    bad: dict[str, list[str]] = {}
    for page in PAGES:
        for match in INLINE_COMMAND.finditer(page.read_text()):
            words = [w.strip("[]") for w in match.group(1).split()]
            if unknown := unknown_words(words):
                bad[f"{page.relative_to(REPO)}: `loadkit {match.group(1)}`"] = unknown
    assert not bad, f"unknown subcommands or options: {bad}"


# --- Python -------------------------------------------------------------------------------

# docs/architecture.md lists signatures (`load_scenario(path) -> Scenario`), not code to run
SIGNATURE_PAGES = {"architecture.md"}
PYTHON_FENCES = [f for f in fences("python") if f.page.name not in SIGNATURE_PAGES]


@pytest.mark.parametrize("fence", PYTHON_FENCES, ids=ids(PYTHON_FENCES))
def test_every_python_example_parses_and_imports_what_exists(fence: Fence) -> None:
    try:
        tree = ast.parse(fence.body)
    except SyntaxError as exc:
        pytest.fail(f"{fence.where}: not Python a user could paste: {exc}")
    missing = [
        f"from {node.module} import {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("loadkit")
        for alias in node.names
        if not hasattr(importlib.import_module(node.module), alias.name)
    ]
    assert not missing, f"{fence.where}: these names do not exist: {missing}"


# --- the demo shop's JSON settings --------------------------------------------------------

FAULT_KEYS = {"endpoints", "capacity_limit", "payment", "bugs"}
JSON_FENCES = fences("json")
JSON_FLAGS = {"--faults-json": faults_from_json, "--config-json": config_from_json}


@pytest.mark.parametrize("fence", JSON_FENCES, ids=ids(JSON_FENCES))
def test_every_json_example_is_settings_the_demo_shop_takes(fence: Fence) -> None:
    data = json.loads(fence.body)
    assert isinstance(data, dict) and set(data) <= FAULT_KEYS, (
        f"{fence.where}: a json block that is not the demo shop's faults; teach this test its "
        "kind, or mark it <!-- not-checked: why -->"
    )
    faults_from_json(data)  # ConfigError lists every problem


def test_every_json_flag_in_the_pages_commands_is_accepted() -> None:
    shown = [(f.where, flag, value) for f in COMMAND_FENCES for argv in command_lines(f)
             for flag, value in pairwise(argv) if flag in JSON_FLAGS]  # fmt: skip
    assert shown, "capacity.md starts the demo shop with --faults-json"
    for where, flag, value in shown:
        try:
            JSON_FLAGS[flag](json.loads(value))
        except (ValueError, ConfigError) as exc:
            pytest.fail(f"{where}: {flag} {value!r} is refused: {exc}")


def test_every_demo_shop_command_to_type_parses_with_the_shops_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `sh` blocks are typed as they stand (the bare blocks may be synopses: `[flags]`), so
    # their values must parse too: numbers, choices such as --storefront html
    shown = [(f.where, argv[1:]) for f in COMMAND_FENCES if f.language == "sh"
             for argv in command_lines(f) if argv[0] == "demo-shop"]  # fmt: skip
    assert len(shown) >= 3, shown
    for where, args in shown:
        try:
            build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: loadkit demo-shop {' '.join(args)}\n{capsys.readouterr().err}")
