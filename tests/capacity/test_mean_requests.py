"""The per-arrival request and think figures ``plan`` and ``capacity`` size workers from."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.capacity.workers import mean_requests
from loadkit.scenario import load_scenario
from loadkit.scenario.summary import mean_think_s

SCENARIO = """\
name: t
personas:
  p:
    steps:
      - request: GET /a
      - think: 2s
      - choice:
          - {weight: 3, steps: [{request: GET /b}, {request: GET /c}, {think: 4s}]}
          - {weight: 1, steps: []}
      - if: "true"
        then: [{request: GET /d}]
        else: [{request: GET /e}, {request: GET /f}]
      - repeat: {times: 5, steps: [{request: GET /g}]}
"""


def test_branches_are_weighted_if_takes_the_larger_and_a_loop_body_counts_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    steps = load_scenario(path).personas[0].steps
    # 1 + (3 x 2 + 1 x 0) / 4 + max(1, 2) + 1
    assert mean_requests(steps) == pytest.approx(1 + 1.5 + 2 + 1)
    assert mean_think_s(steps) == pytest.approx(2 + 3 * 4 / 4)
