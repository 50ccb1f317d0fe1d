"""The shop holds its promises against a hostile client: the queue cookie guards the token,
bad input is a 4xx, and a request head over the limits is refused with 431 (or 414)."""

from __future__ import annotations

import contextlib
import socket
from urllib.parse import urlsplit

import pytest

from loadkit.demo import ShopProcess
from loadkit.demo.limits import MAX_HEAD_BYTES, MAX_HEADER_LINE_BYTES, MAX_HEADERS
from tests.demo.client import Visitor, admin, invariants, request

pytestmark = [pytest.mark.integration, pytest.mark.functional]


def _audit_kinds(shop: ShopProcess) -> list[str]:
    r = admin(shop.url, shop.admin_key, "GET", "/admin/audit?limit=1000")
    return [e["kind"] for e in r["entries"]]


def test_a_request_id_without_the_queue_cookie_gets_no_token(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    tokens_before = _audit_kinds(shop).count("token")
    stranger = request(shop.url, "POST", "/wr/token", {"request_id": v.request_id})
    assert (stranger.status, stranger["error"]) == (401, "queue_cookie_required")
    assert "access_token" not in stranger.body
    other = Visitor(shop.url)
    other.join()
    mismatch = other.call("POST", "/wr/token", {"request_id": v.request_id})
    assert (mismatch.status, mismatch["error"]) == (403, "cookie_mismatch")
    assert _audit_kinds(shop).count("token") == tokens_before
    assert v.fetch_token().status == 200  # the holder of the cookie still gets it


def test_a_zone_of_the_wrong_type_is_422(shop: ShopProcess) -> None:
    v = Visitor(shop.url).admitted()
    for zone in (["A"], {"A": 1}, 7, True):
        r = v.call("POST", "/holds", {"best_available": {"quantity": 1, "zone": zone}})
        assert (r.status, r["error"]) == (422, "unknown_zone"), zone
    assert invariants(shop.url, shop.admin_key)["ok"]


def _raw(url: str, head: bytes) -> bytes:
    """Send ``head`` on a fresh connection and read the whole answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # the shop may stop reading once it has answered
            sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _head(*lines: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: shop\r\n" + b"".join(lines) + b"\r\n"


@pytest.mark.parametrize(
    ("head", "status", "answers"),
    [
        # ~100 KB of short headers breaks two limits; which one the shop meets first depends on
        # how TCP hands it the bytes (one read: the head size; a first read < 64 KiB: the count).
        (
            _head(*(b"X-N%d: v\r\n" % i for i in range(10_000))),
            431,
            (b"too_many_headers", b"headers_too_large"),
        ),
        (
            _head(*(b"X-N%d: v\r\n" % i for i in range(MAX_HEADERS + 1))),
            431,
            (b"too_many_headers",),
        ),
        (_head(b"X-Big: " + b"a" * 1_000_000 + b"\r\n"), 431, (b"headers_too_large",)),
        (_head(b"X-Big: " + b"a" * MAX_HEADER_LINE_BYTES + b"\r\n"), 431, (b"header_too_large",)),
        (_head(b"Cookie: " + b"c" * (MAX_HEADER_LINE_BYTES - 16) + b"\r\n") * 1, 200, (b'"ok"',)),
        (
            b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: shop\r\n\r\n",
            414,
            (b"uri_too_long",),
        ),
    ],
    ids=["10k headers", "101 headers", "1 MB header", "8 KiB line", "a long cookie", "long url"],
)
def test_request_head_limits(
    shop: ShopProcess, head: bytes, status: int, answers: tuple[bytes, ...]
) -> None:
    if status == 200:
        head = head.replace(b"Host: shop\r\n", b"Host: shop\r\nConnection: close\r\n")
    answer = _raw(shop.url, head)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert any(expected in answer for expected in answers), answer[:300]


def test_many_ordinary_headers_within_the_limits_are_served(shop: ShopProcess) -> None:
    lines = [b"X-N%d: %s\r\n" % (i, b"v" * 500) for i in range(MAX_HEADERS - 3)]
    assert sum(map(len, lines)) < MAX_HEAD_BYTES
    answer = _raw(shop.url, _head(b"Connection: close\r\n", *lines))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_the_shop_keeps_serving_after_refusals(shop: ShopProcess) -> None:
    for _ in range(3):
        _raw(shop.url, _head(b"X-Big: " + b"a" * 200_000 + b"\r\n"))
    assert request(shop.url, "GET", "/healthz").status == 200
    assert invariants(shop.url, shop.admin_key)["ok"]
