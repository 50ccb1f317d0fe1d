"""``import_har``: a browser recording (HAR) → a readable scenario skeleton (YAML text).

One persona, ``visitor``, whose journey is the recording's page requests in order (see
``build`` for how tokens, secrets, redirects, refreshes and gaps are handled). What was left
out is listed in comments at the end, so nothing disappears silently.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from loadkit.errors import InputError, Location
from loadkit.har.build import (
    MIN_THINK_S,
    Names,
    Req,
    build_requests,
    median_gap_s,
    path_of,
    shape,
    step_name,
)
from loadkit.har.chains import redirect_chains, returns_from_elsewhere, url_of
from loadkit.har.classify import Classified, Kind, classify, site_origin
from loadkit.har.emit import COMMENT, block, comment, scalar
from loadkit.har.model import Har, HarEntry, read_har
from loadkit.har.tokens import looks_like_token

LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}
ATTRIBUTE = re.compile(r'[\w:-]+="[^"]{0,60}"')
MAX_LISTED = 40
REGEX_SPECIAL = re.compile(r"[.^$*+?()\[\]{}|\\]")


def import_har(path: str | Path, name: str | None = None) -> str:
    """The scenario YAML for the HAR at ``path``; raises InputError / ValidationErrors (exit 2)
    for a file that is not a HAR or lacks required fields, or holds no page request."""
    har = read_har(path)
    site = site_origin(har.entries)
    classified = classify(har.entries, site) if site else []
    pages = [c.entry for c in classified if c.kind is Kind.PAGE]
    if not pages:
        raise InputError(
            "the recording holds no page request to the site (only static assets or other hosts)",
            location=Location(str(path)),
            hint="Record with the network panel open from the first page, 'Preserve log' on.",
        )
    names = Names()
    chains = redirect_chains(classified, site or "")
    reqs = build_requests(pages, names, chains, returns_from_elsewhere(classified, site or ""))
    steps = _journey(reqs)
    hops = sum(len(c.members) - 1 for c in chains.values() if c.folded)
    return _document(har, site or "", name or Path(path).stem, steps, names, classified, hops)


def _request_step(r: Req, captures: dict[str, Any] | None = None) -> dict[str, Any]:
    e = r.entry
    request: dict[str, Any] = {"method": e.method, "path": r.path}
    if r.headers:
        request["headers"] = r.headers
    if r.form is not None:
        request["form"] = r.form
    elif r.json_body is not None:
        request["json"] = r.json_body
    elif r.raw_body is not None:
        request["body"] = r.raw_body
    if r.no_follow:  # its recorded hops are steps of their own (or must not be sent)
        request["follow_redirects"] = False
    recorded = shape(path_of(e.url))
    if r.hop or "{id}" in recorded:
        request["name"] = f"{e.method} {recorded}"
    simple = list(request) == ["method", "path"]
    step: dict[str, Any] = {
        "name": step_name(e.url),
        "request": f"{e.method} {r.path}" if simple and e.method == "GET" else request,
        "expect": {"status": r.answer.status},
    }
    if r.notes:
        step = {COMMENT: [line for note in r.notes for line in _wrapped(note)], **step}
    caps = r.captures if captures is None else captures
    if caps:
        step["capture"] = caps
    return step


def _wrapped(text: str, width: int = 88) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _same_page(a: Req, b: Req) -> bool:
    return b.entry.method == "GET" == a.entry.method and a.entry.url == b.entry.url


def _marker(answers: list[HarEntry]) -> str | None:
    """An attribute (``data-state="admitted"``) on the last answer that no earlier one had:
    what the visitor was waiting for."""
    earlier = {m for a in answers[:-1] for m in ATTRIBUTE.findall(a.content)}
    new = (m for m in ATTRIBUTE.findall(answers[-1].content) if m not in earlier)
    # not a per-answer random value (an id, a nonce): a replay would never see it again
    return next((m for m in new if not looks_like_token(m.split('="', 1)[1][:-1])), None)


def _landed_on(prev: Req | None, r: Req) -> HarEntry | None:
    """The final answer of the folded redirect chain just before ``r`` when it is the page
    ``r`` fetches again (a join that redirects to the waiting-room page): the first look at
    the page a poll refreshes."""
    if prev is None or prev.chain is None or not prev.chain.folded or r.entry.method != "GET":
        return None
    return prev.answer if url_of(prev.answer) == url_of(r.entry) else None


def _poll(group: list[Req], n: int, landed: HarEntry | None) -> dict[str, Any] | None:
    answers = ([landed] if landed is not None else []) + [r.answer for r in group]
    marker = _marker(answers) if len(answers) > 1 else None
    if marker is None:
        return None
    ready = "ready" if n == 1 else f"ready_{n}"
    captures: dict[str, Any] = {
        ready: {"regex": REGEX_SPECIAL.sub(r"\\\g<0>", marker), "default": ""}
    }
    for r in group:  # a token served by the page: keep the last one seen
        captures.update({k: {**v, "default": None} for k, v in r.captures.items()})
    gap_s = median_gap_s(answers)
    asked = next(
        (h for h in ("refresh", "retry-after") for a in answers[:-1] if a.response_header(h)),
        None,
    )
    interval: Any = f"{gap_s:.1f}s"
    if asked:
        interval = {"header": asked.title(), "fallback": f"{gap_s:.1f}s", "min": "0.2s"}
    steps = [_request_step(group[0], captures)]
    return {
        "name": step_name(group[0].entry.url),
        "poll": {
            "until": f"{ready} != ''",
            "interval": interval,
            "deadline": "30m",
            "steps": steps,
        },
    }


def _journey(reqs: list[Req]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    i, polls, last_end = 0, 0, None
    while i < len(reqs):
        j = i + 1
        while j < len(reqs) and _same_page(reqs[j - 1], reqs[j]) and not reqs[j - 1].captures:
            j += 1
        group = reqs[i:j]
        gap_s = 0.0 if last_end is None else group[0].entry.started_s - last_end
        if gap_s >= MIN_THINK_S and not group[0].hop:
            steps.append({"think": f"{gap_s:.1f}s"})
        poll = _poll(group, polls + 1, _landed_on(reqs[i - 1] if i else None, group[0]))
        if poll is not None:
            polls += 1
            steps.append(poll)
        else:
            steps.extend(_request_step(r) for r in group)
        last_end, i = group[-1].answer.ended_s, j
    return steps


def _left_out(classified: list[Classified]) -> list[str]:
    lines = []
    for kind in (Kind.STATIC, Kind.THIRD_PARTY, Kind.OTHER):
        items = [c for c in classified if c.kind is kind]
        if not items:
            continue
        lines.append(f"# Left out, {kind.value} ({len(items)}):")
        seen = Counter((c.entry.method, c.entry.url[:140], c.why) for c in items)
        for (method, url, why), n in list(seen.items())[:MAX_LISTED]:
            line = f"#   {method} {url}  ({why})" + (f" ×{n}" if n > 1 else "")
            lines.append(comment(line))
        if len(seen) > MAX_LISTED:
            lines.append(f"#   ... and {len(seen) - MAX_LISTED} more")
    return lines


def _document(
    har: Har,
    site: str,
    name: str,
    steps: list[dict[str, Any]],
    names: Names,
    classified: list[Classified],
    hops: int,
) -> str:
    counts = Counter(c.kind for c in classified)
    slug = re.sub(r"[^\w.-]+", "-", name)
    host = site.split("://", 1)[1].rsplit(":", 1)[0] if "]" not in site else site.split("://")[1]
    head = [
        f"# Imported from {Path(har.path).name} (HAR {har.version}, {har.creator}) by"
        " `loadkit import-har`: a skeleton to review, then `loadkit validate` and `loadkit try`.",
        f"# {counts[Kind.PAGE]} page requests became steps"
        + (f" ({hops} redirect hops folded into the request that started them)" if hops else "")
        + f"; left out: {counts[Kind.STATIC]} static assets, {counts[Kind.THIRD_PARTY]} requests"
        " to other hosts (listed at the end).",
        "# Cookies are kept per visitor by loadkit's cookie jar: no Cookie header is copied.",
        "# Redirects are followed as the browser did (loadkit follows them by default); a chain",
        "# that could not be folded says why above its step, and its 3xx do not follow.",
        f"name: {scalar(slug)}",
        f"description: {scalar('Recorded journey on ' + site)}",
        f"host: {scalar(site)}",
    ]
    if host not in LOOPBACK:
        head.append(f"allow_hosts: [{scalar(host)}]")
    if names.env:
        head.append("env:  # secrets from the recording: never stored here; export them")
        head += [comment(f"  {k}: null  # used by {v}") for k, v in sorted(names.env.items())]
    body = block({"personas": {"visitor": {"weight": 1, "steps": steps}}}, 0)
    head = [comment(line) if line.startswith("#") else line for line in head]
    return "\n".join([*head, *body, *_left_out(classified)]) + "\n"


def import_har_to(path: str | Path, out: str | Path | None) -> str:
    """``import_har`` written to ``out`` (the scenario named after it); returns the YAML when
    ``out`` is None, else a one-line note for the user. InputError if ``out`` cannot be written."""
    text = import_har(path, Path(out).stem if out is not None else None)
    if out is None:
        return text
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the scenario: {exc}", location=Location(str(out))) from None
    return f"wrote {out}: review it, then `loadkit validate {out}` and `loadkit try {out}`\n"
