"""``loadkit import-har`` on hand-made recordings: what is kept, what becomes a capture or an
env variable, and the exit-2 messages for files that are not (complete) HARs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.cli import main
from loadkit.har import import_har
from loadkit.har import model as har_model
from loadkit.scenario import load_scenario

SITE = "https://shop.example.com"
TOKEN = "eyJhbGciOi.J9abc123DEF456ghi789"


def _entry(
    method: str,
    url: str,
    status: int = 200,
    *,
    at: float = 0.0,
    mime: str = "text/html",
    text: str = "",
    headers: list[tuple[str, str]] | None = None,
    response_headers: list[tuple[str, str]] | None = None,
    post: tuple[str, str] | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/2",
        "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in headers or []],
        "queryString": [],
        "headersSize": -1,
        "bodySize": 0,
    }
    if post is not None:
        request["postData"] = {"mimeType": post[0], "text": post[1]}
    return {
        "startedDateTime": f"2026-06-01T10:00:{at:06.3f}Z",
        "time": 50,
        "request": request,
        "response": {
            "status": status,
            "statusText": "",
            "httpVersion": "HTTP/2",
            "cookies": [],
            "headers": [{"name": k, "value": v} for k, v in response_headers or []],
            "content": {"size": len(text), "mimeType": mime, "text": text},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(text),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 50, "receive": 0},
    }


def _har(tmp_path: Path, entries: list[dict[str, Any]], name: str = "rec.har") -> Path:
    path = tmp_path / name
    data = {"log": {"version": "1.2", "creator": {"name": "Firefox"}, "entries": entries}}
    path.write_text(json.dumps(data))
    return path


def _steps(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(text)["personas"]["visitor"]["steps"])


def test_an_api_journey_captures_tokens_from_json_and_hides_typed_secrets(tmp_path: Path) -> None:
    login = json.dumps({"email": "fan@example.com", "password": "hunter2-secret"})
    har = _har(
        tmp_path,
        [
            _entry("GET", f"{SITE}/", text="<html><script src='/app.js'></script></html>"),
            _entry("GET", f"{SITE}/app.js", at=0.1, mime="application/javascript"),
            _entry("GET", f"{SITE}/img/logo", at=0.1, mime="image/png"),
            _entry(
                "GET", "https://www.googletagmanager.com/gtm.js", at=0.2, mime="text/javascript"
            ),
            _entry(
                "POST",
                f"{SITE}/api/login",
                at=3.05,
                mime="application/json",
                text=json.dumps({"session": {"access_token": TOKEN}}),
                post=("application/json", login),
            ),
            _entry(
                "GET",
                f"{SITE}/api/me?lang=en",
                at=5.63,
                mime="application/json",
                text="{}",
                headers=[
                    ("Authorization", f"Bearer {TOKEN}"),
                    ("Cookie", "sid=s3cr3tc00kie"),
                    ("User-Agent", "Firefox"),
                ],
            ),
            _entry(
                "GET",
                f"{SITE}/api/other",
                at=6.0,
                mime="application/json",
                text="{}",
                headers=[("Authorization", "Basic dXNlcjpwYXNzd29yZDEyMw==")],
            ),
        ],
    )
    text = import_har(har)
    steps = _steps(text)
    requests = [s["request"] for s in steps if "request" in s]
    assert [r if isinstance(r, str) else r["path"] for r in requests] == [
        "GET /",
        "/api/login",
        "/api/me?lang=en",
        "/api/other",
    ]
    login_step = next(s for s in steps if s.get("name") == "api.login")
    assert login_step["capture"] == {"access_token": {"json": "$.session.access_token"}}
    assert login_step["request"]["json"] == {
        "email": "fan@example.com",
        "password": "{{ env.PASSWORD }}",
    }
    assert requests[2]["headers"] == {"Authorization": "Bearer {{ access_token }}"}
    assert requests[3]["headers"] == {"Authorization": "{{ env.AUTHORIZATION }}"}
    assert [s["think"] for s in steps if "think" in s] == ["3.0s", "2.5s", "0.3s"]
    for secret in ("hunter2-secret", TOKEN, "s3cr3tc00kie", "dXNlcjpwYXNzd29yZDEyMw"):
        assert secret not in text
    assert "allow_hosts: [shop.example.com]" in text
    assert "#   GET https://www.googletagmanager.com/gtm.js" in text
    assert "#   GET https://shop.example.com/img/logo  (image/png)" in text
    scenario = load_scenario(_written(tmp_path, text))
    assert dict(scenario.env) == {"PASSWORD": None, "AUTHORIZATION": None}


def _written(tmp_path: Path, text: str) -> Path:
    out = tmp_path / "out.yaml"
    out.write_text(text)
    return out


def test_a_repeated_page_without_a_change_is_kept_as_recorded(tmp_path: Path) -> None:
    page = "<p class='x'>same</p>"
    har = _har(tmp_path, [_entry("GET", f"{SITE}/wait", at=t, text=page) for t in (0, 1, 2)])
    steps = _steps(import_har(har))
    assert [s.get("request") for s in steps if "request" in s] == ["GET /wait"] * 3


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out + captured.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json at all {", "not a HAR file: not valid JSON"),
        ("[]", "log: must be an object"),
        ('{"log": {"version": "1.1", "entries": {}}}', "log.entries: must be a list"),
        ('{"log": {"version": "1.2", "entries": []}}', "log.creator: missing"),
        (
            '{"log": {"version": "1.2", "creator": {"name": "x"}, "entries": []}}',
            "the recording has no entries",
        ),
    ],
)
def test_a_file_that_is_not_a_har_exits_2_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "bad.har"
    path.write_text(content)
    code, out = _run(["import-har", str(path)], capsys)
    assert code == 2 and expected in out and "bad.har" in out and "Traceback" not in out


def test_a_har_missing_fields_names_each_entry_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _entry("GET", f"{SITE}/")
    del broken["request"]["url"]
    del broken["timings"]
    broken["response"]["status"] = "200"
    late = _entry("GET", f"{SITE}/b", at=1)
    late["startedDateTime"] = "yesterday"
    path = _har(tmp_path, [_entry("GET", f"{SITE}/a"), broken, late], "old.har")
    code, out = _run(["import-har", str(path)], capsys)
    assert code == 2, out
    for where in (
        "log.entries[1].request.url: missing",
        "log.entries[1].timings: missing",
        "log.entries[1].response.status: must be an integer",
        "log.entries[2].startedDateTime: must be an ISO 8601 date and time",
    ):
        assert where in out, out
    assert "old.har" in out and "Traceback" not in out


def test_a_missing_or_oversized_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = _run(["import-har", str(tmp_path / "nope.har")], capsys)
    assert code == 2 and "HAR file not found" in out
    big = _har(tmp_path, [_entry("GET", f"{SITE}/")])
    monkeypatch.setattr(har_model, "MAX_HAR_BYTES", 100)
    code, out = _run(["import-har", str(big)], capsys)
    assert code == 2 and "too large" in out and "the limit is 100 bytes" in out
    code, out = _run(["import-har", str(tmp_path)], capsys)  # a directory
    assert code == 2 and "is a directory" in out
    code, out = _run(["import-har", "/dev/zero"], capsys)  # endless: refused before reading
    assert code == 2 and "not a regular file" in out


def test_only_assets_and_other_hosts_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _har(tmp_path, [_entry("GET", f"{SITE}/a.css", mime="text/css")])
    code, out = _run(["import-har", str(path)], capsys)
    assert code == 2 and "no page request" in out


def test_output_file_is_written_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    har = _har(tmp_path, [_entry("GET", "http://127.0.0.1:8000/", text="<p>hi</p>")])
    out = tmp_path / "my-site.yaml"
    code, said = _run(["import-har", str(har), "-o", str(out)], capsys)
    assert code == 0 and f"wrote {out}" in said
    assert load_scenario(out).name == "my-site"
    code, said = _run(["validate", str(out)], capsys)
    assert code == 0, said


def test_a_refreshed_page_becomes_a_poll_until_what_changed_appears(tmp_path: Path) -> None:
    def page(state: str, nonce: str) -> str:
        return f'<div data-nonce="{nonce}" data-state="{state}">wait</div>'

    wait = [("Retry-After", "2")]
    har = _har(
        tmp_path,
        [
            _entry(
                "GET",
                f"{SITE}/queue",
                at=0,
                text=page("waiting", "a1b2c3d4e5f6a7b8c9d0"),
                response_headers=wait,
            ),
            _entry(
                "GET",
                f"{SITE}/queue",
                at=2,
                text=page("waiting", "f9e8d7c6b5a4f3e2d1c0"),
                response_headers=wait,
            ),
            _entry("GET", f"{SITE}/queue", at=4, text=page("ready", "0a9b8c7d6e5f4a3b2c1d")),
            _entry("GET", f"{SITE}/blocked", at=4.5, status=0),
        ],
    )
    text = import_har(har)
    [step] = _steps(text)
    poll = step["poll"]
    assert poll["until"] == "ready != ''"
    assert poll["interval"] == {"header": "Retry-After", "fallback": "2.0s", "min": "0.2s"}
    assert poll["steps"][0]["capture"]["ready"] == {"regex": 'data-state="ready"', "default": ""}
    assert "#   GET https://shop.example.com/blocked  (no response)" in text
    load_scenario(_written(tmp_path, text))


def test_a_redirect_chain_folds_into_the_request_that_started_it(tmp_path: Path) -> None:
    har = _har(
        tmp_path,
        [
            _entry(
                "POST",
                f"{SITE}/login",
                302,
                at=0,
                response_headers=[("Location", "/next")],
                post=("application/x-www-form-urlencoded", "user=fan"),
            ),
            _entry("GET", f"{SITE}/next", 301, at=0.1, response_headers=[("Location", "/home")]),
            _entry("GET", f"{SITE}/home", at=0.2, text="<p>home</p>"),
        ],
    )
    text = import_har(har)
    [step] = _steps(text)
    assert step == {
        "name": "login",
        "request": {"method": "POST", "path": "/login", "form": {"user": "fan"}},
        "expect": {"status": 200},
    }
    assert "(2 redirect hops folded into the request that started them)" in text


def test_browser_beacons_are_left_out_and_redirect_url_links_a_hop(tmp_path: Path) -> None:
    beacon = _entry("POST", f"{SITE}/collect", 204, at=0.5, mime="text/plain")
    beacon["_resourceType"] = "ping"
    moved = _entry("GET", f"{SITE}/old", 301, at=0)
    moved["response"]["redirectURL"] = f"{SITE}/new"  # no Location header recorded
    har = _har(tmp_path, [moved, beacon, _entry("GET", f"{SITE}/new", at=0.6, text="<p/>")])
    text = import_har(har)
    assert _steps(text) == [{"name": "old", "request": "GET /old", "expect": {"status": 200}}]
    assert "#   POST https://shop.example.com/collect  (ping)" in text


def test_an_idempotency_key_the_browser_made_up_is_fresh_per_visitor(tmp_path: Path) -> None:
    key = "7f9c2ba4e88f827d616045507605853e"
    har = _har(
        tmp_path,
        [
            _entry("GET", f"{SITE}/", text="<p/>"),
            _entry(
                "POST",
                f"{SITE}/api/orders",
                201,
                at=1,
                mime="application/json",
                text="{}",
                headers=[("Idempotency-Key", key)],
                post=("application/json", '{"hold_id": "h1"}'),
            ),
        ],
    )
    text = import_har(har)
    order = _steps(text)[-1]["request"]
    assert order["headers"] == {"Idempotency-Key": "{{ uuid() }}"} and key not in text
    load_scenario(_written(tmp_path, text))


def test_a_repeated_header_keeps_its_first_value_and_capture(tmp_path: Path) -> None:
    token = "a1b2c3d4e5f6a7b8c9d0"
    page = f'<form><input type="hidden" name="csrf" value="{token}"></form>'
    har = _har(
        tmp_path,
        [
            _entry("GET", f"{SITE}/", text=page),
            _entry("GET", f"{SITE}/next", at=1, headers=[("X-Token", token), ("X-Token", "")]),
        ],
    )
    text = import_har(har)
    assert _steps(text)[-1]["request"]["headers"] == {"X-Token": "{{ csrf }}"}
    load_scenario(_written(tmp_path, text))  # the capture is used: the file validates
