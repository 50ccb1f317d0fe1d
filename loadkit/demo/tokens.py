"""Signed waiting-room cookies and admission tokens (HMAC-SHA256).

Cookie value: ``<request_id>.<sig>``. Access token: ``<payload>.<sig>`` where payload is the
base64url of ``{"jti", "sub", "iat", "exp", "ev"}`` — a compact JWT-like format without the
header, since only this shop reads it. ``jti`` is the token's unique id (``token_id``), ``sub``
the visitor's ``request_id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

COOKIE_NAME = "lk_wr"


@dataclass(frozen=True)
class TokenClaims:
    token_id: str
    request_id: str
    issued_at: float
    expires_at: float
    event_id: str


class BadToken(ValueError):
    """The token is malformed or its signature does not match."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sig(secret: bytes, message: str) -> str:
    return _b64(hmac.new(secret, message.encode("ascii"), hashlib.sha256).digest()[:24])


def sign_cookie(secret: bytes, request_id: str) -> str:
    return f"{request_id}.{_sig(secret, 'wr:' + request_id)}"


def verify_cookie(secret: bytes, value: str) -> str | None:
    """The request_id the cookie was issued for, or None if it is not ours."""
    request_id, _, sig = value.rpartition(".")
    if (
        not value.isascii()
        or not request_id
        or not hmac.compare_digest(sig, _sig(secret, "wr:" + request_id))
    ):
        return None
    return request_id


def sign_token(secret: bytes, claims: TokenClaims) -> str:
    payload = {
        "jti": claims.token_id,
        "sub": claims.request_id,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
        "ev": claims.event_id,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sig(secret, 'tok:' + body)}"


def verify_token(secret: bytes, token: str) -> TokenClaims:
    """Check the signature and decode; raises BadToken. Expiry is the caller's business."""
    body, _, sig = token.partition(".")
    if not body or not sig or not body.isascii() or not sig.isascii():
        raise BadToken("malformed token")
    if not hmac.compare_digest(sig, _sig(secret, "tok:" + body)):
        raise BadToken("bad token signature")
    try:
        data = json.loads(_unb64(body))
        return TokenClaims(
            token_id=str(data["jti"]),
            request_id=str(data["sub"]),
            issued_at=float(data["iat"]),
            expires_at=float(data["exp"]),
            event_id=str(data["ev"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadToken("malformed token") from exc
