"""``python -m loadkit.demo``: command line, database set-up, uvicorn workers.

The parent binds the listening socket (so ``--port 0`` picks one free port for every worker),
prepares the database, prints ``loadkit-demo listening on http://HOST:PORT`` and then either
serves itself (``--workers 1``) or forks N uvicorn workers that share the socket and the SQLite
file, restarts any that die, and stops them all on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import uvicorn

from loadkit.demo import db
from loadkit.demo.app import ShopApp
from loadkit.demo.config import (
    ConfigError,
    QueueingMethod,
    ShopConfig,
    config_from_json,
    faults_from_json,
    merge_config,
    merge_faults,
)
from loadkit.demo.limits import LimitedHttpProtocol

READY_PREFIX = "loadkit-demo listening on "
STOP_TIMEOUT_S = 5.0

# flag -> (config key, type, help)
CONFIG_FLAGS: dict[str, tuple[str, type, str]] = {
    "--admission-rate": ("admission_rate_per_min", float, "new users admitted per minute"),
    "--active-cap": ("active_cap", int, "most admitted users with a live session (0 = no cap)"),
    "--refresh-interval": ("refresh_interval_s", float, "queue poll interval, s (fractional ok)"),
    "--queue-silence": (
        "queue_silence_s",
        float,
        "a queued visitor silent this long loses the place, s",
    ),
    "--token-ttl": ("token_ttl_s", float, "admission token lifetime, s"),
    "--token-redeem": ("token_redeem_s", float, "time to fetch the token once admitted, s"),
    "--hold-ttl": ("hold_ttl_s", float, "seat hold lifetime, s"),
    "--hold-grace": ("hold_release_grace_s", float, "invariant tolerance for releasing holds, s"),
    "--sweeper-period": ("sweeper_period_s", float, "sweeper period, s"),
    "--queueing": ("queueing_method", str, "fifo or prequeue_shuffle"),
    "--onsale-in": ("onsale_in_s", float, "t0 this many seconds after start (default: open now)"),
    "--seats-cache": ("seats_cache_s", float, "seat map cache per process, s"),
    "--ga-capacity": ("ga_capacity", int, "general-admission tickets on sale"),
}
FAULT_FLAGS: dict[str, tuple[str, str]] = {
    "--payment-latency-ms": ("latency_ms", "median payment provider latency, ms"),
    "--payment-decline-rate": ("decline_rate", "share of payments declined, 0-1"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadkit.demo",
        description="The loadkit demo ticket shop: waiting room, seats, holds, payments.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the DB")
    p.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    p.add_argument("--admin-key", default=None, help="key for /admin/* (default: random)")
    p.add_argument("--fresh", action="store_true", help="wipe the state in an existing --db")
    p.add_argument("--log-level", default="warning")
    p.add_argument(
        "--storefront",
        choices=["json", "html"],
        default="json",
        help="html: also serve the on-sale as server-rendered pages (forms, CSRF, 302s)",
    )
    for flag, (_, kind, text) in CONFIG_FLAGS.items():
        choices = [m.value for m in QueueingMethod] if flag == "--queueing" else None
        p.add_argument(flag, type=kind, default=None, help=text, choices=choices)
    for flag, (_, text) in FAULT_FLAGS.items():
        p.add_argument(flag, type=float, default=None, help=text)
    p.add_argument("--config-json", default=None, help="config keys as a JSON object")
    p.add_argument("--faults-json", default=None, help="faults as a JSON object (see docs)")
    return p


def _json_arg(text: str | None, flag: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError([(flag, f"not valid JSON: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError([(flag, "must be a JSON object")])
    return data


def _patches(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    config = _json_arg(args.config_json, "--config-json")
    for flag, (key, _, _) in CONFIG_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            config[key] = value
    faults = _json_arg(args.faults_json, "--faults-json")
    for flag, (key, _) in FAULT_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            faults.setdefault("payment", {})[key] = value
    return config, faults


def prepare_db(
    path: str, config_patch: dict[str, Any], faults_patch: dict[str, Any], fresh: bool
) -> None:
    """Create or open the database and apply the command-line settings; raises ConfigError.

    A new database starts from the defaults; an existing one keeps its stored settings, and
    only the settings given on the command line override them.
    """
    now = time.time()
    db.initialise(path, now, fresh)
    conn = db.connect(path)
    try:
        with db.write_tx(conn):
            config = config_from_json(db.get_setting(conn, "config") or ShopConfig().to_json())
            faults = faults_from_json(db.get_setting(conn, "faults") or {})
            config = merge_config(config, config_patch, now)
            faults = merge_faults(faults, faults_patch)
            db.put_setting(conn, "config", config.to_json())
            db.put_setting(conn, "faults", faults.to_json())
            db.bump_version(conn)
    finally:
        conn.close()


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    sock: socket.socket, db_path: str, admin_key: str, log_level: str, storefront: str = "json"
) -> None:
    """Run one uvicorn server (httptools + uvloop, head limits of ``loadkit.demo.limits``) on
    ``sock`` until SIGTERM/SIGINT."""
    config = uvicorn.Config(
        ShopApp(db_path, admin_key, storefront),
        loop="uvloop",
        http=LimitedHttpProtocol,  # httptools, with limits on the request head (431/414)
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=2,
        backlog=2048,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _fork_worker(
    sock: socket.socket, db_path: str, admin_key: str, log_level: str, storefront: str
) -> int:
    pid = os.fork()
    if pid == 0:  # child: serve, then leave without running the parent's cleanup
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            serve(sock, db_path, admin_key, log_level, storefront)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


def supervise(
    sock: socket.socket,
    workers: int,
    db_path: str,
    admin_key: str,
    log_level: str,
    storefront: str = "json",
) -> None:
    """Fork ``workers`` servers; restart any that die; on SIGTERM/SIGINT stop them all."""
    stopping: list[int] = []

    def _stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    children = {
        _fork_worker(sock, db_path, admin_key, log_level, storefront) for _ in range(workers)
    }
    while not stopping:
        time.sleep(0.2)
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done and not stopping:
                print(f"loadkit-demo: worker {pid} died; restarting", file=sys.stderr, flush=True)
                children.discard(pid)
                children.add(_fork_worker(sock, db_path, admin_key, log_level, storefront))
    for pid in children:
        with _suppress_missing():
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while children and time.monotonic() < deadline:
        for pid in list(children):
            if os.waitpid(pid, os.WNOHANG)[0]:
                children.discard(pid)
        time.sleep(0.05)
    for pid in children:
        with _suppress_missing():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, ChildProcessError | ProcessLookupError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shop until SIGTERM/SIGINT; returns an exit status (2 = bad arguments)."""
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    tmpdir = None
    db_path = args.db
    if db_path is None:
        tmpdir = tempfile.mkdtemp(prefix="loadkit-demo-")
        db_path = os.path.join(tmpdir, "shop.sqlite3")
    admin_key = args.admin_key or secrets.token_urlsafe(16)
    try:
        prepare_db(db_path, *_patches(args), fresh=args.fresh)
        sock = bind(args.host, args.port)
        port = sock.getsockname()[1]
        if not args.admin_key:
            print(f"loadkit-demo admin key: {admin_key}", file=sys.stderr, flush=True)
        print(f"{READY_PREFIX}http://{args.host}:{port}", flush=True)
        if args.workers == 1:
            serve(sock, db_path, admin_key, args.log_level, args.storefront)
        else:
            supervise(sock, args.workers, db_path, admin_key, args.log_level, args.storefront)
    except ConfigError as exc:
        for where, message in exc.problems:
            print(f"loadkit-demo: {where}: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"loadkit-demo: {exc}", file=sys.stderr)
        return 2
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return 0
