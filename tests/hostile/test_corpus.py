"""The checked-in hostile corpus: every file is refused with exit 2 and a clear message.

Each file in ``corpus/`` starts with ``# expect: TEXT``; ``loadkit validate`` must exit 2
with an ``error:`` message containing TEXT, no traceback and no internal type names,
within the CPU and memory limits of ``harness.run_loadkit``. Scenario files (``scenario-*``,
``expr-*``) are validated as scenarios, ``profile-*`` as a profile next to a tiny scenario,
``thresholds-*`` as a thresholds file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hostile.harness import assert_refused, run_loadkit, write_ok_scenario

CORPUS = Path(__file__).parent / "corpus"


def _args(name: str, folder: Path) -> list[str]:
    if name.startswith("profile-"):
        return ["validate", write_ok_scenario(folder).name, "-p", name]
    if name.startswith("thresholds-"):
        return ["validate", write_ok_scenario(folder).name, "-t", name]
    return ["validate", name]


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_corpus_file_is_refused_clearly(path: Path, tmp_path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    shutil.copy(path, tmp_path / path.name)
    outcome = run_loadkit(_args(path.name, tmp_path), tmp_path)
    assert_refused(outcome, path.name, expected)
