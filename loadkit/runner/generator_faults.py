"""The load generator's own limits: open files at start, and requests its resources failed.

A request that fails because *this process* ran out of something (file descriptors, ephemeral
ports, socket buffers, memory) says nothing about the target. ``generator_fault`` names such a
failure with a text starting ``GENERATOR_FAULT_PREFIX`` (the analyzer counts those rows as
generator faults and calls the run invalid); ``raise_open_files_limit`` lifts the soft
``RLIMIT_NOFILE`` to the hard limit at start, as Locust does, so a laptop's default 1,024 does
not cap a crowd the machine could carry.
"""

from __future__ import annotations

import contextlib
import errno
import os

from loadkit.results.schema import GENERATOR_FAULT_PREFIX

try:  # POSIX only; elsewhere the limit is left as it is and reported unknown
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

# Lifting the soft limit further buys nothing (a run holds far fewer sockets) and some
# systems report an "unlimited" hard limit that setrlimit refuses.
OPEN_FILES_CAP = 1_048_576

# errno -> (what ran out, how to fix it)
_FAULTS: dict[int, tuple[str, str]] = {
    errno.EMFILE: (
        "ran out of file descriptors",
        "raise `ulimit -n` or add workers",
    ),
    errno.ENFILE: (
        "hit the system-wide open-file limit",
        "raise fs.file-max or spread the workers over more machines",
    ),
    errno.EADDRNOTAVAIL: (
        "ran out of local ports (sockets in TIME_WAIT)",
        "widen net.ipv4.ip_local_port_range, enable net.ipv4.tcp_tw_reuse, or add "
        "generator machines / source addresses",
    ),
    errno.ENOBUFS: (
        "ran out of socket buffer space",
        "give the generator machine more memory or add generator machines",
    ),
    errno.ENOMEM: (
        "ran out of memory for a socket",
        "give the generator machine more memory or add generator machines",
    ),
}


def open_files_limit() -> int | None:
    """This process's soft ``RLIMIT_NOFILE`` (None where unknown or unlimited)."""
    if resource is None:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def raise_open_files_limit(cap: int = OPEN_FILES_CAP) -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (at most ``cap``, never lowering it)
    and return the soft limit the process then has (None where unknown).

    A refusal by the OS leaves the limit as it was: the run goes on, and the limit it had is
    what the manifest records.
    """
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = cap if hard == resource.RLIM_INFINITY else min(int(hard), cap)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return open_files_limit()
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return open_files_limit()


# descriptors kept back for the record writer: a crowd that takes every descriptor must not
# cost the records (a parquet segment needs one or two while it is written)
RESERVED_FDS = 8
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE})


class FdReserve:
    """A few descriptors (on /dev/null) held back from the crowd, given up for a retry when a
    write finds none left (``out_of_fds``), then taken back as far as possible."""

    def __init__(self, size: int = RESERVED_FDS) -> None:
        self.size = size
        self._fds: list[int] = []

    def take(self) -> None:
        """Hold up to ``size`` descriptors (fewer when the process has no more to spare)."""
        while len(self._fds) < self.size:
            try:
                self._fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return

    def release(self) -> bool:
        """Give the held descriptors back to the process; False when it held none."""
        held, self._fds = self._fds, []
        for fd in held:
            with contextlib.suppress(OSError):
                os.close(fd)
        return bool(held)

    @staticmethod
    def out_of_fds(exc: BaseException) -> bool:
        """``exc`` says the process (or the system) has no descriptor left."""
        return isinstance(exc, OSError) and exc.errno in _OUT_OF_FDS


# descriptors a run's process uses besides its visitors' connections (interpreter, pyarrow,
# the record writer's reserve, the live page)
OWN_FDS = 64


def hard_open_files_limit(cap: int = OPEN_FILES_CAP) -> int | None:
    """The open-files limit a run on this machine gets (``raise_open_files_limit`` lifts the
    soft limit to the hard one, at most ``cap``); None where unknown."""
    if resource is None:
        return None
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return cap if hard == resource.RLIM_INFINITY else min(int(hard), cap)


def open_files_warning(peak_in_flight: float | None, limit: int | None) -> str | None:
    """A warning when ``peak_in_flight`` visitors (one connection, so one descriptor, each)
    could exceed a process allowed ``limit`` open files; None when they fit or are unknown."""
    if peak_in_flight is None or limit is None or peak_in_flight + OWN_FDS <= limit:
        return None
    workers = -(-int(peak_in_flight + OWN_FDS) // max(1, limit - OWN_FDS))
    return (
        f"warning: about {peak_in_flight:,.0f} visitors in flight at the peak, each holding a "
        f"connection (a file descriptor), but a process here may open {limit:,} files: raise "
        f"the hard limit (`ulimit -Hn`, systemd LimitNOFILE=) or spread the crowd over "
        f"{workers}+ workers (--workers), else requests fail as generator faults (EMFILE) and "
        "the run is invalid"
    )


def generator_fault(exc: BaseException) -> str | None:
    """The error text of a request that failed for want of the generator's own resources, or
    None when ``exc`` (or the error it was raised from) is no such failure.

    Called on the error path only.
    """
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 4:  # a client may wrap the OSError once or twice
        code = getattr(cause, "errno", None) if isinstance(cause, OSError) else None
        if code in _FAULTS:
            return _text(int(code))
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _text(code: int) -> str:
    what, fix = _FAULTS[code]
    name = errno.errorcode.get(code, str(code))
    limit = ""
    if code == errno.EMFILE:
        soft = open_files_limit()
        limit = f", limit {soft:,}" if soft is not None else ""
    return (
        f"{GENERATOR_FAULT_PREFIX} ({name}{limit}): the load generator {what}: {fix}; "
        "not the target's fault"
    )


__all__ = [
    "OPEN_FILES_CAP",
    "RESERVED_FDS",
    "FdReserve",
    "generator_fault",
    "hard_open_files_limit",
    "open_files_limit",
    "open_files_warning",
    "raise_open_files_limit",
]
