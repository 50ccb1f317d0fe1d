"""Per-process shop state: the DB connection, cached settings, metrics, and token checks."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from dataclasses import dataclass

from loadkit.demo import db
from loadkit.demo.config import Bug, Faults, ShopConfig, config_from_json, faults_from_json
from loadkit.demo.metrics import Metrics
from loadkit.demo.tokens import BadToken, verify_token
from loadkit.demo.web import HttpError, Request

BEARER_CHALLENGE = [(b"www-authenticate", b'Bearer realm="loadkit-demo"')]


@dataclass(frozen=True)
class Principal:
    """Who is calling a shop endpoint: the admitted visitor and the token they used."""

    request_id: str
    token_id: str
    consumed: bool


class ShopState:
    """Everything one worker process keeps: its own connection, a settings cache, metrics.

    Settings are reloaded whenever another process bumps the ``version`` setting, so a change
    made through the admin API is visible to the next request on every worker.
    """

    def __init__(self, db_path: str, admin_key: str) -> None:
        self.db_path = db_path
        self.admin_key = admin_key
        self.conn: sqlite3.Connection = db.connect(db_path)
        self.pid = os.getpid()
        self.rng = random.Random()
        self.metrics = Metrics()
        self.inflight = 0
        self.version = -1
        self.config = ShopConfig()
        self.faults = Faults()
        self.secret = b""
        self.started_at = 0.0
        self.seats_cache: tuple[float, bytes] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Reload config, faults and secret if another process changed them."""
        version = db.settings_version(self.conn)
        if version == self.version:
            return
        conn = self.conn
        self.config = config_from_json(db.get_setting(conn, "config") or {})
        self.faults = faults_from_json(db.get_setting(conn, "faults") or {})
        self.secret = str(db.get_setting(conn, "secret")).encode()
        self.started_at = float(db.get_setting(conn, "started_at") or 0.0)
        self.seats_cache = None
        self.version = version

    @property
    def onsale_at(self) -> float:
        """The on-sale second t0 (epoch s): configured, or the time the shop (re)started."""
        return self.config.onsale_at or self.started_at

    def bug(self, bug: Bug) -> bool:
        return bug in self.faults.bugs

    @staticmethod
    def now() -> float:
        return time.time()

    def authenticate(self, req: Request, now: float, *, allow_consumed: bool = False) -> Principal:
        """The caller's admission token, checked; raises HttpError 401 or 403.

        401: no token, bad signature, expired, unknown (e.g. issued before a reset).
        403: the token was consumed by a paid order (unless ``allow_consumed`` or the seeded
        bug ``token_reuse_allowed`` is on). Call inside the handler's transaction.
        """
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpError(
                401,
                "token_required",
                "an admission token is required: Authorization: Bearer …",
                headers=BEARER_CHALLENGE,
            )
        try:
            claims = verify_token(self.secret, token.strip())
        except BadToken as exc:
            raise HttpError(401, "invalid_token", str(exc), headers=BEARER_CHALLENGE) from exc
        if claims.expires_at <= now:
            raise HttpError(
                401, "token_expired", "the admission token has expired", headers=BEARER_CHALLENGE
            )
        row = self.conn.execute(
            "SELECT token_id, token_consumed_at FROM visitors WHERE request_id = ?",
            (claims.request_id,),
        ).fetchone()
        if row is None or row[0] != claims.token_id:
            raise HttpError(
                401, "invalid_token", "unknown admission token", headers=BEARER_CHALLENGE
            )
        consumed = row[1] is not None
        if consumed and not allow_consumed and not self.bug(Bug.TOKEN_REUSE_ALLOWED):
            raise HttpError(
                403, "token_consumed", "this admission token was already used for a purchase"
            )
        return Principal(claims.request_id, claims.token_id, consumed)
