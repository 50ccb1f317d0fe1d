"""The shop as one ASGI application: routing, injected faults, metrics, background sweeper.

One ``ShopApp`` runs in each worker process. It opens its own database connection at lifespan
startup (after the fork) and starts a sweeper task that, every ``sweeper_period_s``, expires
silent queue places, runs an admission step (so admission never stalls when nobody polls),
releases expired holds and writes this process's metrics snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import traceback
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from loadkit.demo import admin, db, orders, seating, storefront, waiting_room
from loadkit.demo.config import Bug
from loadkit.demo.state import ShopState
from loadkit.demo.web import (
    HttpError,
    Request,
    Response,
    Router,
    json_response,
    read_request,
    send_response,
)

log = logging.getLogger("loadkit.demo")

ShopHandler = Callable[[ShopState, Request], Awaitable[Response]]

ROUTES: tuple[tuple[str, str, str, ShopHandler], ...] = (
    ("events.get", "GET", "/events/{event_id}", seating.event),
    ("wr.join", "POST", "/wr/join", waiting_room.join),
    ("wr.status", "GET", "/wr/status", waiting_room.status),
    ("wr.token", "POST", "/wr/token", waiting_room.token),
    ("seats.get", "GET", "/events/{event_id}/seats", seating.seats),
    ("holds.create", "POST", "/holds", seating.create_hold),
    ("holds.delete", "DELETE", "/holds/{hold_id}", seating.delete_hold),
    ("orders.create", "POST", "/orders", orders.create_order),
    ("orders.get", "GET", "/orders/{order_id}", orders.get_order),
    ("admin.config.get", "GET", "/admin/config", admin.get_config),
    ("admin.config.put", "PUT", "/admin/config", admin.put_config),
    ("admin.faults.get", "GET", "/admin/faults", admin.get_faults),
    ("admin.faults.put", "PUT", "/admin/faults", admin.put_faults),
    ("admin.audit", "GET", "/admin/audit", admin.audit),
    ("admin.invariants", "GET", "/admin/invariants", admin.check_invariants),
    ("admin.reset", "POST", "/admin/reset", admin.reset),
    ("metrics", "GET", "/metrics", admin.prometheus),
    ("healthz", "GET", "/healthz", admin.healthz),
)

STOREFRONT_ROUTES: tuple[tuple[str, str, str, ShopHandler], ...] = storefront.ROUTES

# Operations endpoints are exempt from injected faults and the capacity limit.
UNFAULTED_PREFIXES = ("admin.", "metrics", "healthz")


def sweep_once(st: ShopState) -> None:
    """One sweeper pass (a short write transaction)."""
    now = st.now()
    st.refresh()
    with db.write_tx(st.conn) as conn:
        waiting_room.sweep_silent(st, conn, now)
        waiting_room.admission_step(st, conn, now)
        if not st.bug(Bug.NO_HOLD_SWEEPER):
            seating.sweep_holds(conn, now)
        st.metrics.flush(conn, st.pid, now)


class ShopApp:
    """ASGI callable: ``ShopApp(db_path, admin_key, storefront)``; state is created per
    process. ``storefront="html"`` adds the server-rendered pages (``loadkit.demo.storefront``).
    """

    def __init__(self, db_path: str, admin_key: str, storefront: str = "json") -> None:
        self.db_path = db_path
        self.admin_key = admin_key
        self.router = Router()
        self._handlers: dict[str, ShopHandler] = {}
        # the HTML storefront is a second front door; the JSON API and /admin stay
        routes = ROUTES + (STOREFRONT_ROUTES if storefront == "html" else ())
        for name, method, path, handler in routes:
            self.router.add(name, method, path, partial(self._dispatch, name))
            self._handlers[name] = handler
        self._state: ShopState | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._pid_header = b""

    @property
    def state(self) -> ShopState:
        if self._state is None:
            self._state = ShopState(self.db_path, self.admin_key)
            self._pid_header = str(self._state.pid).encode()
        return self._state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _ = self.state
                self._sweeper = asyncio.create_task(self._sweep_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sweeper is not None:
                    self._sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._sweeper
                st = self.state
                with contextlib.suppress(sqlite3.Error), db.write_tx(st.conn) as conn:
                    st.metrics.flush(conn, st.pid, time.time(), force=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _sweep_forever(self) -> None:
        st = self.state
        while True:
            try:
                sweep_once(st)
            except sqlite3.Error as exc:  # keep sweeping; a busy database is transient
                log.warning("sweeper: %s", exc)
            await asyncio.sleep(st.config.sweeper_period_s)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        start = time.perf_counter()
        st = self.state
        route_name = "unmatched"
        try:
            req = await read_request(scope, receive)
            route, req.params = self.router.match(req.method, req.path)
            route_name = route.name
            response = await route.handler(req)
        except HttpError as exc:
            response = exc.response()
        st.metrics.observe(route_name, response.status, time.perf_counter() - start)
        response.headers.append((b"x-shop-worker", self._pid_header))
        await send_response(send, response)

    async def _dispatch(self, name: str, req: Request) -> Response:
        st = self.state
        faulted = not name.startswith(UNFAULTED_PREFIXES)
        st.inflight += 1
        try:
            st.refresh()
            if faulted:
                await self._inject(st, name)
            return await self._handlers[name](st, req)
        except HttpError:
            raise
        except sqlite3.OperationalError as exc:
            log.warning("%s: database busy: %s", name, exc)
            return json_response(
                503, {"error": "database_busy", "message": str(exc)}, [(b"retry-after", b"1")]
            )
        except Exception as exc:  # the shop must answer, even on its own bugs
            traceback.print_exc()
            return json_response(500, {"error": "internal_error", "message": repr(exc)})
        finally:
            st.inflight -= 1

    @staticmethod
    async def _inject(st: ShopState, name: str) -> None:
        faults = st.faults
        if faults.capacity_limit and st.inflight > faults.capacity_limit:
            raise HttpError(
                503,
                "over_capacity",
                f"more than {faults.capacity_limit} concurrent requests",
                headers=[(b"retry-after", b"1")],
            )
        fault = faults.endpoints.get(name)
        if fault is None:
            return
        if fault.latency_ms > 0:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.error_rate > 0 and st.rng.random() < fault.error_rate:
            raise HttpError(
                fault.error_status,
                "injected_fault",
                f"fault injected on {name} (error_rate {fault.error_rate:g})",
            )
