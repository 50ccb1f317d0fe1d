"""The loadkit demo ticket shop: a waiting room, seats, holds, payments, faults and an audit log.

A separate process (``python -m loadkit.demo``) that imports nothing from the rest of loadkit.
``ShopProcess`` starts one for the CLI and the tests; ``main`` is the command line itself.
See docs/demo-shop.md for the API, configuration, faults, seeded bugs and invariants.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadkit.demo.config import EVENT_ID
from loadkit.demo.process import ShopProcess, ShopStartError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shop in this process until SIGTERM/SIGINT; returns the exit status."""
    from loadkit.demo.server import main as server_main  # uvicorn only when serving

    return server_main(argv)


__all__ = ["EVENT_ID", "ShopProcess", "ShopStartError", "main"]
