"""Distributed replay on Locust's master/worker mode (docs/distributed.md).

Process entry points (gevent-patched, started by the CLI or by hand)::

    python -m loadkit.runner.distributed master RUN_DIR
    python -m loadkit.runner.distributed worker --master HOST[:PORT] [--worker-dir DIR] ...

Importing this package does not import gevent or locust: the protocol, clock and option
models are pure. ``master``/``worker`` modules are imported by the entry point only.
"""

from loadkit.runner.distributed.clock import (
    ClockOffset,
    ClockSample,
    assign_shards,
    estimate_offset,
)
from loadkit.runner.distributed.messages import PROTOCOL_VERSION, MessageType, ProtocolError
from loadkit.runner.distributed.options import (
    DEFAULT_PORT,
    MasterOptions,
    WorkerOptions,
    parse_address,
)

__all__ = [
    "DEFAULT_PORT",
    "PROTOCOL_VERSION",
    "ClockOffset",
    "ClockSample",
    "MasterOptions",
    "MessageType",
    "ProtocolError",
    "WorkerOptions",
    "assign_shards",
    "estimate_offset",
    "parse_address",
]
