"""Any well-formed HAR imports into a scenario that validates, or is refused with exit 2: never
a crash, never a file ``loadkit validate`` rejects (odd text, tokens, redirects, secrets)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadkit.errors import InputError
from loadkit.har import import_har
from loadkit.scenario import load_scenario
from tests.har.test_import_har import _entry

SITE = "https://shop.example.com"
words = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["{{ x }}", "}}", "{%", "#", ": x", "- a", "'", '"', "\\", "é", "a b", "true"]),
    st.sampled_from(["a1b2c3d4e5f6a7b8c9d0", "tok_0123456789abcdefXYZ", "4242424242424242"]),
)
paths = st.lists(st.sampled_from(["a", "b", "0123456789abcdef", "42", "x y", "é"]), max_size=3)


@st.composite
def entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    t = 0.0
    for _ in range(draw(st.integers(1, 6))):
        t += draw(st.sampled_from([0.0, 0.05, 0.4, 2.0]))
        host = draw(st.sampled_from([SITE, SITE, SITE, "https://cdn.other.example"]))
        path = "/" + "/".join(draw(paths))
        query = draw(st.dictionaries(st.sampled_from(["q", "token", "page"]), words, max_size=2))
        url = host + path + (f"?{urlencode(query)}" if query else "")
        method = draw(st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "OPTIONS"]))
        status = draw(st.sampled_from([200, 201, 301, 302, 303, 307, 404, 0]))
        fields = draw(st.dictionaries(st.sampled_from(["csrf", "password", "name", "card"]), words))
        body = draw(
            st.sampled_from(
                [
                    None,
                    ("application/x-www-form-urlencoded", urlencode(fields)),
                    ("application/json", json.dumps(fields)),
                    ("text/plain", "raw {{ body }}"),
                ]
            )
        )
        hidden = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        mime = draw(st.sampled_from(["text/html", "application/json", "text/css", "image/png"]))
        text = f"<form>{hidden}</form>" if mime == "text/html" else json.dumps(fields)
        location = draw(st.sampled_from(["/a", "/b#f", "https://cdn.other.example/x"]))
        out.append(
            _entry(
                method,
                url,
                status,
                at=t,
                mime=mime,
                text=text,
                post=body if method in ("POST", "PUT") else None,
                headers=draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(["Authorization", "X-Token", "Cookie", "Accept"]),
                            words,
                        ),
                        max_size=2,
                    )
                ),
                response_headers=[("Location", location), ("Refresh", "2")],
            )
        )
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recorded=entries())
def test_any_recording_imports_to_a_valid_scenario_or_is_refused(
    recorded: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        har = Path(tmp) / "rec.har"
        data = {"log": {"version": "1.2", "creator": {"name": "fuzz"}, "entries": recorded}}
        har.write_text(json.dumps(data))
        try:
            text = import_har(har)
        except InputError as exc:
            assert "no page request" in str(exc)
            return
        out = Path(tmp) / "out.yaml"
        out.write_text(text)
        load_scenario(out)
        for body in _bodies(yaml.safe_load(text)["personas"]["visitor"]["steps"]):
            for field in ("password", "card"):  # a secret is never copied (empty stays empty)
                assert body.get(field) in (None, "") or "{{" in str(body[field]), body


def _bodies(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        request = step.get("request")
        if isinstance(request, dict):
            out += [b for b in (request.get("form"), request.get("json")) if isinstance(b, dict)]
        out += _bodies(step.get("poll", {}).get("steps", []))
    return out
