"""``ShopProcess``: start the demo shop as a child process, wait until it answers, stop it.

Used by ``loadkit demo`` / ``loadkit demo-shop`` and by the tests. Stdlib only.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

READY_PREFIX = "loadkit-demo listening on "


class ShopStartError(RuntimeError):
    """The shop did not come up; the message carries the child's stderr."""


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)
        del into[:-200]  # keep the tail only


def _command(
    host: str,
    port: int,
    workers: int,
    db: str,
    admin_key: str,
    config: dict[str, Any],
    faults: dict[str, Any] | None,
    fresh: bool,
    storefront: str = "json",
) -> list[str]:
    # "--flag=value": a value starting with "-" (a random key can) is not taken for a flag
    cmd = [
        sys.executable,
        "-m",
        "loadkit.demo",
        f"--host={host}",
        f"--port={port}",
        f"--workers={workers}",
        f"--db={db}",
        f"--admin-key={admin_key}",
    ]
    if config:
        cmd.append("--config-json=" + json.dumps(config))
    if faults:
        cmd.append("--faults-json=" + json.dumps(faults))
    if fresh:
        cmd.append("--fresh")
    if storefront != "json":
        cmd.append(f"--storefront={storefront}")
    return cmd


class ShopProcess:
    """A running demo shop. Attributes: ``url``, ``admin_key``, ``pid``, ``db_path``, ``port``.

    Use ``ShopProcess.start(...)``; stop with ``.stop()`` or a ``with`` block.
    """

    def __init__(
        self,
        proc: subprocess.Popen[str],
        url: str,
        admin_key: str,
        db_path: Path,
        tmpdir: str | None,
        stderr_tail: list[str],
    ) -> None:
        self._proc = proc
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.admin_key = admin_key
        self.pid = proc.pid
        self.db_path = db_path
        self._tmpdir = tmpdir
        self._stderr_tail = stderr_tail
        self._readers: list[threading.Thread] = []

    @classmethod
    def start(
        cls,
        port: int = 0,
        workers: int = 1,
        db: str | os.PathLike[str] | None = None,
        admin_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        faults: dict[str, Any] | None = None,
        fresh: bool = False,
        storefront: str = "json",
        timeout_s: float = 20.0,
        **config: Any,
    ) -> ShopProcess:
        """Start ``python -m loadkit.demo`` with the same Python and wait until it answers.

        ``config``: ShopConfig keys (e.g. ``refresh_interval_s=0.2``, ``onsale_in_s=1``);
        ``faults``: a faults object as accepted by ``PUT /admin/faults``. ``db=None`` uses a
        temporary directory removed by ``stop()``. ``storefront="html"`` also serves the
        server-rendered storefront (docs/demo-shop.md). Raises ShopStartError (with the child's
        stderr) if the child exits or does not answer ``/healthz`` within ``timeout_s``.
        """
        tmpdir = None
        if db is None:
            tmpdir = tempfile.mkdtemp(prefix="loadkit-shop-")
            db = Path(tmpdir) / "shop.sqlite3"
        admin_key = admin_key or secrets.token_urlsafe(16)
        cmd = _command(host, port, workers, str(db), admin_key, config, faults, fresh, storefront)
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        tail: list[str] = []
        assert proc.stderr is not None and proc.stdout is not None
        readers = [threading.Thread(target=_drain, args=(proc.stderr, tail), daemon=True)]
        readers[0].start()
        try:
            url = cls._await_ready(proc, tail, timeout_s)
        except BaseException:
            cls._kill(proc)
            cls._close(proc, readers)
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        readers.append(threading.Thread(target=_drain, args=(proc.stdout, []), daemon=True))
        readers[1].start()
        shop = cls(proc, url, admin_key, Path(db), tmpdir, tail)
        shop._readers = readers
        return shop

    @staticmethod
    def _await_ready(proc: subprocess.Popen[str], tail: list[str], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        line = proc.stdout.readline() if ready else ""  # "" = EOF (child died) or timeout
        if not line.startswith(READY_PREFIX):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            time.sleep(0.05)
            raise ShopStartError(
                f"demo shop exited (status {proc.returncode}) before it was ready:\n"
                + "".join(tail)
            )
        url = line[len(READY_PREFIX) :].strip()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                time.sleep(0.05)
                raise ShopStartError(
                    f"demo shop exited (status {proc.returncode}):\n" + "".join(tail)
                )
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1.0) as resp:
                    if resp.status == 200:
                        return url
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise ShopStartError(
            f"demo shop at {url} did not answer /healthz within {timeout_s:g} s:\n" + "".join(tail)
        )

    @property
    def stderr_tail(self) -> str:
        """The last lines the shop wrote to stderr (for error messages)."""
        return "".join(self._stderr_tail)

    def running(self) -> bool:
        return self._proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit status. Idempotent."""
        code = self._kill(self._proc, timeout_s)
        self._close(self._proc, self._readers)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        return code

    @staticmethod
    def _close(proc: subprocess.Popen[str], readers: list[threading.Thread]) -> None:
        """Let the readers reach EOF (the shop has exited), then close the pipes."""
        for reader in readers:
            reader.join(timeout=1.0)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    @staticmethod
    def _kill(proc: subprocess.Popen[str], timeout_s: float = 5.0) -> int | None:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                # the shop's own workers are in its session; kill them too, by process group
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        return proc.returncode

    def __enter__(self) -> ShopProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
