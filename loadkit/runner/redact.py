"""Strip credentials from text before it is stored (error texts in records, reasons, logs)."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_ERROR_CHARS = 300
REDACTED = "[redacted]"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # a header line or "name=value" of a credential-carrying header
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key)"
            r"(\s*[:=]\s*)[^\r\n]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), rf"\1 {REDACTED}"),
    # JSON or query fields holding secrets
    (
        re.compile(
            r"(?i)\b((?:access_|refresh_|id_)?token|password|passwd|secret|session(?:id)?"
            r"|[\w-]*(?:csrf|xsrf)[\w-]*|authenticity_token|__requestverificationtoken)"
            r"(\"?'?\s*[:=]\s*\"?'?)[^\"'&\s,;}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),  # JWTs
    (re.compile(r"(?i)(\w+://)[^/\s:@]+:[^/\s@]*@"), rf"\1{REDACTED}@"),  # user:pass@ in URLs
)


MIN_SECRET_CHARS = 4  # shorter values ("1", "yes") would blot out ordinary text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value (a captured CSRF token, anything
    captured with ``secret: true``) replaced by ``[redacted]``; values shorter than
    ``MIN_SECRET_CHARS`` are left alone."""
    for value in secrets:
        if len(value) >= MIN_SECRET_CHARS and value in text:
            text = text.replace(value, REDACTED)
    return text


def redact(text: str, *, max_chars: int = MAX_ERROR_CHARS) -> str:
    """Return ``text`` with credentials, cookies and tokens replaced, cut to ``max_chars``.

    Only the first ``4 * max_chars + 1000`` characters are read (the rest could only show
    once redactions shrank the text by thousands of characters): some rules take time
    quadratic in the length of one word, 14 s for a 100,000-letter ``leave:`` reason.
    """
    scanned = text[: 4 * max_chars + 1000]
    for pattern, repl in _RULES:
        scanned = pattern.sub(repl, scanned)
    if len(scanned) > max_chars or len(text) > 4 * max_chars + 1000:
        scanned = scanned[: max_chars - 1] + "…"
    return scanned


__all__ = ["MAX_ERROR_CHARS", "MIN_SECRET_CHARS", "REDACTED", "redact", "scrub"]
