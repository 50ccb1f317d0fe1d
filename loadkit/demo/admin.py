"""Operations endpoints: live config and faults, audit log, invariants, reset, metrics, health.

``/admin/*`` needs the admin key in ``X-Admin-Key`` (401 without, 403 wrong). ``/metrics``
and ``/healthz`` are open, as scrapers and load balancers expect.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from loadkit.demo import db, invariants, metrics
from loadkit.demo.config import (
    ConfigError,
    Faults,
    ShopConfig,
    merge_config,
    merge_faults,
)
from loadkit.demo.state import ShopState
from loadkit.demo.waiting_room import active_users
from loadkit.demo.web import HttpError, Request, Response, json_response

MAX_AUDIT_PAGE = 1000


def require_admin(st: ShopState, req: Request) -> None:
    key = req.headers.get("x-admin-key")
    if not key:
        raise HttpError(401, "admin_key_required", "send the admin key in X-Admin-Key")
    if not hmac.compare_digest(key.encode(), st.admin_key.encode()):
        raise HttpError(403, "bad_admin_key", "wrong admin key")


def _problems(exc: ConfigError) -> HttpError:
    return HttpError(
        422,
        "invalid_settings",
        str(exc),
        problems=[{"field": f, "message": m} for f, m in exc.problems],
    )


async def get_config(st: ShopState, req: Request) -> Response:
    require_admin(st, req)
    return json_response(200, {**st.config.to_json(), "onsale_at_effective": st.onsale_at})


async def put_config(st: ShopState, req: Request) -> Response:
    """Merge the body into the config; 422 lists every problem (with did-you-mean)."""
    require_admin(st, req)
    patch = req.json_object()
    now = st.now()
    with db.write_tx(st.conn) as conn:
        st.refresh()
        try:
            new = merge_config(st.config, patch, now)
        except ConfigError as exc:
            raise _problems(exc) from exc
        db.put_setting(conn, "config", new.to_json())
        if new.onsale_at > now:  # a new t0 in the future re-arms the on-sale (pre-queue, shuffle)
            conn.execute("UPDATE wr_state SET opened = 0, credit = 0, credit_at = ?", (now,))
        db.bump_version(conn)
        db.audit(conn, now, "config", detail=patch)
    st.refresh()
    return await get_config(st, req)


async def get_faults(st: ShopState, req: Request) -> Response:
    require_admin(st, req)
    return json_response(200, st.faults.to_json())


async def put_faults(st: ShopState, req: Request) -> Response:
    require_admin(st, req)
    patch = req.json_object()
    now = st.now()
    with db.write_tx(st.conn) as conn:
        st.refresh()
        try:
            new = merge_faults(st.faults, patch)
        except ConfigError as exc:
            raise _problems(exc) from exc
        db.put_setting(conn, "faults", new.to_json())
        db.bump_version(conn)
        db.audit(conn, now, "faults", detail=patch)
    st.refresh()
    return json_response(200, st.faults.to_json())


def _int_param(req: Request, name: str, default: int, maximum: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(422, "invalid_query", f"'{name}' must be an integer", field=name) from None
    if value < 0:
        raise HttpError(422, "invalid_query", f"'{name}' must be >= 0", field=name)
    return min(value, maximum)


async def audit(st: ShopState, req: Request) -> Response:
    """``GET /admin/audit?after=ID&limit=N&kind=K``: entries with id > after, oldest first."""
    require_admin(st, req)
    after = _int_param(req, "after", 0, 2**62)
    limit = max(1, _int_param(req, "limit", 100, MAX_AUDIT_PAGE))
    sql = "SELECT id, ts, kind, request_id, token_id, hold_id, order_id, detail FROM audit"
    sql += " WHERE id > ?" + (" AND kind = ?" if "kind" in req.query else "")
    args: tuple[Any, ...] = (after, req.query["kind"]) if "kind" in req.query else (after,)
    rows = st.conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit + 1)).fetchall()
    names = ("id", "ts", "kind", "request_id", "token_id", "hold_id", "order_id")
    entries = [
        {**dict(zip(names, r[:7], strict=True)), "detail": json.loads(r[7] or "{}")}
        for r in rows[:limit]
    ]
    return json_response(
        200,
        {
            "entries": entries,
            "next_after": entries[-1]["id"] if entries else after,
            "has_more": len(rows) > limit,
        },
    )


async def check_invariants(st: ShopState, req: Request) -> Response:
    require_admin(st, req)
    now = st.now()
    cfg = st.config
    body = invariants.check_all(
        st.conn, now, cfg.hold_release_grace_s, cfg.sweeper_period_s, cfg.ga_capacity
    )
    return json_response(200, body)


async def reset(st: ShopState, req: Request) -> Response:
    """``POST /admin/reset [{faults: bool, config: bool}]``: fresh on-sale state; optionally
    back to default faults and config too."""
    require_admin(st, req)
    opts = req.json_object() if req.body.strip() else {}
    now = st.now()
    with db.write_tx(st.conn) as conn:
        db.reset_state(conn, now)
        if opts.get("faults") is True:
            db.put_setting(conn, "faults", Faults().to_json())
        if opts.get("config") is True:
            db.put_setting(conn, "config", ShopConfig().to_json())
        db.audit(conn, now, "reset", detail=opts)
    st.metrics.reset()
    st.refresh()
    return json_response(200, {"reset": True, "at": now})


async def prometheus(st: ShopState, req: Request) -> Response:
    now = st.now()
    conn = st.conn
    with db.write_tx(conn):
        st.metrics.flush(conn, st.pid, now, force=True)
    count = conn.execute
    queue = count("SELECT COUNT(*) FROM visitors WHERE state = 'waiting'").fetchone()[0]
    admitted = count("SELECT COUNT(*) FROM visitors WHERE admitted_at IS NOT NULL").fetchone()[0]
    holds = count("SELECT COUNT(*) FROM holds WHERE state IN ('active','ordering')").fetchone()[0]
    gauges: dict[str, tuple[str, float]] = {
        "demo_queue_length": ("Visitors waiting in the waiting room.", queue),
        "demo_admitted_total": ("Visitors admitted to the shop.", admitted),
        "demo_active_users": (
            "Admitted visitors with a live session.",
            active_users(st, conn, now),
        ),
        "demo_holds_active": ("Live holds.", holds),
    }
    for state, n in count("SELECT state, COUNT(*) FROM orders GROUP BY state").fetchall():
        gauges[f'demo_orders_total{{state="{state}"}}'] = ("Orders by state.", n)
    for state, n in count("SELECT state, COUNT(*) FROM seats GROUP BY state").fetchall():
        gauges[f'demo_seats{{state="{state}"}}'] = ("Seats by state.", n)
    text = metrics.render(conn, gauges)
    return Response(200, text.encode(), [(b"content-type", b"text/plain; version=0.0.4")])


async def healthz(st: ShopState, req: Request) -> Response:
    return json_response(200, {"ok": True, "pid": st.pid})
