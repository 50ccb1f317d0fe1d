"""A small YAML writer for generated scenarios: block style where it reads better, flow style
for short mappings, strings quoted only when YAML would misread them (JSON string syntax is
valid YAML, so ``json.dumps`` does the quoting). A mapping's ``COMMENT`` key (a list of lines)
is written as ``#`` comment lines above it."""

from __future__ import annotations

import json
import re
from typing import Any

PLAIN = re.compile(r"^[A-Za-z_/][\w./ -]*$")
YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
WIDTH = 96
COMMENT = "#"  # a key no scenario uses: its value (lines of text) becomes comment lines
# characters YAML does not allow unescaped (json.dumps already escapes C0 controls)
UNPRINTABLE = re.compile("[\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
# on a comment line, also C0 controls and what YAML reads as a line break (U+2028, U+2029)
COMMENT_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if PLAIN.match(text) and text.lower() not in YAML_WORDS and not text.endswith(" "):
        return text
    return UNPRINTABLE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False)
    )


def comment(text: str) -> str:
    """``text`` safe on one ``#`` comment line: characters YAML reads as a line break or does
    not allow (a crafted URL's U+2028, a control character) escaped."""
    return COMMENT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _fits(value: Any, indent: int, key: str) -> bool:
    if isinstance(value, dict) and "steps" in value:
        return False
    return indent + len(key) + 2 + len(flow(value)) <= WIDTH


def block(value: Any, indent: int) -> list[str]:
    """Lines for a mapping or list at ``indent`` spaces."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and COMMENT in item:
                lines += [f"{pad}# {comment(line)}" for line in item[COMMENT]]
                item = {k: v for k, v in item.items() if k != COMMENT}
            if isinstance(item, dict) and item:
                inner = block(item, indent + 2)
                lines.append(pad + "- " + inner[0].lstrip())
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {flow(item)}")
        return lines
    for key, item in value.items():
        if key == COMMENT:
            lines += [f"{pad}# {comment(line)}" for line in item]
            continue
        name = scalar(key)
        if isinstance(item, dict | list) and item and not _fits(item, indent, name):
            lines.append(f"{pad}{name}:")
            lines.extend(block(item, indent + 2))
        else:
            lines.append(f"{pad}{name}: {flow(item)}")
    return lines
