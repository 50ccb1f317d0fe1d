"""Read a HAR file (HTTP Archive 1.1/1.2, as browsers' dev tools export it) into frozen entries.

Only the fields the importer uses are required; each missing or mistyped one is reported with
the entry index and key path (``log.entries[3].request.url: missing``), all in one pass, as
``ValidationErrors`` (exit 2). The file is size-capped before it is read.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location
from loadkit.sources import Problems, read_capped_text

MAX_HAR_BYTES = 64 * 1024 * 1024  # a long recording with bodies is tens of MiB


@dataclass(frozen=True)
class HarEntry:
    """One request/response pair of the recording. Header names are lower-case."""

    index: int
    started_s: float  # epoch seconds
    time_ms: float
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    post_mime: str
    post_text: str
    post_params: tuple[tuple[str, str], ...] | None
    status: int
    response_headers: tuple[tuple[str, str], ...]
    mime: str
    content: str
    resource_type: str
    redirect_url: str = ""

    @property
    def ended_s(self) -> float:
        return self.started_s + max(0.0, self.time_ms) / 1000

    def response_header(self, name: str) -> str | None:
        return next((v for k, v in self.response_headers if k == name), None)

    @property
    def location(self) -> str:
        """Where a redirect pointed: the Location header, else the HAR's ``redirectURL``."""
        return self.response_header("location") or self.redirect_url


@dataclass(frozen=True)
class Har:
    path: str
    version: str
    creator: str
    entries: tuple[HarEntry, ...]  # in start order


def read_har(path: str | Path) -> Har:
    """Parse and check ``path``; raises InputError (not found, too big, not JSON) or
    ValidationErrors (every missing or mistyped field, by entry)."""
    text = _read_bounded(Path(path))
    where = Location(str(path))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(
            f"this is not a HAR file: not valid JSON ({exc})",
            location=where,
            hint="Export it from the browser's network panel with 'Save all as HAR'.",
        ) from None
    problems = Problems()
    har = _har(str(path), data, problems)
    problems.raise_if_any()
    assert har is not None
    return har


def _read_bounded(path: Path) -> str:
    """The file's text, refused before reading if it is over MAX_HAR_BYTES or not a regular
    file (a pipe or a device could be endless)."""
    where = Location(str(path))
    try:
        return read_capped_text(path, MAX_HAR_BYTES, "HAR file")
    except FileNotFoundError:
        raise InputError("HAR file not found", location=where, hint="Check the path.") from None
    except UnicodeDecodeError:
        raise InputError(
            "the HAR file is not UTF-8 text", location=where, hint="Export it again as .har."
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read the HAR file: {exc.strerror or exc}", location=where
        ) from None


class _Fields:
    """Typed access to one JSON object, recording a problem per missing or mistyped field."""

    def __init__(self, path: str, key_path: str, data: Any, problems: Problems) -> None:
        self.path, self.key_path, self.problems = path, key_path, problems
        self.data = data if isinstance(data, dict) else {}
        if not isinstance(data, dict):
            self._problem("", "must be an object")

    def _problem(self, key: str, message: str) -> None:
        kp = f"{self.key_path}.{key}" if key else self.key_path
        self.problems.add(message, Location(self.path, key_path=kp))

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
        if key not in self.data:
            if required:
                self._problem(key, "missing (required by HAR 1.2)")
            return None
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self._problem(key, f"must be {_TYPE_NAMES.get(names, names)}, got {value!r:.40}")
            return None
        return value

    def sub(self, key: str) -> _Fields:
        return _Fields(
            self.path, f"{self.key_path}.{key}", self.get(key, dict) or {}, self.problems
        )


_TYPE_NAMES = {"str": "text", "int/float": "a number", "int": "an integer", "list": "a list"}


def _har(path: str, data: Any, problems: Problems) -> Har | None:
    log = _Fields(path, "log", data.get("log") if isinstance(data, dict) else None, problems)
    if not isinstance(data, dict) or "log" not in data:
        return None
    version = log.get("version", str) or "?"
    creator = log.sub("creator").get("name", str, required=False) or "unknown"
    raw_entries = log.get("entries", list) or []
    entries = [_entry(path, i, raw, problems) for i, raw in enumerate(raw_entries)]
    if not raw_entries and not problems:
        problems.add("the recording has no entries", Location(path, key_path="log.entries"))
    kept = sorted((e for e in entries if e is not None), key=lambda e: (e.started_s, e.index))
    return Har(path, version, creator, tuple(kept))


def _headers(f: _Fields, key: str) -> tuple[tuple[str, str], ...]:
    out = []
    for i, h in enumerate(f.get(key, list) or []):
        hf = _Fields(f.path, f"{f.key_path}.{key}[{i}]", h, f.problems)
        name, value = hf.get("name", str), hf.get("value", str)
        if name is not None and value is not None:
            out.append((name.lower(), value))
    return tuple(out)


def _entry(path: str, i: int, raw: Any, problems: Problems) -> HarEntry | None:
    before = len(problems.errors)
    e = _Fields(path, f"log.entries[{i}]", raw, problems)
    started = _timestamp(e, e.get("startedDateTime", str))
    time_ms = e.get("time", (int, float))
    e.get("timings", dict)
    req, resp = e.sub("request"), e.sub("response")
    method, url = req.get("method", str), req.get("url", str)
    req_headers = _headers(req, "headers")
    post = req.get("postData", dict, required=False)
    status = resp.get("status", int)
    resp_headers = _headers(resp, "headers")
    content = resp.sub("content")
    mime = content.get("mimeType", str) or ""
    text = _content_text(content)
    post_mime, post_text, params = _post(req, post)
    if len(problems.errors) > before:
        return None
    assert method is not None and url is not None and status is not None and started is not None
    return HarEntry(
        index=i,
        started_s=started,
        time_ms=float(time_ms or 0.0),
        method=method.upper(),
        url=url,
        request_headers=req_headers,
        post_mime=post_mime,
        post_text=post_text,
        post_params=params,
        status=status,
        response_headers=resp_headers,
        mime=mime.split(";")[0].strip().lower(),
        content=text,
        resource_type=str(e.data.get("_resourceType", "")).lower(),
        redirect_url=str(resp.data.get("redirectURL") or ""),
    )


def _timestamp(e: _Fields, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        e._problem("startedDateTime", f"must be an ISO 8601 date and time, got {text!r:.40}")
        return None


def _content_text(content: _Fields) -> str:
    text = content.get("text", str, required=False) or ""
    if content.data.get("encoding") == "base64":
        try:
            return base64.b64decode(text).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            content._problem("text", "is marked base64 but is not")
    return text


def _post(
    req: _Fields, post: dict[str, Any] | None
) -> tuple[str, str, tuple[tuple[str, str], ...] | None]:
    if post is None:
        return "", "", None
    pf = _Fields(req.path, f"{req.key_path}.postData", post, req.problems)
    mime = (pf.get("mimeType", str) or "").split(";")[0].strip().lower()
    text = pf.get("text", str, required=False) or ""
    raw_params = pf.get("params", list, required=False)
    params = None
    if raw_params:
        pairs = []
        for i, p in enumerate(raw_params):
            ppf = _Fields(pf.path, f"{pf.key_path}.params[{i}]", p, pf.problems)
            name = ppf.get("name", str)
            pairs.append((name or "", ppf.get("value", str, required=False) or ""))
        params = tuple(pairs)
    return mime, text, params
