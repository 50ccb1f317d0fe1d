"""Turn the recording's page requests into scenario steps (plain dicts, in journey order).

What the recording knows and a replay must not copy, it re-derives:
- a **redirect chain** the browser followed as loadkit would (``chains``) folds into the
  request that started it: one step that follows it, whose expect and captures see the final
  answer; a chain folding would change stays a step per hop (``follow_redirects: false`` on
  each 3xx, the next step GETs its captured Location) with the reason as a comment;
- a **token** in a request (a form field, JSON value, query parameter or Authorization
  header whose value looks random and was served earlier: a hidden ``<input>``, a JSON field,
  a response header) becomes a capture on the page that served it plus a template;
- a **secret** the site did not serve (a password, a card number, an Authorization header
  typed or stored by the browser) becomes ``{{ env.NAME }}``, declared without a value;
- **cookies** are left to the visitor's cookie jar: no Cookie header is copied;
- a **refreshed page** (the same GET several times in a row, e.g. a waiting-room page) becomes
  a ``poll`` until what first appeared on its last answer appears, at the recorded pace;
- the **gaps** between page requests become ``think`` steps.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from loadkit.har.chains import KEPT_HEADERS, Chain, is_redirect
from loadkit.har.model import HarEntry
from loadkit.har.tokens import find_source, looks_like_token

SECRET_NAME = re.compile(
    r"pass(word)?|passwd|pwd|secret|token|api[-_]?key|auth|card|cc[-_]?num|cvc|cvv|\bpin\b|otp",
    re.I,
)
FRESH_NAME = re.compile(r"idempotency|nonce", re.I)
ID_SEGMENT = re.compile(r"^([0-9a-f]{8,}|[0-9a-f-]{36}|\d+)$", re.I)
MIN_THINK_S = 0.3


@dataclass
class Req:
    """One request step being built."""

    entry: HarEntry
    path: str
    hop: bool = False  # a recorded redirect hop kept as its own step: GET {{ next_url }}
    chain: Chain | None = None  # the redirect chain this request starts (folded or not)
    no_follow: bool = False  # a 3xx of a chain kept unfolded: follow_redirects: false
    arrived: str | None = None  # how the browser came here from another host, if it did
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    form: dict[str, Any] | None = None
    json_body: Any = None
    raw_body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def answer(self) -> HarEntry:
        """The answer this step's expect and captures see: a folded chain's final one."""
        return self.chain.answer if self.chain is not None and self.chain.folded else self.entry

    @property
    def notes(self) -> list[str]:
        """What the reader must know about this step's redirects (comments above it)."""
        out = [f"Came from another host: {self.arrived}."] if self.arrived else []
        if self.chain is not None and self.chain.why is not None:
            out.append(f"Redirect not folded: {self.chain.why}.")
        return out


@dataclass
class Names:
    """Variable names handed out so far: captured tokens and environment secrets."""

    by_value: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # NAME -> where it is used

    def var(self, hint: str, value: str) -> str:
        """The variable for a token: named after the field that served it. The same field on
        a later page (a fresh token per page) reuses the name: captures run in order."""
        if value not in self.by_value:
            base = re.sub(r"\W+", "_", hint).strip("_").lower() or "value"
            self.by_value[value] = base if base[0].isalpha() else f"v_{base}"
        return self.by_value[value]

    def secret(self, hint: str, where: str) -> str:
        name = re.sub(r"\W+", "_", hint).strip("_").upper() or "SECRET"
        name = name if name[0].isalpha() else f"X_{name}"
        self.env.setdefault(name, where)
        return "{{ env." + name + " }}"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def shape(path: str) -> str:
    """The path with id-like segments as ``{id}`` and no query: a stable request name."""
    segments = urlsplit(path).path.split("/")
    return "/".join("{id}" if ID_SEGMENT.match(s) else s for s in segments) or "/"


def step_name(path: str) -> str:
    segments = [s for s in urlsplit(path).path.split("/") if s and not ID_SEGMENT.match(s)]
    return ".".join(re.sub(r"[^\w-]+", "_", s) for s in segments) or "home"


def _link(reqs: list[Req], chains: dict[int, Chain]) -> list[Req]:
    """Fold each foldable chain into its first request (its hops are no steps); in a chain
    kept unfolded, every 3xx does not follow and a recorded hop GETs the captured Location."""
    by_index = {r.entry.index: r for r in reqs}
    folded: set[int] = set()
    for index, chain in chains.items():
        by_index[index].chain = chain
        if chain.folded:
            folded.update(e.index for e in chain.members[1:])
            continue
        for prev, cur in itertools.pairwise(chain.members):
            if prev.index in by_index and cur.index in by_index:
                by_index[prev.index].captures["next_url"] = {"header": "Location"}
                by_index[cur.index].path, by_index[cur.index].hop = "{{ next_url }}", True
        for e in chain.members:
            if e.index in by_index and is_redirect(e):
                by_index[e.index].no_follow = True
    return [r for r in reqs if r.entry.index not in folded]


def _captured(reqs: list[Req], k: int, names: Names, value: str) -> str | None:
    """``{{ var }}`` if ``value`` is a token an earlier answer served (and capture it there)."""
    if not looks_like_token(value):
        return None
    found = find_source([r.answer for r in reqs[:k]], value)
    if found is None:
        return None
    at, spec, hint = found
    var = names.var(hint, value)
    reqs[at].captures.setdefault(var, spec)
    return "{{ " + var + " }}"


def _template_value(reqs: list[Req], k: int, names: Names, key: str, value: str, where: str) -> str:
    """A token from an earlier answer → capture + template; a secret → env; else literal."""
    captured = _captured(reqs, k, names, value)
    if captured is not None:
        return captured
    if SECRET_NAME.search(key) and value:
        return names.secret(key, where)
    if FRESH_NAME.search(key) and value:
        return "{{ uuid() }}"  # a key the browser made up: each visitor needs their own
    return literal(value)


def literal(text: str) -> str:
    """Recorded text as a template that renders to itself (``{{`` would open a hole)."""
    return text.replace("{{", "{{ '{{' }}")


def _json_values(reqs: list[Req], k: int, names: Names, data: Any, key: str, where: str) -> Any:
    if isinstance(data, dict):
        return {kk: _json_values(reqs, k, names, v, str(kk), where) for kk, v in data.items()}
    if isinstance(data, list):
        return [_json_values(reqs, k, names, v, key, where) for v in data]
    if isinstance(data, str):
        return _template_value(reqs, k, names, key, data, where)
    return data


def _body(reqs: list[Req], k: int, names: Names) -> None:
    r, e = reqs[k], reqs[k].entry
    where = f"{e.method} {shape(path_of(e.url))}"
    if e.post_mime == "application/x-www-form-urlencoded":
        pairs = parse_qsl(e.post_text, keep_blank_values=True) if e.post_text else e.post_params
        r.form = {n: _template_value(reqs, k, names, n, v, where) for n, v in pairs or ()}
    elif "json" in e.post_mime and e.post_text:
        try:
            data = json.loads(e.post_text)
        except ValueError:
            r.raw_body = literal(e.post_text)
        else:
            r.json_body = _json_values(reqs, k, names, data, "", where)
    elif e.post_text:
        r.raw_body = literal(e.post_text)
        r.headers["Content-Type"] = e.post_mime or "application/octet-stream"


def _query_and_headers(reqs: list[Req], k: int, names: Names) -> None:
    r, e = reqs[k], reqs[k].entry
    where = f"{e.method} {shape(path_of(e.url))}"
    parts = urlsplit(e.url)
    if parts.query and not r.hop:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        shown = []
        for n, v in pairs:
            t = _template_value(reqs, k, names, n, v, where)
            shown.append(f"{quote(n)}={t if t != literal(v) else quote(v)}")
        r.path = literal(parts.path or "/") + "?" + "&".join(shown)
    for name, value in e.request_headers:
        if not KEPT_HEADERS.match(name):
            continue  # browser headers and cookies: the runner and the jar supply their own
        title = "-".join(w.capitalize() for w in name.split("-"))
        if title in r.headers:
            continue  # a repeated header: the first one's value (and capture) stays
        scheme, _, token = value.partition(" ")
        if name == "authorization":
            var = _captured(reqs, k, names, token) if token else None
            r.headers[title] = f"{scheme} {var}" if var else names.secret(name, where)
        else:
            r.headers[title] = _template_value(reqs, k, names, name, value, where)


def build_requests(
    entries: list[HarEntry], names: Names, chains: dict[int, Chain], arrived: dict[int, str]
) -> list[Req]:
    """The steps' requests for the page ``entries`` (in order), redirect ``chains`` folded or
    linked, ``arrived`` notes by entry index; tokens become captures on the answer that served
    them (a folded chain's final answer: its intermediate 3xx answers are not searched)."""
    reqs = [Req(e, literal(path_of(e.url)), arrived=arrived.get(e.index)) for e in entries]
    reqs = _link(reqs, chains)
    for k in range(len(reqs)):
        _query_and_headers(reqs, k, names)
        _body(reqs, k, names)
    return reqs


def median_gap_s(answers: list[HarEntry]) -> float:
    """The median time between the starts of successive requests (at least 0.1 s)."""
    gaps = [b.started_s - a.started_s for a, b in itertools.pairwise(answers)]
    return max(0.1, statistics.median(gaps)) if gaps else 1.0
