"""The import rules of DESIGN.md §4 and §2.6, checked on the source (no imports executed)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import loadkit

ROOT = Path(loadkit.__file__).parent
GEVENT_WORLD = {"gevent", "locust", "geventhttpclient", "zmq", "greenlet"}

# What each part may import from loadkit (besides itself). Order follows DESIGN.md §4:
# errors/units ← profiles, results ← gates ← scenario ← runner | analysis ← report ← cli.
# results may use profiles' Phase (the one phase type); gates is the one gate engine.
FOUNDATION = {"errors", "units", "sources", "settings", "hosts"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "units": set(),
    "sources": {"errors"},
    "settings": {"errors"},
    "hosts": {"errors"},
    "profiles": FOUNDATION,
    "results": FOUNDATION | {"profiles"},
    "gates": FOUNDATION | {"profiles", "results"},
    "scenario": FOUNDATION | {"profiles", "results", "gates"},
    "runner": FOUNDATION | {"profiles", "results", "gates", "scenario"},
    "analysis": FOUNDATION | {"profiles", "results", "gates", "scenario"},
    "report": FOUNDATION | {"profiles", "results", "gates", "scenario", "analysis"},
    "capacity": FOUNDATION | {"profiles", "results", "gates", "scenario", "analysis", "report"},
    "demo": set(),
    "har": FOUNDATION | {"scenario"},
}


def _part(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layering(path: Path) -> None:
    part = _part(path)
    imports = _imports(path)
    if part != "runner":
        leaked = {n for n in imports if n.split(".")[0] in GEVENT_WORLD}
        assert not leaked, (
            f"{path.name} imports {leaked}: only loadkit.runner may use gevent/locust"
        )
    if part not in ALLOWED:  # cli, rehearsal, __init__: the top, may import anything
        return
    used = {n.split(".")[1] for n in imports if n.startswith("loadkit.") and n.count(".") >= 1}
    used.discard(part)
    forbidden = used - ALLOWED[part]
    assert not forbidden, f"loadkit.{part} ({path.name}) must not import loadkit.{forbidden}"
    if part == "demo":
        assert "loadkit" not in imports


def test_cli_analysis_and_results_never_load_gevent() -> None:
    code = (
        "import sys, loadkit.cli, loadkit.results, loadkit.gates, loadkit.analysis, loadkit.report, "
        "loadkit.scenario, loadkit.profiles, loadkit.runner.spec, loadkit.capacity.output, "
        "loadkit.capacity.figures, loadkit.capacity_rehearsal\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(GEVENT_WORLD)!r})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"gevent world leaked into the CLI process: {out.stdout}"


def test_public_surface_is_pinned() -> None:
    assert loadkit.__all__ == ["ExitCode", "LoadkitError", "__version__"]
