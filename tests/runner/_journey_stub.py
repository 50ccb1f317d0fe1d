"""Kept for tests/runner/distributed/_proc.py, which calls ``install()``.

``loadkit.runner.journey`` exists now, so ``install`` only makes sure it is importable; remove
this module once nothing imports it.
"""

from __future__ import annotations


def install() -> None:
    import importlib

    importlib.import_module("loadkit.runner.journey")
