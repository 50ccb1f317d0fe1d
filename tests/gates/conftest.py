"""Fixtures shared by the gate tests: synthetic runs analyzed with threshold texts."""

from tests.analysis.conftest import check, make_run

__all__ = ["check", "make_run"]
