"""Record a HAR 1.2 file the way a browser's network panel does, from the tests' Browser.

``HarRecorder`` turns every hop the Browser makes (redirects included, one entry each) into a
HAR entry, and ``assets(page)`` fetches the stylesheets, scripts and images a page refers to,
as a browser would. ``third_party`` adds an entry for another host without sending anything
(a CDN or analytics tag: something the importer must leave out).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.demo.browser import Browser, Exchange, Page

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def _iso(epoch_s: float) -> str:
    return (
        datetime.fromtimestamp(epoch_s, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _pairs(headers: dict[str, str] | list[tuple[str, str]]) -> list[dict[str, str]]:
    items = headers.items() if isinstance(headers, dict) else headers
    return [{"name": k, "value": v} for k, v in items]


def entry(x: Exchange, resource_type: str = "document") -> dict[str, Any]:
    """One HAR 1.2 entry for an exchange."""
    response_headers = dict((k.lower(), v) for k, v in x.response_headers)
    mime = response_headers.get("content-type", "")
    request: dict[str, Any] = {
        "method": x.method,
        "url": x.url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(x.request_headers),
        "queryString": _pairs(parse_qsl(urlsplit(x.url).query)),
        "headersSize": -1,
        "bodySize": len(x.body or b""),
    }
    if x.body is not None:
        text = x.body.decode()
        request["postData"] = {
            "mimeType": x.request_headers.get("Content-type", "application/x-www-form-urlencoded"),
            "text": text,
            "params": _pairs(parse_qsl(text, keep_blank_values=True)),
        }
    wait_ms = round(x.elapsed_s * 1000, 3)
    return {
        "startedDateTime": _iso(x.started),
        "time": wait_ms,
        "request": request,
        "response": {
            "status": x.status,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _pairs(x.response_headers),
            "content": {
                "size": len(x.content),
                "mimeType": mime,
                "text": x.content.decode("utf-8", "replace"),
            },
            "redirectURL": response_headers.get("location", ""),
            "headersSize": -1,
            "bodySize": len(x.content),
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait_ms, "receive": 0},
        "_resourceType": resource_type,
    }


class HarRecorder:
    """Attach to a Browser; ``write(path)`` saves everything it did as a HAR 1.2 file."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.entries: list[dict[str, Any]] = []
        self._kind = "document"
        browser.on_exchange = self._record

    def _record(self, x: Exchange) -> None:
        self.entries.append(entry(x, self._kind))

    def assets(self, page: Page) -> None:
        """Fetch what the page refers to (stylesheet, script, logo), as a browser does."""
        self._kind = "other"
        try:
            for path in dict.fromkeys(ASSET.findall(page.text)):
                self.browser.get(path)
        finally:
            self._kind = "document"

    def third_party(self, url: str, mime: str) -> None:
        """An entry for another host (nothing is sent): an analytics tag, a web font."""
        last = self.entries[-1]["startedDateTime"] if self.entries else _iso(0)
        self.entries.append(
            {
                "startedDateTime": last,
                "time": 12.5,
                "request": {
                    "method": "GET",
                    "url": url,
                    "httpVersion": "HTTP/2",
                    "cookies": [],
                    "headers": [{"name": "Referer", "value": self.browser.base_url}],
                    "queryString": [],
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/2",
                    "cookies": [],
                    "headers": [{"name": "Content-Type", "value": mime}],
                    "content": {"size": 10, "mimeType": mime, "text": "/* 3rd */"},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 10,
                },
                "cache": {},
                "timings": {"send": 0, "wait": 12.5, "receive": 0},
            }
        )

    def har(self) -> dict[str, Any]:
        return {
            "log": {
                "version": "1.2",
                "creator": {"name": "loadkit-tests", "version": "1"},
                "pages": [],
                "entries": self.entries,
            }
        }

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.har(), indent=1), encoding="utf-8")
        return path
