"""YAML source files with positions: every mapping and list remembers where each item sits.

Only loaders see these raw structures; they turn them into frozen models and report
problems as ``InputError`` with ``file:line:column`` and a key path. YAML is safe-loaded
(no tags that build objects); duplicate keys are an error, not a silent overwrite.

``Problems`` collects errors so that ``loadkit validate`` reports every problem in one pass.

Every file is read within ``LIMITS`` (size, values after alias expansion, nesting depth;
regular files only), so a hostile file is a located ``InputError`` within a second, never a
hang, a MemoryError or a RecursionError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import yaml

from loadkit.errors import InputError, Location, ValidationErrors, did_you_mean
from loadkit.sources.limits import LIMITS, SourceLimits, kind_of, too_big

T = TypeVar("T")


class YamlMap(dict[str, Any]):
    """A mapping that knows its own location and each key's and value's location."""

    loc: Location
    key_locs: dict[str, Location]
    value_locs: dict[str, Location]

    def key_loc(self, key: str) -> Location:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key: str) -> Location:
        return self.value_locs.get(key, self.key_loc(key))


class YamlList(list[Any]):
    """A list that knows its own location and each item's location."""

    loc: Location
    item_locs: list[Location]

    def item_loc(self, index: int) -> Location:
        return self.item_locs[index] if 0 <= index < len(self.item_locs) else self.loc


def _loc(path: str, node: yaml.Node, key_path: str) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1, key_path)


def _join(key_path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{key_path}[{key}]"
    return f"{key_path}.{key}" if key_path else str(key)


class _Builder:
    """Turns composed YAML nodes into YamlMap / YamlList / scalars within ``LIMITS``.

    Aliases are shared nodes, so a small file can name an exponential tree; counting every
    node built (and each alias use) refuses such a file before it takes memory or time.
    """

    def __init__(self, path: str, limits: SourceLimits) -> None:
        self.path = path
        self.limits = limits
        self.constructor = yaml.SafeLoader("")  # used only for scalar resolution
        self.nodes = 0
        self.aliases = 0
        self.seen: set[int] = set()

    def _count(self, node: yaml.Node, depth: int, key_path: str) -> None:
        lim = self.limits
        self.nodes += 1
        if id(node) in self.seen and not isinstance(node, yaml.ScalarNode):
            self.aliases += 1
            if self.aliases > lim.yaml_aliases:
                raise self._refuse(node, key_path, f"more than {lim.yaml_aliases:,} alias uses")
        self.seen.add(id(node))
        if self.nodes > lim.yaml_nodes:
            what = f"more than {lim.yaml_nodes:,} values (after expanding aliases)"
            raise self._refuse(node, key_path, what)
        if depth > lim.yaml_depth:
            raise self._refuse(node, key_path, f"more than {lim.yaml_depth} levels of nesting")

    def _refuse(self, node: yaml.Node, key_path: str, what: str) -> InputError:
        shown = key_path if len(key_path) <= 60 else "…" + key_path[-59:]
        return InputError(
            f"this file has {what}, beyond what loadkit reads.",
            location=_loc(self.path, node, shown),
            hint="Real scenario and profile files are far smaller: look for a runaway "
            "anchor (&name and *name) or generated content.",
        )

    def build(self, node: yaml.Node, key_path: str, depth: int = 0) -> Any:
        self._count(node, depth, key_path)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            out = YamlMap()
            out.loc = _loc(self.path, node, key_path)
            out.key_locs, out.value_locs = {}, {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                kp = _join(key_path, key)
                if key in out:
                    raise InputError(
                        f"duplicate key '{key}' (first at line {out.key_locs[key].line})",
                        location=_loc(self.path, key_node, kp),
                        hint="Remove one of them.",
                    )
                out.key_locs[key] = _loc(self.path, key_node, kp)
                out.value_locs[key] = _loc(self.path, value_node, kp)
                out[key] = self.build(value_node, kp, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            lst = YamlList()
            lst.loc = _loc(self.path, node, key_path)
            lst.item_locs = []
            for i, item in enumerate(node.value):
                lst.item_locs.append(_loc(self.path, item, _join(key_path, i)))
                lst.append(self.build(item, _join(key_path, i), depth + 1))
            return lst
        return self.constructor.construct_object(node, deep=True)


# libyaml composes ~7x faster than the pure-Python loader and caps nesting itself.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_text(text: str, path: str = "<string>", limits: SourceLimits = LIMITS) -> Any:
    """Parse YAML text into YamlMap / YamlList / scalars within ``limits``.

    Raises ``InputError`` with the line for bad YAML, and for a text over ``limits`` (size,
    values after alias expansion, alias uses, nesting depth).
    """
    if len(text) > limits.yaml_bytes:
        raise too_big(path, len(text), limits.yaml_bytes, "YAML file")
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(
            f"this is not valid YAML: {problem}",
            location=loc,
            hint="Check the indentation and quoting around this line.",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"this is not valid YAML: {exc}", location=Location(path)) from None
    except RecursionError:  # the pure-Python composer, on deep nesting
        raise InputError(
            f"this file has more than {limits.yaml_depth} levels of nesting.",
            location=Location(path),
        ) from None
    if node is None:
        return None
    try:
        return _Builder(path, limits).build(node, "")
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise InputError(
            f"unsupported YAML: {exc.problem}",
            location=loc,
            hint="Scenario and profile files are plain data: no tags such as !!python.",
        ) from None


_MAX_MESSAGE = 400  # characters of one problem's message (see ``_clip``)
MAX_REPORTED = 50  # problems shown in one report


class Problems:
    """Collects ``InputError``s so one pass can report them all; ``raise_if_any`` at the end."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []

    def add(self, message: str, location: Location | None, hint: str | None = None) -> None:
        self.errors.append(InputError(_clip(message), location=location, hint=hint))

    def add_error(self, error: InputError) -> None:
        if isinstance(error, ValidationErrors):
            self.errors.extend(error.errors)
        else:
            self.errors.append(error)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __iter__(self) -> Iterator[InputError]:
        return iter(self.errors)

    def raise_if_any(self) -> None:
        """Raise the problems found, the first ``MAX_REPORTED`` of them and a count of the
        rest: a generated file with 50,000 mistakes must not print 50,000 lines."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if len(self.errors) > MAX_REPORTED:
            rest = len(self.errors) - MAX_REPORTED
            more = InputError(f"... and {rest:,} more problems (fix these first).")
            raise ValidationErrors([*self.errors[:MAX_REPORTED], more])
        if self.errors:
            raise ValidationErrors(self.errors)

    def check_keys(
        self,
        mapping: YamlMap,
        allowed: Iterable[str],
        required: Iterable[str] = (),
        what: str = "",
    ) -> None:
        """Report unknown keys (with the closest valid one) and missing required keys."""
        allowed = list(allowed)
        for key in mapping:
            if key not in allowed:
                self.add(
                    f"unknown key '{key}'{' in ' + what if what else ''}.",
                    mapping.key_loc(key),
                    hint=(did_you_mean(key, allowed).strip() or "")
                    + f" Valid keys: {', '.join(sorted(allowed))}.",
                )
        for key in required:
            if key not in mapping:
                self.add(
                    f"missing required key '{key}'{' in ' + what if what else ''}.",
                    mapping.loc,
                )

    def convert(
        self,
        mapping: YamlMap,
        key: str,
        parse: Callable[[Any], T],
        default: T,
        expected: str = "",
    ) -> T:
        """``parse(mapping[key])``; a ``ValueError``/``TypeError`` becomes a located problem."""
        if key not in mapping:
            return default
        try:
            return parse(mapping[key])
        except (ValueError, TypeError) as exc:
            msg = str(exc) or f"expected {expected}"
            self.add(f"bad value for '{key}': {msg}", mapping.value_loc(key))
            return default


def _clip(message: str) -> str:
    """A message quoting a huge value keeps its start and end: a terminal, not a flood."""
    if len(message) <= _MAX_MESSAGE:
        return message
    half = _MAX_MESSAGE // 2
    return f"{message[:half]} … ({len(message) - 2 * half:,} characters) … {message[-half:]}"


def expect_map(value: Any, loc: Location, what: str, problems: Problems) -> YamlMap | None:
    """Return ``value`` if it is a mapping, else record a problem and return ``None``."""
    if isinstance(value, YamlMap):
        return value
    problems.add(f"{what} must be a mapping (key: value lines), got {kind_of(value)}.", loc)
    return None


def expect_list(value: Any, loc: Location, what: str, problems: Problems) -> YamlList | None:
    """Return ``value`` if it is a list, else record a problem and return ``None``."""
    if isinstance(value, YamlList):
        return value
    problems.add(f"{what} must be a list (lines starting with '- '), got {kind_of(value)}.", loc)
    return None
