"""Recorded redirect chains: which ones fold into the request that started them.

loadkit follows redirects like a browser (``runner.journey.redirects``: at most 10 hops,
301/302 turn a POST into a GET and 303 anything but HEAD, 307/308 keep method and body, the
same headers, every hop's host on the allow-list). A chain the browser followed exactly that
way is written as one request step that follows it, as a person writes it by hand: the POST
that answered 302 and the GET of its ``Location`` become ``POST /checkout`` expecting the
final page. A chain is folded whole or not at all (``follow_redirects`` covers every hop of a
request); one that folding would change — the replay would send what the recording did not —
stays a step per hop and carries the reason, written above its first step as a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from loadkit.har.classify import Classified, Kind, origin
from loadkit.har.model import HarEntry
from loadkit.hosts import is_loopback

REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 10  # runner.journey.redirects.MAX_REDIRECTS (the runner is not imported here)
# the request headers a generated step sends (the runner re-sends them on every hop)
KEPT_HEADERS = re.compile(r"^(x-[\w-]+|authorization|idempotency-key)$", re.I)


@dataclass(frozen=True)
class Chain:
    """A redirect the site answered and what the browser did next.

    ``members`` is the request that answered 3xx first, then each recorded hop (the browser's
    request to the previous answer's Location), in order. ``why`` is None when the chain folds
    into its first member; else a sentence saying why the hops stay steps of their own.
    """

    members: tuple[HarEntry, ...]
    why: str | None

    @property
    def folded(self) -> bool:
        return self.why is None

    @property
    def answer(self) -> HarEntry:
        """The answer the chain ended with (the one a folded step's expect and capture see)."""
        return self.members[-1]


def is_redirect(e: HarEntry) -> bool:
    return e.status in REDIRECTS and bool(e.location)


def target_of(e: HarEntry) -> tuple[str, str] | None:
    """The absolute URL a redirect points to, without a fragment (browsers never send it),
    and its origin; None when the Location is not a URL (a bad port, a broken IPv6 host)."""
    try:
        target = urldefrag(urljoin(e.url, e.location.strip()))[0]
        return target, origin(target)
    except ValueError:
        return None


def redirect_chains(classified: list[Classified], site: str) -> dict[int, Chain]:
    """Every redirect chain started by a page request, keyed by its first entry's ``index``.

    A page request that answered 3xx with a Location and is not itself a hop of an earlier
    chain starts one. Pure: reads the recording only.
    """
    chains: dict[int, Chain] = {}
    hops: set[int] = set()
    for at, c in enumerate(classified):
        if c.kind is Kind.PAGE and is_redirect(c.entry) and c.entry.index not in hops:
            chain = _chain(classified, at, site)
            chains[c.entry.index] = chain
            hops.update(e.index for e in chain.members[1:])
    return chains


def returns_from_elsewhere(classified: list[Classified], site: str) -> dict[int, str]:
    """Page requests the browser made because another host redirected it back to the site
    (a sign-in or payment provider's callback), keyed by ``index``: a note saying that what
    the URL carries from there is the recording's."""
    notes: dict[int, str] = {}
    for at, c in enumerate(classified):
        if c.kind is not Kind.THIRD_PARTY or not is_redirect(c.entry):
            continue
        target = target_of(c.entry)
        if target is None or target[1] != site:
            continue
        back = next((b for b in classified[at + 1 :] if url_of(b.entry) == target[0]), None)
        if back is not None and back.kind is Kind.PAGE:
            notes[back.entry.index] = (
                f"the browser came here by a {c.entry.status} from {origin(c.entry.url)} (left "
                "out): what that host handed over in this URL (a sign-in code, a payment "
                "reference) is the recording's and is likely refused on replay"
            )
    return notes


def _chain(classified: list[Classified], at: int, site: str) -> Chain:
    members = [classified[at].entry]
    while True:
        cur = members[-1]
        which = _which(members)
        resolved = target_of(cur)
        if resolved is None:
            bad = f"{which} points to {cur.location[:80]!r}, which is not a usable URL"
            return Chain(tuple(members), bad)
        target, there = resolved
        if there != site:
            return Chain(tuple(members), _elsewhere(which, target, site))
        found = _follow_up(classified, at, target, which)
        if isinstance(found, str):
            return Chain(tuple(members), found)
        at, hop = found
        why = _differs(members[0], cur, hop)
        if why is None and len(members) > MAX_HOPS:
            why = (f"more than {MAX_HOPS} redirects in a row: loadkit follows at most "
                   f"{MAX_HOPS} and fails the next one")  # fmt: skip
        members.append(hop)
        if why is not None or not is_redirect(hop):
            return Chain(tuple(members), why)


def _which(members: list[HarEntry]) -> str:
    """The chain's last 3xx, as the comment above its first request names it."""
    last = members[-1]
    if len(members) == 1:
        return f"this {last.status}"
    return f"the {last.status} of redirect {len(members) - 1} ({last.method} {_short(last.url)})"


def _follow_up(
    classified: list[Classified], at: int, target: str, which: str
) -> tuple[int, HarEntry] | str:
    """The browser's request to ``target`` after entry ``at`` (assets, beacons and other hosts
    in between are skipped), or why there is none: another page request came first, or the
    recording ends."""
    for k in range(at + 1, len(classified)):
        c = classified[k]
        if c.kind is Kind.OTHER and c.why != "no response":
            continue  # a preflight, a beacon: not the browser following the redirect
        if url_of(c.entry) == target:
            if c.entry.status < 100:
                return (f"the browser's request to {_short(target)} after {which} got no "
                        "answer in the recording (cancelled or blocked): the final page's "
                        "status is unknown")  # fmt: skip
            return k, c.entry
        if c.kind is Kind.PAGE:
            return (f"{which} points to {_short(target)}, but the next request "
                    f"the browser made is {c.entry.method} {_short(c.entry.url)}: following "
                    "it would send a request the recording does not have")  # fmt: skip
    return (f"the recording ends at {which} to {_short(target)} (the browser's "
            "request there is missing): following it would send a request the recording does "
            "not have; to follow it, delete follow_redirects: false and expect the final "
            "page's status")  # fmt: skip


def url_of(e: HarEntry) -> str:
    """The entry's URL without a fragment: what a Location is compared with."""
    return urldefrag(e.url)[0]


def becomes_get(status: int, method: str) -> bool:
    """True when a browser (and loadkit) follows a ``status`` answer to ``method`` with a GET
    without the body; else the hop keeps the method and the body."""
    return (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST")


def _differs(first: HarEntry, redirect: HarEntry, hop: HarEntry) -> str | None:
    """Why sending ``hop`` automatically (after ``redirect``) is not what the browser sent."""
    to_get = becomes_get(redirect.status, redirect.method)
    method = "GET" if to_get else redirect.method
    where = f"{hop.method} {_short(hop.url)}"
    if hop.method != method:
        return (f"a {redirect.status} to a {redirect.method} is followed with {method}, but the "
                f"browser sent {where}: following would send another request than recorded")  # fmt: skip
    if _body(hop) != ("" if to_get else _body(redirect)):
        body = (
            "a body the redirect would not carry" if to_get else "another body than the request's"
        )
        return (f"the browser sent {where} with {body}: following would send another request "
                "than recorded")  # fmt: skip
    if _kept_headers(hop) != _kept_headers(first):
        return (f"the browser sent {where} with other headers (Authorization, X-*, "
                "Idempotency-Key) than the request: following would re-send the request's")  # fmt: skip
    return None


def _body(e: HarEntry) -> str:
    if e.post_text:
        return e.post_text
    return "&".join(f"{k}={v}" for k, v in e.post_params or ())


def _kept_headers(e: HarEntry) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in e.request_headers if KEPT_HEADERS.match(k))


def _elsewhere(which: str, target: str, site: str) -> str:
    host = (urlsplit(target).hostname or "").lower()
    there = origin(target)  # parsed once already (target_of): cannot raise here
    if urlsplit(target).scheme not in ("http", "https") or not host:
        return (f"{which} points to {target[:80]!r}, not an http(s) URL on "
                "the site: loadkit would refuse to follow it")  # fmt: skip
    if is_loopback(host) or host == (urlsplit(site).hostname or "").lower():
        return (f"{which} sends the browser to {there}, another origin than the "
                f"site {site}: requests there were left out (listed at the end)")  # fmt: skip
    return (f"{which} sends the browser to {there}, another host (requests "
            f"there were left out, listed at the end). loadkit refuses a hop to a host not on "
            f"allow_hosts, so this request does not follow it. A sign-in or payment on another "
            f"host cannot be replayed from this recording: rehearse with test accounts the "
            f"site accepts without it, or, only if you own {host} and may load it, add it to "
            f"allow_hosts and write those steps by hand")  # fmt: skip


def _short(url: str, limit: int = 80) -> str:
    """A URL on the site as its path (the chain's URLs are on the site), clipped."""
    parts = urlsplit(url)
    shown = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
