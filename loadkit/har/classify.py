"""Which recorded requests become steps: page and API requests to the site, in order.

Left out (and listed in the generated file): static assets, by the browser's resource type,
the response's MIME type or the path's extension; requests to other hosts (third parties:
CDNs, analytics, fonts); CORS preflights; anything that is not http(s).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from loadkit.har.model import HarEntry

STATIC_TYPES = {"stylesheet", "script", "image", "font", "media", "manifest", "texttrack"}
# beacons, preflights and streams a browser makes on its own: not steps of a journey
BROWSER_TYPES = {"ping", "preflight", "websocket", "eventsource", "csp_violation_report"}
STATIC_MIME_PREFIXES = ("image/", "font/", "audio/", "video/")
STATIC_MIMES = {
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/wasm",
    "application/font-woff",
    "application/font-woff2",
    "application/vnd.ms-fontobject",
    "application/manifest+json",
}
STATIC_EXTENSIONS = {
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp",
    ".avif", ".bmp", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3",
    ".wav", ".ogg", ".wasm", ".webmanifest",
}  # fmt: skip


class Kind(StrEnum):
    PAGE = "page"
    STATIC = "static asset"
    THIRD_PARTY = "third-party host"
    OTHER = "not imported"


@dataclass(frozen=True)
class Classified:
    entry: HarEntry
    kind: Kind
    why: str


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL (default ports left out), lower-case."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{port}" if port and port != default else "")


def _is_static(e: HarEntry) -> str | None:
    if e.resource_type in STATIC_TYPES:
        return e.resource_type
    if e.mime.startswith(STATIC_MIME_PREFIXES) or e.mime in STATIC_MIMES:
        return e.mime
    path = urlsplit(e.url).path.lower()
    ext = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
    return f"*{ext}" if ext in STATIC_EXTENSIONS else None


def site_origin(entries: tuple[HarEntry, ...]) -> str | None:
    """The site the recording is of: the origin of its first HTML document (else of its first
    request that is not a static asset)."""
    web = [e for e in entries if urlsplit(e.url).scheme in ("http", "https")]
    for e in web:
        if e.mime == "text/html" or e.resource_type == "document":
            return origin(e.url)
    first = next((e for e in web if _is_static(e) is None), None)
    return origin(first.url) if first else None


def classify(entries: tuple[HarEntry, ...], site: str) -> list[Classified]:
    out = []
    for e in entries:
        if urlsplit(e.url).scheme not in ("http", "https"):
            out.append(Classified(e, Kind.OTHER, "not http(s)"))
        elif origin(e.url) != site:
            out.append(Classified(e, Kind.THIRD_PARTY, origin(e.url)))
        elif e.method == "OPTIONS":
            out.append(Classified(e, Kind.OTHER, "CORS preflight"))
        elif e.resource_type in BROWSER_TYPES:
            out.append(Classified(e, Kind.OTHER, e.resource_type))
        elif e.status < 100:  # blocked, cancelled or failed in the browser: no answer
            out.append(Classified(e, Kind.OTHER, "no response"))
        elif (why := _is_static(e)) is not None:
            out.append(Classified(e, Kind.STATIC, why))
        else:
            out.append(Classified(e, Kind.PAGE, ""))
    return out
