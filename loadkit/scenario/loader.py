"""``load_scenario(path)``: YAML → a frozen ``Scenario``, every problem reported in one pass."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location
from loadkit.scenario.checks import check_flow
from loadkit.scenario.models import (
    LOOPBACK_HOSTS,
    Feeder,
    FeederMode,
    Persona,
    ProbeSpec,
    Scenario,
    ScenarioSettings,
    ThresholdSpec,
)
from loadkit.scenario.names import defined_names
from loadkit.scenario.parse_funnel import parse_funnel
from loadkit.scenario.parse_request import is_var_name
from loadkit.scenario.parse_steps import StepParser
from loadkit.scenario.patterns import DEFAULT_REGEX_TIMEOUT_S, MAX_REGEX_TIMEOUT_S
from loadkit.scenario.reset import parse_reset
from loadkit.scenario.templates import Template, compile_template
from loadkit.scenario.timeouts import timeout_s
from loadkit.scenario.tokens import ExprError
from loadkit.scenario.values import Values
from loadkit.sources import (
    LIMITS,
    Problems,
    YamlList,
    YamlMap,
    allow_paths,
    data_file,
    expect_list,
    expect_map,
    load_yaml_text,
    read_capped_bytes,
)
from loadkit.units import parse_duration_s

TOP_KEYS = (
    "name", "description", "host", "allow_hosts", "settings", "env", "variables", "feeders",
    "funnel",
    "blocks", "personas", "thresholds", "probes", "allow_paths", "reset",
)  # fmt: skip
SETTINGS_KEYS = ("max_in_flight", "shards", "request_timeout", "connect_timeout", "time_scale",
                 "follow_redirects", "regex_timeout")  # fmt: skip
FEEDER_KEYS = ("file", "mode", "columns", "on_exhausted")
_MAX_HEADER_CHARS = 64 * 1024


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file.

    Raises ``InputError`` (one problem) or ``ValidationErrors`` (several), each with
    file:line:column; never a traceback for a mistake in the file.
    """
    p = Path(path)
    try:
        data = read_capped_bytes(p, LIMITS.yaml_bytes, "scenario file")
    except FileNotFoundError:
        raise InputError(
            "file not found",
            location=Location(str(path)),
            hint="Check the path (it is relative to the current directory).",
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc}", location=Location(str(path))) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file is not UTF-8 text: {exc}", location=Location(str(path))
        ) from None
    raw = load_yaml_text(text, str(path))
    problems = Problems()
    top = expect_map(raw, Location(str(path), 1, 1), "a scenario file", problems)
    if top is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")
    scenario = _build(top, p, hashlib.sha256(data).hexdigest(), problems, text.splitlines())
    problems.errors.sort(key=_position)
    problems.raise_if_any()
    return scenario


def _position(error: InputError) -> tuple[int, int]:
    loc = error.location
    return (loc.line or 0, loc.column or 0) if loc is not None else (0, 0)


def _build(top: YamlMap, path: Path, sha256: str, problems: Problems, lines: list[str]) -> Scenario:
    problems.check_keys(top, TOP_KEYS, ("personas",), "the scenario")
    settings = _settings(top, problems)
    values = Values(problems, settings.time_scale, lines, settings.regex_timeout_s)
    env = _env(top, problems)
    variables = _variables(top, values, problems)
    feeders = _feeders(top, path.parent, values, problems)
    blocks = top.get("blocks") if isinstance(top.get("blocks"), YamlMap) else None
    if "blocks" in top and blocks is None:
        problems.add("blocks maps a name to a list of steps.", top.value_loc("blocks"))
    parser = StepParser(problems, values, blocks=blocks, feeders={f.name for f in feeders})
    personas = _personas(top, parser, problems)
    probes = _probes(top, problems)
    scenario = Scenario(
        name=str(top.get("name") or path.stem),
        path=str(path),
        sha256=sha256,
        host=_host(top, problems),
        allow_hosts=_allow_hosts(top, problems),
        personas=personas,
        thresholds=_thresholds(top, problems),
        probes=probes,
        reset=parse_reset(top, problems),
        settings=settings,
        variables=variables,
        env=env,
        feeders=feeders,
        description=str(top.get("description") or ""),
    )
    funnel = parse_funnel(top, defined_names(scenario)["step"], problems)
    if funnel:
        scenario = dataclasses.replace(scenario, funnel=funnel)
    check_flow(scenario, values.where, problems)
    return scenario


def _settings(top: YamlMap, problems: Problems) -> ScenarioSettings:
    raw = top.get("settings")
    if raw is None:
        return ScenarioSettings()
    m = expect_map(raw, top.value_loc("settings"), "settings", problems)
    if m is None:
        return ScenarioSettings()
    problems.check_keys(m, SETTINGS_KEYS, what="settings")

    def positive_int(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"expected a whole number >= 1, got {v!r}")
        return v

    def positive_float(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            raise ValueError(f"expected a number > 0, got {v!r}")
        return float(v)

    timeouts = ("request_timeout", "connect_timeout")
    return ScenarioSettings(
        max_in_flight=problems.convert(m, "max_in_flight", positive_int, None),
        shards=problems.convert(m, "shards", positive_int, None),
        request_timeout_s=problems.convert(m, "request_timeout", timeout_s, None),
        time_scale=problems.convert(m, "time_scale", positive_float, 1.0),
        connect_timeout_s=problems.convert(m, "connect_timeout", timeout_s, None),
        follow_redirects=problems.convert(m, "follow_redirects", yes_no, True),
        regex_timeout_s=problems.convert(
            m, "regex_timeout", regex_timeout_s, DEFAULT_REGEX_TIMEOUT_S
        ),
        timeout_locations=tuple((k, m.value_loc(k)) for k in timeouts if k in m),
    )


def regex_timeout_s(v: Any) -> float:
    """``settings.regex_timeout``: how long one regex search may take (``100ms``, ``0.5``)."""
    seconds = timeout_s(v)
    if seconds > MAX_REGEX_TIMEOUT_S:
        raise ValueError(f"at most {MAX_REGEX_TIMEOUT_S:g}s (a search holds up every visitor of "
                         f"the process while it runs), got {v!r}")  # fmt: skip
    return seconds


def yes_no(v: Any) -> bool:
    """A YAML boolean (true/false); anything else is a ValueError."""
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _host(top: YamlMap, problems: Problems) -> str | None:
    host = top.get("host")
    if host is None:
        return None
    if not isinstance(host, str) or not host.startswith(("http://", "https://")):
        problems.add(f"host must be a base URL such as http://127.0.0.1:8000, got {host!r}.",
                     top.value_loc("host"))  # fmt: skip
        return None
    return host.rstrip("/")


def _allow_hosts(top: YamlMap, problems: Problems) -> tuple[str, ...]:
    if "allow_hosts" not in top:
        return LOOPBACK_HOSTS
    lst = expect_list(top["allow_hosts"], top.value_loc("allow_hosts"), "allow_hosts", problems)
    if lst is None:
        return LOOPBACK_HOSTS
    for i, h in enumerate(lst):
        if not isinstance(h, str) or not h:
            problems.add(f"allow_hosts entries are host names, got {h!r}.", lst.item_loc(i))
    return tuple(str(h) for h in lst)


def _env(top: YamlMap, problems: Problems) -> tuple[tuple[str, str | None], ...]:
    m = expect_map(top.get("env", YamlMap()), top.value_loc("env"), "env", problems)
    if m is None:
        return ()
    out = []
    for name, default in m.items():
        if not is_var_name(name):
            problems.add(f"{name!r} is not an environment variable name.", m.key_loc(name))
        if isinstance(default, YamlMap | YamlList):
            problems.add("an env default is text, a number, or null (required).", m.value_loc(name))
        out.append((name, None if default is None else str(default)))
    return tuple(out)


def _variables(
    top: YamlMap, values: Values, problems: Problems
) -> tuple[tuple[str, Template], ...]:
    m = expect_map(
        top.get("variables", YamlMap()), top.value_loc("variables"), "variables", problems
    )
    if m is None:
        return ()
    out = []
    for name, value in m.items():
        if not is_var_name(name):
            problems.add(f"{name!r} is not a variable name (letters, digits, _).", m.key_loc(name))
        out.append((name, values.template(value, m.value_loc(name), f"variable '{name}'")))
    return tuple(out)


def _feeders(top: YamlMap, base: Path, values: Values, problems: Problems) -> tuple[Feeder, ...]:
    m = expect_map(top.get("feeders", YamlMap()), top.value_loc("feeders"), "feeders", problems)
    if m is None:
        return ()
    allowed = allow_paths(top.get("allow_paths"), top.value_loc("allow_paths"), base, problems)
    out = []
    for name, spec in m.items():
        spec_m = expect_map(spec, m.value_loc(name), f"feeder '{name}'", problems)
        if spec_m is None:
            continue
        problems.check_keys(spec_m, FEEDER_KEYS, ("file",), f"feeder '{name}'")
        mode = problems.convert(spec_m, "mode", FeederMode, FeederMode.SEQUENTIAL,
                                "unique, sequential, random or cyclic")  # fmt: skip
        file = base / str(spec_m.get("file", ""))
        columns = _csv_header(str(spec_m.get("file", "")), base, allowed, spec_m, problems)
        exhausted = values.end(spec_m.get("on_exhausted", "fail"), spec_m.value_loc("on_exhausted"),
                               False)  # fmt: skip
        out.append(Feeder(str(name), str(file), mode, columns, spec_m.loc,
                          exhausted or Feeder.on_exhausted))  # fmt: skip
    return tuple(out)


def _csv_header(
    raw: str, base: Path, allowed: tuple[Path, ...], spec: YamlMap, problems: Problems
) -> tuple[str, ...]:
    loc = spec.value_loc("file")
    file = base / raw
    try:
        data_file(raw, base, allowed, loc, "feeder file", LIMITS.feeder_bytes)
        with file.open(newline="", encoding="utf-8") as fh:
            first = fh.readline(_MAX_HEADER_CHARS + 1)
        if len(first) > _MAX_HEADER_CHARS:
            raise InputError(
                f"the feeder file's first line is over {_MAX_HEADER_CHARS:,} characters ({raw}).",
                location=loc,
                hint="The first line names the columns: id,email,...",
            )
        header = next(csv.reader([first]), [])
    except InputError as exc:
        problems.add_error(exc)
        return ()
    except FileNotFoundError:
        problems.add(f"feeder file not found: {file}", loc,
                     hint="Paths are relative to the scenario file's folder.")  # fmt: skip
        return ()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add(f"cannot read feeder file {file}: {exc}", loc)
        return ()
    header = [h.strip() for h in header]
    if not header:
        problems.add(f"feeder file {file} is empty (the first line names the columns).", loc)
    wanted = spec.get("columns")
    if isinstance(wanted, YamlList):
        missing = [c for c in wanted if c not in header]
        if missing:
            problems.add(
                f"feeder file {file} lacks column(s) {', '.join(map(str, missing))}; "
                f"it has {', '.join(header) or 'none'}.", spec.value_loc("columns"),
            )  # fmt: skip
    elif wanted is not None:
        problems.add("columns is a list of column names.", spec.value_loc("columns"))
    return tuple(header)


def _personas(top: YamlMap, parser: StepParser, problems: Problems) -> tuple[Persona, ...]:
    m = expect_map(top.get("personas", YamlMap()), top.value_loc("personas"), "personas", problems)
    if m is None:
        return ()
    out = []
    for name, spec in m.items():
        spec_m = expect_map(spec, m.value_loc(name), f"persona '{name}'", problems)
        if spec_m is None:
            continue
        problems.check_keys(spec_m, ("weight", "steps", "description"), ("steps",),
                            f"persona '{name}'")  # fmt: skip
        weight = parser.weight(spec_m.get("weight", 1), spec_m.value_loc("weight"))
        steps = parser.steps(spec_m.get("steps", YamlList()), spec_m.value_loc("steps"))
        out.append(Persona(str(name), weight, steps, m.key_loc(name)))
    if "personas" in top and not out:
        problems.add("no personas: add at least one under 'personas:'.", top.value_loc("personas"))
    elif out and sum(p.weight for p in out) <= 0:
        problems.add("the persona weights add up to zero.", top.value_loc("personas"))
    return tuple(out)


_PROBE_EXPECT_RE = re.compile(r"^\s*[A-Za-z0-9_.\[\]-]+\s*(==|!=|<=|>=|<|>)\s*\S")


def _probes(top: YamlMap, problems: Problems) -> tuple[ProbeSpec, ...]:
    """``probes:`` entries: ``{name, path | url, headers, expect, timeout}``; header values may
    read the environment as ``{{ env.VAR }}``; ``expect`` is ``{ok: true}``, ``["ok == true"]``
    or expressions ``["{{ body.orders == figures.orders }}"]``."""
    if "probes" not in top:
        return ()
    lst = expect_list(top["probes"], top.value_loc("probes"), "probes", problems)
    out = []
    for i, item in enumerate(lst or ()):
        assert lst is not None
        m = expect_map(item, lst.item_loc(i), "a probe", problems)
        if m is None:
            continue
        problems.check_keys(m, ("name", "url", "path", "headers", "expect", "timeout"),
                            ("name",), "a probe")  # fmt: skip
        if "url" not in m and "path" not in m:
            problems.add("a probe needs 'path' (joined to the target) or 'url'.", m.loc)
        if "headers" in m and not isinstance(m["headers"], YamlMap):
            problems.add("probe headers must be a mapping.", m.value_loc("headers"))
        if "timeout" in m:
            problems.convert(m, "timeout", parse_duration_s, 5.0)
        expect = m.get("expect")
        if isinstance(expect, YamlList):
            for j, e in enumerate(expect):
                if isinstance(e, str) and "{{" in e:  # an expression, as the analyzer reads it
                    _probe_expression(e, expect.item_loc(j), problems)
                elif not isinstance(e, str) or not _PROBE_EXPECT_RE.match(e):
                    problems.add(f"bad probe expectation {e!r}: write 'path op value', "
                                 "e.g. \"ok == true\", or an expression, e.g. "
                                 "\"{{ body.orders == figures.orders }}\".",
                                 expect.item_loc(j))  # fmt: skip
        elif expect is not None and not isinstance(expect, YamlMap):
            problems.add("probe expect is a mapping {ok: true} or a list of 'path op value'.",
                         m.value_loc("expect"))  # fmt: skip
        out.append(ProbeSpec(str(m.get("name", f"probe{i + 1}")), _plain(m), m.loc))
    return tuple(out)


def _probe_expression(text: str, loc: Location, problems: Problems) -> None:
    """A probe expectation written ``{{ expression }}``: refused here only if it does not parse
    (``analysis/probe_expect.py`` evaluates it after the run)."""
    try:
        compile_template(text)
    except ExprError as exc:
        problems.add(f"bad probe expectation {text!r}: {exc} (at character {exc.offset + 1}).",
                     loc)  # fmt: skip


def _thresholds(top: YamlMap, problems: Problems) -> tuple[ThresholdSpec, ...]:
    if "thresholds" not in top:
        return ()
    lst = expect_list(top["thresholds"], top.value_loc("thresholds"), "thresholds", problems)
    out = []
    for i, item in enumerate(lst or ()):
        loc = lst.item_loc(i) if lst is not None else None
        if not isinstance(item, str) or not item.strip():
            problems.add(f"a threshold is one line of text, got {item!r}.", loc)
            continue
        out.append(ThresholdSpec(item.strip(), loc))
    return tuple(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


__all__ = ["load_scenario"]
