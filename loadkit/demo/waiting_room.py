"""The waiting room: join, poll, admission metering, token issue.

Admission is derived from the database, never from a per-process timer, so any number of
worker processes meter together: ``wr_state.credit`` is a token bucket that fills at the
admission rate from t0 and holds at most two sweeper periods of admissions (at least one), so
the sweeper alone keeps the full rate even when it runs late and a burst stays small; every
admission step (run by status polls and by each process's sweeper) takes whole credits and
admits that many waiting visitors, best rank first, within the active-user cap.

Ranks: each visitor gets the next rank at join (FIFO). In ``prequeue_shuffle`` mode the ranks
of everyone who joined before t0 are shuffled once, at t0. ``serving`` is the highest rank
admitted so far and ``position = rank - serving`` (as the AWS virtual waiting room does).
"""

from __future__ import annotations

import math
import sqlite3
import uuid
from typing import Any

from loadkit.demo import db
from loadkit.demo.config import EVENT_ID, Bug, QueueingMethod
from loadkit.demo.state import ShopState
from loadkit.demo.tokens import COOKIE_NAME, TokenClaims, sign_cookie, sign_token, verify_cookie
from loadkit.demo.web import HttpError, Request, Response, json_response, require_str

WAITING, ADMITTED, EXPIRED = "waiting", "admitted", "expired"
EARLY_POLL_TOLERANCE_S = 0.05


def _cookie_request_id(st: ShopState, req: Request) -> str | None:
    value = req.cookie(COOKIE_NAME)
    return verify_cookie(st.secret, value) if value else None


def _rate_per_s(st: ShopState) -> float:
    rate = st.config.admission_rate_per_min / 60.0
    return rate * 1.5 if st.bug(Bug.ADMISSION_X1_5) else rate


BUCKET_PERIODS = 2


def bucket_size(per_s: float, sweeper_period_s: float) -> float:
    """Most admissions the bucket holds: two sweeper periods' worth, at least one.

    One period would be exact only for a sweeper that is never late: a sweep 5 ms late at a
    0.1 s period would drop 5% of the rate. Two periods ride out a sweep up to a period late.
    """
    return max(1.0, per_s * sweeper_period_s * BUCKET_PERIODS)


def _open_room(st: ShopState, conn: sqlite3.Connection, now: float) -> None:
    """At t0: shuffle the pre-queue if configured. Runs once (``wr_state.opened``)."""
    if st.config.queueing_method is QueueingMethod.PREQUEUE_SHUFFLE:
        rows = conn.execute(
            "SELECT request_id, rank FROM visitors WHERE prequeue = 1 AND state = ?", (WAITING,)
        ).fetchall()
        ranks = [r[1] for r in rows]
        st.rng.shuffle(ranks)
        conn.executemany(
            "UPDATE visitors SET rank = ? WHERE request_id = ?",
            [(rank, r[0]) for rank, r in zip(ranks, rows, strict=True)],
        )
    conn.execute("UPDATE wr_state SET opened = 1, credit = 0, credit_at = ?", (st.onsale_at,))
    db.audit(conn, now, "room_opened", detail={"queueing_method": st.config.queueing_method.value})


def active_users(st: ShopState, conn: sqlite3.Connection, now: float) -> int:
    """Admitted visitors whose session is live: token not yet fetched (within the redeem
    window) or fetched, unexpired and not consumed by a purchase."""
    row = conn.execute(
        "SELECT COUNT(*) FROM visitors WHERE state = 'admitted' AND token_consumed_at IS NULL"
        " AND ((token_id IS NULL AND admitted_at > ?) OR token_expires_at > ?)",
        (now - st.config.token_redeem_s, now),
    ).fetchone()
    return int(row[0])


def admission_step(st: ShopState, conn: sqlite3.Connection, now: float) -> None:
    """Admit as many waiting visitors as the bucket and the cap allow (inside a write tx)."""
    if now < st.onsale_at:
        return
    credit, credit_at, serving, opened, admit_seq = conn.execute(
        "SELECT credit, credit_at, serving, opened, admit_seq FROM wr_state"
    ).fetchone()
    if not opened:
        _open_room(st, conn, now)
        credit, credit_at = 0.0, st.onsale_at
    per_s = _rate_per_s(st)
    if per_s <= 0:  # admission paused: nothing accrues, nothing carried over
        if credit:
            conn.execute("UPDATE wr_state SET credit = 0, credit_at = ?", (now,))
        return
    burst = bucket_size(per_s, st.config.sweeper_period_s)
    credit = min(burst, credit + per_s * max(0.0, now - credit_at))
    if credit < 1.0:
        return
    want = int(credit)
    if st.config.active_cap > 0:
        want = min(want, st.config.active_cap - active_users(st, conn, now))
    admitted = 0
    if want > 0:
        admitted, serving, admit_seq = _admit(st, conn, now, want, serving, admit_seq)
    conn.execute(
        "UPDATE wr_state SET credit = ?, credit_at = ?, serving = ?, admit_seq = ?",
        (credit - admitted, now, serving, admit_seq),
    )


def _admit(
    st: ShopState, conn: sqlite3.Connection, now: float, want: int, serving: int, admit_seq: int
) -> tuple[int, int, int]:
    order = "DESC" if st.bug(Bug.LIFO_ADMISSION) else "ASC"
    stale_before = now - st.config.queue_silence_s
    admitted = 0
    while admitted < want:
        rows = conn.execute(
            f"SELECT request_id, rank, last_poll_at FROM visitors WHERE state = ?"
            f" ORDER BY rank {order} LIMIT ?",
            (WAITING, want - admitted + 20),
        ).fetchall()
        if not rows:
            break
        for request_id, rank, last_poll_at in rows:
            if admitted >= want:
                break
            if last_poll_at < stale_before:
                _expire(conn, now, request_id)
                continue
            admit_seq += 1
            admitted += 1
            serving = max(serving, rank)
            conn.execute(
                "UPDATE visitors SET state = ?, admitted_at = ?, admit_seq = ?, admit_rate = ?"
                " WHERE request_id = ?",
                (ADMITTED, now, admit_seq, st.config.admission_rate_per_min, request_id),
            )
            db.audit(conn, now, "admit", request_id=request_id, detail={"rank": rank})
    return admitted, serving, admit_seq


def _expire(conn: sqlite3.Connection, now: float, request_id: str) -> None:
    conn.execute(
        "UPDATE visitors SET state = ?, expired_at = ? WHERE request_id = ?",
        (EXPIRED, now, request_id),
    )
    db.audit(conn, now, "place_lost", request_id=request_id)


def sweep_silent(st: ShopState, conn: sqlite3.Connection, now: float) -> int:
    """Expire waiting visitors who stopped polling (inside a write tx); returns how many."""
    rows = conn.execute(
        "SELECT request_id FROM visitors WHERE state = ? AND last_poll_at < ?",
        (WAITING, now - st.config.queue_silence_s),
    ).fetchall()
    for (request_id,) in rows:
        _expire(conn, now, request_id)
    return len(rows)


def _describe(
    st: ShopState, conn: sqlite3.Connection, request_id: str, now: float
) -> dict[str, Any]:
    state, rank, serving = conn.execute(
        "SELECT v.state, v.rank, w.serving FROM visitors v, wr_state w WHERE v.request_id = ?",
        (request_id,),
    ).fetchone()
    per_s = _rate_per_s(st)
    until_start = max(0.0, st.onsale_at - now)
    position: int | None = None
    wait_s: float | None = None
    shown = state
    if state == WAITING:
        shown = "prequeue" if until_start > 0 else "queued"
        shuffled_later = st.config.queueing_method is QueueingMethod.PREQUEUE_SHUFFLE
        if not (shown == "prequeue" and shuffled_later):
            position = max(1, rank - serving)
            if per_s > 0:
                wait_s = round(until_start + position / per_s, 1)
    elif state == ADMITTED:
        position, wait_s = 0, 0.0
    return {
        "request_id": request_id,
        "state": shown,
        "position": position,
        "serving": serving,
        "wait_time_s": wait_s,
        "wait_time_known": wait_s is not None,
        "refresh_interval_s": st.config.refresh_interval_s,
        "last_updated": round(now, 3),
        "is_event_prequeueing": until_start > 0,
        "time_until_event_start_s": round(until_start, 3),
        "queue_is_full": False,
    }


async def join(st: ShopState, req: Request) -> Response:
    """``POST /wr/join {event_id}``: 201 and a signed cookie; idempotent with the cookie."""
    data = req.json_object()
    if require_str(data, "event_id") != EVENT_ID:
        raise HttpError(404, "unknown_event", f"no such event; this shop sells '{EVENT_ID}'")
    request_id, existing, body = join_visitor(st, _cookie_request_id(st, req), st.now())
    body["existing"] = existing
    cookie = queue_cookie(st, request_id)
    return json_response(201, body, [(b"set-cookie", cookie.encode())])


def queue_cookie(st: ShopState, request_id: str) -> str:
    """The ``Set-Cookie`` value that carries the visitor's signed place in the queue."""
    return f"{COOKIE_NAME}={sign_cookie(st.secret, request_id)}; Path=/; HttpOnly; SameSite=Lax"


def visitor_id(st: ShopState, req: Request) -> str | None:
    """The request_id of the caller's (validly signed) queue cookie, if any."""
    return _cookie_request_id(st, req)


def join_visitor(st: ShopState, known: str | None, now: float) -> tuple[str, bool, dict[str, Any]]:
    """Put a visitor in the queue, or keep ``known``'s live place: ``(request_id, existing,
    status body)``. Shared by ``POST /wr/join`` and the HTML storefront."""
    with db.write_tx(st.conn) as conn:
        row = None
        if known:
            row = conn.execute(
                "SELECT state FROM visitors WHERE request_id = ?", (known,)
            ).fetchone()
        existing = row is not None and row[0] in (WAITING, ADMITTED)
        if existing and known:
            request_id = known
        else:
            request_id = uuid.uuid4().hex
            rank = int(conn.execute("SELECT next_rank FROM wr_state").fetchone()[0])
            conn.execute("UPDATE wr_state SET next_rank = next_rank + 1")
            conn.execute(
                "INSERT INTO visitors (request_id, rank, joined_at, prequeue, state, last_poll_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (request_id, rank, now, int(now < st.onsale_at), WAITING, now),
            )
            db.audit(conn, now, "join", request_id=request_id, detail={"rank": rank})
        body = _describe(st, conn, request_id, now)
    return request_id, existing, body


async def status(st: ShopState, req: Request) -> Response:
    """``GET /wr/status``: the visitor's place; 429 + Retry-After if polled too early."""
    request_id = _cookie_request_id(st, req)
    if request_id is None:
        raise HttpError(401, "queue_cookie_required", "join the queue first: POST /wr/join")
    return json_response(200, poll(st, request_id, st.now()))


def poll(st: ShopState, request_id: str, now: float) -> dict[str, Any]:
    """One status poll: admits if due, keeps the place; the status body. HttpError 404 if
    unknown, 429 (+ Retry-After, nothing changed) if earlier than the refresh interval."""
    interval = st.config.refresh_interval_s
    with db.write_tx(st.conn) as conn:
        row = conn.execute(
            "SELECT state, last_poll_at FROM visitors WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise HttpError(404, "unknown_visitor", "not in the queue (any more): join again")
        state, last_poll_at = row
        if state == WAITING:
            early_by = last_poll_at + interval - EARLY_POLL_TOLERANCE_S * min(1.0, interval) - now
            if early_by > 0:
                raise HttpError(
                    429,
                    "too_early",
                    f"poll every {interval:g} s; polling early gains nothing",
                    headers=[(b"retry-after", str(max(1, math.ceil(early_by))).encode())],
                    retry_after_s=round(early_by, 3),
                )
            if last_poll_at < now - st.config.queue_silence_s:
                _expire(conn, now, request_id)
            else:
                admission_step(st, conn, now)
                conn.execute(
                    "UPDATE visitors SET last_poll_at = ? WHERE request_id = ?", (now, request_id)
                )
        return _describe(st, conn, request_id, now)


def describe(st: ShopState, request_id: str, now: float) -> dict[str, Any] | None:
    """The visitor's status body without polling (None if unknown): a read, no change."""
    conn = st.conn
    if conn.execute("SELECT 1 FROM visitors WHERE request_id = ?", (request_id,)).fetchone():
        return _describe(st, conn, request_id, now)
    return None


def issue_token(st: ShopState, conn: sqlite3.Connection, request_id: str, now: float) -> None:
    """Issue the admitted visitor's admission token (inside a write tx; caller checks state)."""
    _issue_token(st, conn, request_id, now)


def _issue_token(
    st: ShopState, conn: sqlite3.Connection, request_id: str, now: float
) -> TokenClaims:
    claims = TokenClaims(uuid.uuid4().hex, request_id, now, now + st.config.token_ttl_s, EVENT_ID)
    conn.execute(
        "UPDATE visitors SET token_id = ?, token_issued_at = ?, token_expires_at = ?"
        " WHERE request_id = ?",
        (claims.token_id, claims.issued_at, claims.expires_at, request_id),
    )
    db.audit(conn, now, "token", request_id=request_id, token_id=claims.token_id)
    return claims


async def token(st: ShopState, req: Request) -> Response:
    """``POST /wr/token {request_id}``: 200 with the token once admitted, 202 before; idempotent.

    Only the holder of the queue cookie that joined gets the token: 401 without the cookie,
    403 when it names another place (a ``request_id`` alone is not a secret)."""
    request_id = require_str(req.json_object(), "request_id")
    cookie_id = _cookie_request_id(st, req)
    if cookie_id is None:
        raise HttpError(401, "queue_cookie_required", "join the queue first: POST /wr/join")
    if cookie_id != request_id:
        raise HttpError(403, "cookie_mismatch", "request_id does not match your queue cookie")
    now = st.now()
    with db.write_tx(st.conn) as conn:
        row = conn.execute(
            "SELECT state, admitted_at, token_id, token_issued_at, token_expires_at"
            " FROM visitors WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            raise HttpError(404, "unknown_request", "no such request_id: join the queue first")
        state, admitted_at, token_id, issued_at, expires_at = row
        if state == EXPIRED:
            raise HttpError(410, "place_lost", "this place in the queue expired: join again")
        if state == WAITING:
            return json_response(202, _describe(st, conn, request_id, now))
        if token_id is not None:
            claims = TokenClaims(token_id, request_id, issued_at, expires_at, EVENT_ID)
        elif admitted_at + st.config.token_redeem_s < now:
            raise HttpError(410, "admission_expired", "admitted too long ago: join again")
        else:
            claims = _issue_token(st, conn, request_id, now)
    if claims.expires_at <= now:
        raise HttpError(410, "session_expired", "the shopping session has ended: join again")
    body = {
        "access_token": sign_token(st.secret, claims),
        "token_type": "Bearer",
        "expires_in": round(claims.expires_at - now, 3),
        "expires_at": claims.expires_at,
        "token_id": claims.token_id,
    }
    return json_response(200, body)
