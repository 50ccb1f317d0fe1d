"""A request's ``expect`` and ``capture`` from YAML: statuses, business outcomes (by status or
by what the body says), body text / regex / JSON checks, and captures from the response or
from a variable. A base class of ``RequestParser``; compiled by ``runner/journey/checks.py``
and ``captures.py``."""

from __future__ import annotations

import json
import re
from typing import Any

from loadkit.errors import Location
from loadkit.scenario.expr import Expr
from loadkit.scenario.models import BodyCheck, Capture, CaptureSource, Expect, JsonCheck
from loadkit.scenario.values import Values, parse_statuses
from loadkit.sources import Problems, YamlList, YamlMap

_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JSON_LINE_RE = re.compile(r"^\s*(\$\S*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
EXPECT_KEYS = ("status", "outcomes", "json", "that", "text", "not_text", "regex")
_BODY_KEYS = ("text", "not_text", "regex", "json")
_CAPTURE_EXTRA = ("default", "from", "secret")
# header captures that are secret unless they say ``secret: false`` (as cookies and CSRF tokens)
_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                          "x-api-key", "x-csrf-token", "x-xsrf-token"})  # fmt: skip


def is_var_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_VAR_RE.match(value))


class CheckParser:
    problems: Problems
    values: Values

    def _opt_expr(self, spec: YamlMap, key: str) -> Expr | None:
        return self.values.expr(spec[key], spec.value_loc(key), key) if key in spec else None

    # ------------------------------------------------------------------ expect

    def expect(self, value: Any, loc: Location) -> Expect:
        if value is None:
            return Expect()
        if not isinstance(value, YamlMap):
            self.problems.add(f"expect must be a mapping {{{', '.join(EXPECT_KEYS)}}}.", loc)
            return Expect()
        self.problems.check_keys(value, EXPECT_KEYS, what="expect")
        ok: frozenset[int] | None = None
        if "status" in value:
            empty: set[int] = set()
            ok = frozenset(self.problems.convert(value, "status", parse_statuses, empty))
        outcomes, labels = self._outcomes(value)
        body = self._body_checks(value)
        return Expect(ok, outcomes, self._json_checks(value, "json"),
                      self._opt_expr(value, "that"), body, labels)  # fmt: skip

    def _outcomes(
        self, value: YamlMap
    ) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[str, BodyCheck], ...]]:
        """``outcomes:``: ``STATUS: label`` pairs, and ``label: {text|not_text|regex|json}``
        pairs (a business outcome the body shows, e.g. a 200 page saying "Sold out")."""
        raw = value.get("outcomes")
        if raw is None:
            return (), ()
        if not isinstance(raw, YamlMap):
            self.problems.add("outcomes maps a status or a body check to a label: "
                              "{409: seat_taken, sold_out: {text: Sold out}}.",
                              value.value_loc("outcomes"))  # fmt: skip
            return (), ()
        statuses: list[tuple[int, str]] = []
        labels: list[tuple[str, BodyCheck]] = []
        for key, item in raw.items():
            if isinstance(item, YamlMap) and is_var_name(key):
                self.problems.check_keys(item, _BODY_KEYS, what=f"outcome '{key}'")
                check = self._body_check(item)
                if check is None:
                    self.problems.add(f"outcome '{key}' needs one of {', '.join(_BODY_KEYS)}.",
                                      raw.value_loc(key))  # fmt: skip
                else:
                    labels.append((str(key), check))
                continue
            try:
                (status,) = parse_statuses(int(key) if str(key).isdigit() else key)
            except ValueError:
                self.problems.add(f"outcome keys are status codes or labels with a body check "
                                  f"({{sold_out: {{text: Sold out}}}}), got {key!r}.",
                                  raw.key_loc(key))  # fmt: skip
                continue
            if not is_var_name(item):
                self.problems.add(f"an outcome label is a word like seat_taken, got {item!r}.",
                                  raw.value_loc(key))  # fmt: skip
            statuses.append((status, str(item)))
        return tuple(statuses), tuple(labels)

    def _body_check(self, item: YamlMap) -> BodyCheck | None:
        """One body check of an outcome label: the first of text / not_text / regex / json."""
        if "text" in item or "not_text" in item:
            key = "text" if "text" in item else "not_text"
            texts = self._texts(item, key)
            return BodyCheck(text=texts[0], negate=key == "not_text") if texts else None
        if "regex" in item:
            rx = self.values.regex(item["regex"], item.value_loc("regex"))
            return BodyCheck(regex=rx) if rx is not None else None
        if "json" in item:
            checks = self._json_checks(item, "json")
            return BodyCheck(json=checks) if checks else None
        return None

    def _body_checks(self, value: YamlMap) -> tuple[BodyCheck, ...]:
        """``text`` (must contain, one or a list), ``not_text`` (must not), ``regex``."""
        checks = [BodyCheck(text=t) for t in self._texts(value, "text")]
        checks += [BodyCheck(text=t, negate=True) for t in self._texts(value, "not_text")]
        if "regex" in value:
            raw = value["regex"]
            items = list(raw) if isinstance(raw, YamlList) else [raw]
            for item in items:
                rx = self.values.regex(item, value.value_loc("regex"))
                if rx is not None:
                    checks.append(BodyCheck(regex=rx))
        return tuple(checks)

    def _texts(self, value: YamlMap, key: str) -> list[str]:
        if key not in value:
            return []
        raw = value[key]
        items = list(raw) if isinstance(raw, YamlList) else [raw]
        if not items or not all(isinstance(t, str) and t for t in items):
            self.problems.add(f"expect.{key} is a text or a list of texts, got {raw!r}.",
                              value.value_loc(key))  # fmt: skip
            return []
        return [str(t) for t in items]

    def _json_checks(self, value: YamlMap, key: str) -> tuple[JsonCheck, ...]:
        raw = value.get(key)
        if raw is None:
            return ()
        if isinstance(raw, YamlList):
            return tuple(c for i, item in enumerate(raw)
                         if (c := self._json_line(item, raw.item_loc(i))) is not None)  # fmt: skip
        if not isinstance(raw, YamlMap):
            self.problems.add("expect.json maps a JSONPath to a value ({$.ok: true}) or lists "
                              "comparisons ([\"$.ok == true\", \"$.count > 0\"]).",
                              value.value_loc(key))  # fmt: skip
            return ()
        checks = []
        for path, want in raw.items():
            jp = self.values.jsonpath(path, raw.key_loc(path))
            if jp is not None:
                checks.append(JsonCheck(jp, want))
        return tuple(checks)

    def _json_line(self, item: Any, loc: Location) -> JsonCheck | None:
        """``"$.path OP value"`` (value: JSON, else text) as a check."""
        m = _JSON_LINE_RE.match(item) if isinstance(item, str) else None
        if m is None:
            self.problems.add(f"a JSON comparison is '$.path OP value' with OP one of "
                              f"== != < <= > >=, e.g. \"$.success == true\"; got {item!r}.",
                              loc)  # fmt: skip
            return None
        jp = self.values.jsonpath(m.group(1), loc)
        try:
            want = json.loads(m.group(3))
        except ValueError:
            want = m.group(3).strip("\"'")
        return JsonCheck(jp, want, m.group(2)) if jp is not None else None

    # ------------------------------------------------------------------ capture

    def captures(self, value: Any, loc: Location) -> tuple[Capture, ...]:
        if value is None:
            return ()
        if not isinstance(value, YamlMap):
            self.problems.add("capture maps a variable to where it comes from: {id: $.id}.", loc)
            return ()
        out = []
        for var, spec in value.items():
            if not is_var_name(var):
                self.problems.add(f"{var!r} is not a variable name.", value.key_loc(var))
                continue
            cap = self._capture(var, spec, value.value_loc(var))
            if cap is not None:
                out.append(cap)
        return tuple(out)

    def _capture(self, var: str, spec: Any, loc: Location) -> Capture | None:
        if isinstance(spec, str):
            jp = self.values.jsonpath(spec, loc)
            return Capture(var, CaptureSource.JSON, spec, loc, jsonpath=jp) if jp else None
        sources = [str(s) for s in CaptureSource]
        if not isinstance(spec, YamlMap):
            self.problems.add(
                f"capture '{var}': use a JSONPath or {{{'|'.join(sources)}: ...}}.", loc
            )
            return None
        self.problems.check_keys(spec, [*sources, *_CAPTURE_EXTRA], what=f"capture '{var}'")
        present = [s for s in sources if s in spec]
        if len(present) != 1:
            self.problems.add(f"capture '{var}' needs exactly one of {', '.join(sources)}.", loc)
            return None
        source = CaptureSource(present[0])
        pattern, ploc = spec[source], spec.value_loc(source)
        if source is CaptureSource.CSRF and pattern is True:
            pattern = ""  # any csrf-looking hidden input, else <meta name="csrf-token">
        if not isinstance(pattern, str):
            self.problems.add(f"capture '{var}': {source} must be text.", ploc)
            return None
        jp = self.values.jsonpath(pattern, ploc) if source is CaptureSource.JSON else None
        rx = self.values.regex(pattern, ploc) if source is CaptureSource.REGEX else None
        default = None
        if "default" in spec:
            default = self.values.template(spec["default"], spec.value_loc("default"), "default")
        return Capture(var, source, pattern, loc, jsonpath=jp, regex=rx, default=default,
                       from_var=self._from(var, spec, source),
                       secret=self._secret(var, spec, source))  # fmt: skip

    def _from(self, var: str, spec: YamlMap, source: CaptureSource) -> Any:
        if "from" not in spec:
            return None
        name, floc = spec["from"], spec.value_loc("from")
        if source not in (CaptureSource.JSON, CaptureSource.REGEX):
            self.problems.add(f"capture '{var}': 'from' works with json or regex, not {source}.",
                              floc)  # fmt: skip
            return None
        if not is_var_name(name):
            self.problems.add(f"capture '{var}': 'from' names a variable, got {name!r}.", floc)
            return None
        return self.values.template("{{ " + str(name) + " }}", floc, "from")

    def _secret(self, var: str, spec: YamlMap, source: CaptureSource) -> bool:
        credential = source is CaptureSource.HEADER and str(spec[source]).lower() in _CREDENTIALS
        default = source in (CaptureSource.CSRF, CaptureSource.COOKIE) or credential
        value = spec.get("secret", default)
        if not isinstance(value, bool):
            self.problems.add(f"capture '{var}': secret is true or false, got {value!r}.",
                              spec.value_loc("secret"))  # fmt: skip
            return False
        return value


__all__ = ["EXPECT_KEYS", "CheckParser", "is_var_name"]
