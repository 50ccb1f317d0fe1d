"""Whatever a user writes in a profile, loading it raises ``InputError`` or works: no traceback."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from loadkit.errors import InputError
from loadkit.profiles import compile_schedule, load_profile_text

EVERY_KIND = """\
duration: 10m
onsale_at: 5m
scale: {time: 1/10, crowd: 1/100}
segments:
  - {kind: constant, from: 0s, to: 1m, rate: 5/s}
  - {kind: ramp, from: 1m, to: 2m, start_rate: 1/s, end_rate: 10/s}
  - {kind: steps, from: 2m, every: 30s, rates: [5/s, 10/s]}
  - {kind: spike, at: onsale, until: 10m, baseline: 1/s, peak: 50/s, rise: 2s, decay: 20s}
  - {kind: onsale-reference, at: onsale, visitors: 10000, prequeue: 4m, rush: 1m, tail: 4m}
phases:
  - {name: before, from: 0s, to: onsale}
  - {name: after, from: onsale, to: 10m}
"""
DOC = yaml.safe_load(EVERY_KIND)
ODD_VALUES: list[Any] = [
    None,
    -1,
    0,
    "x",
    [],
    {},
    1e30,
    "onsale-99h",
    "nan",
    "inf",
    True,
    "1/0",
    [1, 2],
    {"a": 1},
    "-0s",
    1e-300,
    "onsale+1e9s",
]


def value_paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from value_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from value_paths(value, (*prefix, i))


PATHS = list(value_paths(DOC))


def with_value(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def test_the_unchanged_document_loads() -> None:
    assert load_profile_text(EVERY_KIND).expected_arrivals() > 0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(path=st.sampled_from(PATHS), value=st.sampled_from(ODD_VALUES))
def test_any_odd_value_is_bad_input_or_fine(path: tuple[Any, ...], value: Any) -> None:
    text = yaml.safe_dump(with_value(DOC, path, value))
    try:
        profile = load_profile_text(text)
    except InputError:
        return
    schedule = compile_schedule(profile, 1)
    assert schedule.offsets_ns.size == 0 or schedule.offsets_ns[-1] <= profile.duration_s * 1e9
