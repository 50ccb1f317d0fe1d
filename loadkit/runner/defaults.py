"""The one place every run default is written (no gevent: the CLI imports it in-process).

The CLI resolves each setting once (flag > ``LOADKIT_*`` environment > scenario file > these
defaults, ``loadkit.runner.run_settings``) and hands the resolved values to every process
(local runner, master, workers, ``try``) in a typed spec. Models that need a default for a value
the CLI always sets (``RunSpec``, ``EngineOptions``, the journey compiler) take it from here, so
changing a default is one edit.
"""

from __future__ import annotations

DEFAULT_SEED = 1
DEFAULT_SHARDS = 64  # arrival k belongs to shard k mod S; S stays above any worker count
DEFAULT_MAX_IN_FLIGHT = 10_000  # visitors in flight per worker before arrivals are dropped
DEFAULT_REQUEST_TIMEOUT_S = 10.0  # per request (each hop has its own)
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_DRAIN_S = 60.0  # after the profile's end, in-flight journeys get this long, then cut
DEFAULT_FLUSH_INTERVAL_S = 1.0  # a crash loses at most this much of the records
DEFAULT_PROGRESS_INTERVAL_S = 5.0
DEFAULT_START_DELAY_S = 1.0  # t0 = now + this, when the caller chose none
DEFAULT_WORKERS = 1
# The stop guarantee: after Ctrl-C/SIGTERM the runner has this long to stop load, flush and
# write its manifest; then its watchdog (an OS thread, outside the gevent loop) forces the end.
STOP_GRACE_S = 2.5
# ...and the CLI, which waits for the runner, kills it this long after the stop if it is still
# there (its own watchdog could not run: a C call holding the GIL), then marks the manifest.
STOP_KILL_S = 4.5
# A run never hangs, stop or no stop: when its gevent loop is stalled this long after the
# planned end (t0 + profile + drain), the runner's watchdog ends it by force (exit 3)...
OVERRUN_GRACE_S = 5.0
# ...and the CLI kills it this long after the planned end if it also stopped sending its
# heartbeat (its watchdog could not run: a C call holding the GIL), then marks the manifest.
OVERRUN_KILL_S = 15.0

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_DRAIN_S",
    "DEFAULT_FLUSH_INTERVAL_S",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_PROGRESS_INTERVAL_S",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DEFAULT_SEED",
    "DEFAULT_SHARDS",
    "DEFAULT_START_DELAY_S",
    "DEFAULT_WORKERS",
    "OVERRUN_GRACE_S",
    "OVERRUN_KILL_S",
    "STOP_GRACE_S",
    "STOP_KILL_S",
]
