"""A tiny stdlib browser for the HTML storefront tests: a cookie jar, form posts, redirects.

``Browser(url).get("/")`` follows redirects as a browser does (a 302 after a POST becomes a
GET) and keeps every hop in ``Page.hops`` so tests can assert the Post/Redirect/Get pattern;
``follow=False`` returns the 3xx itself. ``on_exchange`` (if set) sees every hop, request and
response, with its timings: the HAR recorder in tests/har builds on it.
"""

from __future__ import annotations

import html
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from urllib.parse import urlencode, urljoin

MAX_HOPS = 10


@dataclass
class Exchange:
    """One request and its answer, as a browser's network panel would show it."""

    method: str
    url: str
    request_headers: dict[str, str]
    body: bytes | None
    status: int
    response_headers: list[tuple[str, str]]
    content: bytes
    started: float  # epoch s
    elapsed_s: float


@dataclass
class Page:
    status: int
    url: str
    headers: dict[str, str]
    text: str
    hops: list[Exchange] = field(default_factory=list)

    def hidden(self, name: str) -> str:
        """The value of the first ``<input name=NAME>`` on the page (AssertionError if none)."""
        for tag in re.findall(r"<input\b[^>]*>", self.text):
            if re.search(rf'\bname="{re.escape(name)}"', tag):
                found = re.search(r'\bvalue="([^"]*)"', tag)
                return html.unescape(found.group(1)) if found else ""
        raise AssertionError(f"no input {name!r} on {self.url}:\n{self.text[:2000]}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browser:
    """One visitor with its own cookies."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.on_exchange: Callable[[Exchange], None] | None = None

    def get(self, path: str, *, follow: bool = True) -> Page:
        return self.request("GET", path, follow=follow)

    def post(self, path: str, form: dict[str, str], *, follow: bool = True) -> Page:
        return self.request("POST", path, urlencode(form).encode(), follow=follow)

    def request(
        self, method: str, path: str, body: bytes | None = None, *, follow: bool = True
    ) -> Page:
        url = urljoin(self.base_url, path)
        hops: list[Exchange] = []
        while True:
            hop = self._send(method, url, body)
            hops.append(hop)
            location = dict((k.lower(), v) for k, v in hop.response_headers).get("location")
            if not (follow and hop.status in (301, 302, 303, 307, 308) and location):
                break
            if len(hops) > MAX_HOPS:
                raise AssertionError(f"more than {MAX_HOPS} redirects from {path}")
            url = urljoin(url, location)
            if hop.status in (301, 302, 303):
                method, body = "GET", None
        last = hops[-1]
        headers = {k.lower(): v for k, v in last.response_headers}
        return Page(last.status, last.url, headers, last.content.decode("utf-8", "replace"), hops)

    def _send(self, method: str, url: str, body: bytes | None) -> Exchange:
        headers = {"User-Agent": "storefront-tests", "Accept": "text/html"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        started, t0 = time.time(), time.perf_counter()
        try:
            resp = self.opener.open(req, timeout=30)
        except urllib.error.HTTPError as err:  # 3xx (not followed here) and 4xx/5xx
            resp = err
        with resp:
            content = resp.read()
            status, resp_headers = resp.status, list(resp.headers.items())
        sent = dict(req.header_items())  # includes the Cookie header the jar added
        hop = Exchange(
            method,
            url,
            sent,
            body,
            status,
            resp_headers,
            content,
            started,
            time.perf_counter() - t0,
        )
        if self.on_exchange is not None:
            self.on_exchange(hop)
        return hop

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def enter_shop(browser: Browser, poll_s: float = 0.21, timeout_s: float = 20.0) -> Page:
    """Landing → join (POST, 302) → the queue page, refreshed until admitted → the event page."""
    landing = browser.get("/")
    assert landing.status == 200, landing.text
    queue = browser.post("/shop/join", {"csrf_token": landing.hidden("csrf_token")})
    deadline = time.monotonic() + timeout_s
    while 'data-queue-state="admitted"' not in queue.text:
        assert time.monotonic() < deadline, f"not admitted within {timeout_s} s:\n{queue.text}"
        time.sleep(poll_s)
        queue = browser.get("/shop/queue")
    event = browser.get("/shop/event")
    assert event.status == 200 and 'data-page="event"' in event.text, event.text
    return event


def hold(browser: Browser, event: Page, form: dict[str, str]) -> Page:
    """Post a hold form of the event page (with its CSRF token); the page it lands on."""
    return browser.post("/shop/hold", {"csrf_token": event.hidden("csrf_token"), **form})


def checkout(browser: Browser, cart: Page, card: str = "4242424242424242") -> Page:
    """Submit the cart's checkout form; the page it lands on."""
    fields = ("csrf_token", "hold_id", "idempotency_key")
    return browser.post(
        "/shop/checkout", {**{f: cart.hidden(f) for f in fields}, "card_number": card}
    )
