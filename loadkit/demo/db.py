"""The shop's SQLite database: schema, connections, short write transactions, seat map.

Every worker process opens its own connection to one file in WAL mode. Writes run inside
``BEGIN IMMEDIATE`` so that two processes never interleave a read-check-write; SQLite's
``busy_timeout`` makes a writer wait for the other instead of failing. Transactions are short
and never span an ``await``: each runs to completion on the event loop thread.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wr_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    credit REAL NOT NULL, credit_at REAL NOT NULL, next_rank INTEGER NOT NULL,
    serving INTEGER NOT NULL, opened INTEGER NOT NULL, admit_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS visitors (
    request_id TEXT PRIMARY KEY, rank INTEGER NOT NULL, joined_at REAL NOT NULL,
    prequeue INTEGER NOT NULL, state TEXT NOT NULL, last_poll_at REAL NOT NULL,
    admitted_at REAL, admit_seq INTEGER, admit_rate REAL, expired_at REAL,
    token_id TEXT, token_issued_at REAL, token_expires_at REAL, token_consumed_at REAL);
CREATE INDEX IF NOT EXISTS visitors_by_state ON visitors (state, rank);
CREATE INDEX IF NOT EXISTS visitors_by_token ON visitors (token_id);
CREATE TABLE IF NOT EXISTS seats (
    seat_id TEXT PRIMARY KEY, zone TEXT NOT NULL, zone_rank INTEGER NOT NULL,
    row INTEGER NOT NULL, num INTEGER NOT NULL, price_cents INTEGER NOT NULL,
    state TEXT NOT NULL, hold_id TEXT);
CREATE INDEX IF NOT EXISTS seats_by_zone ON seats (zone_rank, state, row, num);
CREATE TABLE IF NOT EXISTS holds (
    hold_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, token_id TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL, state TEXT NOT NULL,
    released_at REAL, amount_cents INTEGER NOT NULL, seats TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS holds_by_state ON holds (state, expires_at);
CREATE INDEX IF NOT EXISTS holds_by_visitor ON holds (request_id, state);
CREATE TABLE IF NOT EXISTS hold_seats (hold_id TEXT NOT NULL, seat_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ga_holds (hold_id TEXT PRIMARY KEY, quantity INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS hold_seats_by_hold ON hold_seats (hold_id);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, hold_id TEXT NOT NULL, request_id TEXT NOT NULL,
    token_id TEXT NOT NULL, idem_key TEXT NOT NULL, state TEXT NOT NULL,
    amount_cents INTEGER NOT NULL, created_at REAL NOT NULL, completed_at REAL,
    seats TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_by_hold ON orders (hold_id);
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, idem_key TEXT NOT NULL,
    state TEXT NOT NULL, amount_cents INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, request_id TEXT NOT NULL, hold_id TEXT NOT NULL,
    state TEXT NOT NULL, status INTEGER, body TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL,
    request_id TEXT, token_id TEXT, hold_id TEXT, order_id TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS metrics_proc (pid INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""

STATE_TABLES = (
    "visitors",
    "holds",
    "hold_seats",
    "ga_holds",
    "orders",
    "payments",
    "idempotency",
    "audit",
    "metrics_proc",
)


@dataclass(frozen=True)
class Zone:
    """A price zone: ``rows`` rows of ``seats_per_row`` seats. Zones are ranked best first."""

    name: str
    rank: int
    rows: int
    seats_per_row: int
    price_cents: int

    @property
    def capacity(self) -> int:
        return self.rows * self.seats_per_row


# 2,000 seats in 4 zones (DOMAIN.md §4 default).
ZONES = (
    Zone("A", 1, 10, 20, 18_000),
    Zone("B", 2, 20, 20, 12_000),
    Zone("C", 3, 20, 30, 8_000),
    Zone("D", 4, 20, 40, 5_000),
)


def seat_id(zone: str, row: int, num: int) -> str:
    """Seat ids look like ``B-07-12``: zone, row, seat number (1-based)."""
    return f"{zone}-{row:02d}-{num:02d}"


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN), WAL, NORMAL sync, busy timeout."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


@contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back if the body raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _seed_seats(conn: sqlite3.Connection) -> None:
    rows = [
        (seat_id(z.name, r, n), z.name, z.rank, r, n, z.price_cents, "free", None)
        for z in ZONES
        for r in range(1, z.rows + 1)
        for n in range(1, z.seats_per_row + 1)
    ]
    conn.executemany("INSERT INTO seats VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _reset_wr_state(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("DELETE FROM wr_state")
    conn.execute("INSERT INTO wr_state VALUES (1, 0.0, ?, 1, 0, 0, 0)", (now,))


def initialise(path: str, now: float, fresh: bool) -> bool:
    """Create the schema and seat map if missing (or wipe all state if ``fresh``).

    Returns True if the database was new (or wiped), so the caller writes the initial settings.
    """
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
        with write_tx(conn):
            new = conn.execute("SELECT COUNT(*) FROM seats").fetchone()[0] == 0
            if fresh or new:
                conn.execute("DELETE FROM settings")
                conn.execute("DELETE FROM seats")
                for table in STATE_TABLES:
                    conn.execute(f"DELETE FROM {table}")
                _seed_seats(conn)
                _reset_wr_state(conn, now)
                put_setting(conn, "secret", secrets.token_hex(32))
                put_setting(conn, "started_at", now)
                put_setting(conn, "version", 1)
            return fresh or new
    finally:
        conn.close()


def reset_state(conn: sqlite3.Connection, now: float) -> None:
    """Inside a write transaction: all seats free, queue, holds, orders, audit emptied."""
    for table in STATE_TABLES:
        conn.execute(f"DELETE FROM {table}")
    conn.execute("UPDATE seats SET state = 'free', hold_id = NULL")
    _reset_wr_state(conn, now)
    put_setting(conn, "started_at", now)
    bump_version(conn)


def get_setting(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def put_setting(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )


def bump_version(conn: sqlite3.Connection) -> None:
    """Tell every worker process to reload config and faults."""
    conn.execute("UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")


def settings_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM settings WHERE key = 'version'").fetchone()
    return int(row[0]) if row else 0


def audit(
    conn: sqlite3.Connection,
    now: float,
    kind: str,
    *,
    request_id: str | None = None,
    token_id: str | None = None,
    hold_id: str | None = None,
    order_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry to the audit log (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO audit (ts, kind, request_id, token_id, hold_id, order_id, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now, kind, request_id, token_id, hold_id, order_id, json.dumps(detail or {})),
    )
