"""The load generator: the only package that imports gevent and locust.

Importing ``loadkit.runner`` itself does NOT import gevent: the CLI imports ``RunSpec`` from here
and spawns ``python -m loadkit.runner RUN_DIR`` (which monkey-patches first) to run the load.
The engine's modules (``core``, ``visitor``, ``session``, ...) import gevent and are meant to be
used only in that patched process.
"""

from loadkit.runner.spec import SPEC_NAME, SPEC_VERSION, RunMode, RunSpec, check_target

__all__ = ["SPEC_NAME", "SPEC_VERSION", "RunMode", "RunSpec", "check_target"]
