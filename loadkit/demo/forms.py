"""Sessions, CSRF tokens, form bodies and HTML answers for the storefront (``storefront``).

The session cookie ``lk_sess`` is ``<sid>.<hmac>``; the CSRF token is an HMAC of the session
id, so nothing is stored per session and every worker process can check it. A form POST
without the cookie, without the token, or with another session's token is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import parse_qsl

from loadkit.demo import pages
from loadkit.demo.state import ShopState
from loadkit.demo.web import HttpError, Request, Response

SESSION_COOKIE = "lk_sess"
MAX_FORM_FIELDS = 50
MAX_KEY_LEN = 255
HTML = (b"content-type", b"text/html; charset=utf-8")
NO_STORE = (b"cache-control", b"no-store")

Handler = Callable[[ShopState, Request], Awaitable[Response]]


def _sig(st: ShopState, purpose: str, value: str) -> str:
    return hmac.new(st.secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def session_id(st: ShopState, req: Request) -> str | None:
    value = req.cookie(SESSION_COOKIE) or ""
    sid, _, sig = value.rpartition(".")
    if sid and value.isascii() and hmac.compare_digest(sig, _sig(st, "sess", sid)):
        return sid
    return None


def csrf_token(st: ShopState, sid: str) -> str:
    """The session's CSRF token: derived from the session id, so no server-side store."""
    return _sig(st, "csrf", sid)


def session(st: ShopState, req: Request) -> tuple[str, list[tuple[bytes, bytes]]]:
    """The caller's session id, and the Set-Cookie header that starts one if there was none."""
    sid = session_id(st, req)
    if sid is not None:
        return sid, []
    sid = secrets.token_hex(16)
    cookie = f"{SESSION_COOKIE}={sid}.{_sig(st, 'sess', sid)}; Path=/; HttpOnly; SameSite=Lax"
    return sid, [(b"set-cookie", cookie.encode())]


def html_page(status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, text.encode(), [HTML, NO_STORE, *(headers or [])])


def redirect(location: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    """302 Found to a path of this shop (Post/Redirect/Get)."""
    return Response(302, b"", [(b"location", location.encode()), NO_STORE, *(headers or [])])


def html_errors(handler: Handler) -> Handler:
    """Answer an HttpError from a storefront handler as an HTML page with the same status."""

    @wraps(handler)
    async def wrapped(st: ShopState, req: Request) -> Response:
        try:
            return await handler(st, req)
        except HttpError as exc:
            title = "Refused" if exc.status == 403 else "Sorry"
            text = pages.message(title, "error", exc.message)
            return html_page(exc.status, text, exc.headers)

    return wrapped


def read_form(req: Request) -> dict[str, str]:
    """The urlencoded body as a dict (the first value of a repeated field); 400 if unreadable."""
    try:
        text = req.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "malformed_form", "the form could not be read") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def check_csrf(st: ShopState, req: Request) -> dict[str, str]:
    """The form, if it carries this session's CSRF token; else HttpError 403."""
    form = read_form(req)
    sid = session_id(st, req)
    sent = form.get("csrf_token", "").encode("utf-8", "replace")
    if sid is None or not hmac.compare_digest(sent, csrf_token(st, sid).encode()):
        raise HttpError(
            403,
            "csrf_failed",
            "This form has expired or did not come from this shop. Reload the page and try again.",
        )
    return form


def notice(req: Request) -> str:
    return pages.NOTICES.get(req.query.get("notice", ""), "")
