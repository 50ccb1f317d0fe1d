"""Find where a value a request sent came from: an earlier answer's hidden input, JSON field
or header. That is how a CSRF token, a hold id or an access token is recognised in a
recording and turned into a capture instead of a copied constant.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from loadkit.har.model import HarEntry

TOKENISH = re.compile(r"^[A-Za-z0-9_\-+/=.:~]{16,}$")
INPUT_TAG = re.compile(r"<input\b[^>]*>", re.I)
ATTR = re.compile(r"""\b(name|value)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UNCAPTURED_HEADERS = {"set-cookie", "date", "etag", "last-modified", "content-length"}
MAX_DEPTH = 12


def looks_like_token(value: str) -> bool:
    """Random-looking: 16+ URL-safe characters mixing letters and digits (not a word, a
    zone name or a quantity, which are the form's own constants)."""
    return (
        bool(TOKENISH.match(value))
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def first_inputs(page: str) -> dict[str, str]:
    """Each ``<input>`` name's value on the page, the first of a name only (the one a
    ``form_field`` capture finds)."""
    found: dict[str, str] = {}
    for tag in INPUT_TAG.findall(page):
        attrs: dict[str, str] = {}
        for m in ATTR.finditer(tag):
            attrs.setdefault(m.group(1).lower(), next(g for g in m.groups()[1:] if g is not None))
        if "name" in attrs:
            found.setdefault(html.unescape(attrs["name"]), html.unescape(attrs.get("value", "")))
    return found


def json_path_to(data: Any, value: str, path: str = "$", depth: int = 0) -> str | None:
    """A JSONPath (names and indexes) to the first string equal to ``value``, or None."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(data, str):
        return path if data == value else None
    if isinstance(data, dict):
        for key, item in data.items():
            step = f".{key}" if NAME_PART.match(str(key)) else f"[{json.dumps(str(key))}]"
            found = json_path_to(item, value, path + step, depth + 1)
            if found:
                return found
    if isinstance(data, list):
        for i, item in enumerate(data[:1000]):
            found = json_path_to(item, value, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def _in_entry(e: HarEntry, value: str) -> tuple[dict[str, Any], str] | None:
    if value not in e.content and not any(v == value for _, v in e.response_headers):
        return None
    if "html" in e.mime:
        for name, found in first_inputs(e.content).items():
            if found == value:
                return {"form_field": name}, name
    if "json" in e.mime:
        try:
            path = json_path_to(json.loads(e.content), value)
        except ValueError:
            path = None
        if path:
            parts = [p for p in re.split(r"[.\[\]\"'$]+", path) if p and not p.isdigit()]
            return {"json": path}, parts[-1] if parts else "value"
    for name, found in e.response_headers:
        if found == value and name not in UNCAPTURED_HEADERS:
            return {"header": name}, name
    return None


def find_source(earlier: list[HarEntry], value: str) -> tuple[int, dict[str, Any], str] | None:
    """The latest earlier entry that served ``value``: ``(index, capture spec, name hint)``."""
    for at in range(len(earlier) - 1, -1, -1):
        found = _in_entry(earlier[at], value)
        if found is not None:
            return at, found[0], found[1]
    return None
