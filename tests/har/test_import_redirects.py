"""``loadkit import-har`` on recorded redirect chains: a chain the browser followed as loadkit
follows redirects folds into the request that started it; one that folding would change (what
the replay sends would differ from the recording) stays a step per hop, with the reason as a
comment above it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadkit.har import chains, import_har
from loadkit.runner.journey.redirects import MAX_REDIRECTS, REDIRECT_STATUSES
from loadkit.scenario import load_scenario
from tests.har.test_import_har import SITE, _entry, _har, _steps

FORM = "application/x-www-form-urlencoded"
CSRF = "c5rf9Tok3nAbCdEf12345"


def _redirect(
    method: str, path: str, status: int, location: str, *, at: float, body: str | None = None
) -> dict[str, Any]:
    post = (FORM, body) if body is not None else None
    return _entry(
        method, f"{SITE}{path}", status, at=at, response_headers=[("Location", location)], post=post
    )


def _imported(tmp_path: Path, entries: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The generated YAML (checked to validate) and its steps."""
    text = import_har(_har(tmp_path, entries))
    out = tmp_path / "out.yaml"
    out.write_text(text)
    load_scenario(out)
    return text, _steps(text)


def _comment_above(text: str, step_name: str) -> str:
    """The comment lines right above the step named ``step_name``, joined."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {step_name}")
    above = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#"):
            break
        above.insert(0, line.strip().removeprefix("# "))
    return " ".join(above)


def test_a_post_answered_302_folds_and_its_captures_read_the_final_page(tmp_path: Path) -> None:
    order_page = f'<form><input type="hidden" name="csrf_token" value="{CSRF}"></form>'
    text, steps = _imported(
        tmp_path,
        [
            _entry("GET", f"{SITE}/", text="<p>shop</p>"),
            _redirect("POST", "/checkout", 302, "/order/123#paid", at=1, body="qty=2"),
            _entry("GET", f"{SITE}/order/123", at=1.1, text=order_page),
            _entry("POST", f"{SITE}/confirm", at=3, post=(FORM, f"csrf_token={CSRF}")),
        ],
    )
    checkout = next(s for s in steps if s.get("name") == "checkout")
    assert checkout == {
        "name": "checkout",
        "request": {"method": "POST", "path": "/checkout", "form": {"qty": "2"}},
        "expect": {"status": 200},  # the final page's
        "capture": {"csrf_token": {"form_field": "csrf_token"}},  # read from the final page
    }
    assert steps[-1]["request"]["form"] == {"csrf_token": "{{ csrf_token }}"}
    # the pause is the person's, after the whole chain: 3.0 - (1.1 + 0.05)
    assert [s["think"] for s in steps if "think" in s] == ["1.0s", "1.9s"]
    assert "follow_redirects" not in text and "/order/" not in text and CSRF not in text
    assert "(1 redirect hops folded" in text and "Redirect not folded" not in text


def test_a_307_keeps_the_post_and_its_body_and_folds(tmp_path: Path) -> None:
    _, steps = _imported(
        tmp_path,
        [
            _redirect("POST", "/api/buy", 307, f"{SITE}/api/v2/buy", at=0, body="qty=2"),
            _redirect("POST", "/api/v2/buy", 308, "/api/v3/buy", at=0.1, body="qty=2"),
            _entry("POST", f"{SITE}/api/v3/buy", 201, at=0.2, post=(FORM, "qty=2")),
        ],
    )
    assert steps == [
        {
            "name": "api.buy",
            "request": {"method": "POST", "path": "/api/buy", "form": {"qty": "2"}},
            "expect": {"status": 201},
        }
    ]


def test_a_302_to_a_put_keeps_the_put_and_its_body_and_folds(tmp_path: Path) -> None:
    _, steps = _imported(
        tmp_path,
        [
            _redirect("PUT", "/api/cart", 302, "/api/cart/v2", at=0, body="qty=2"),
            _entry("PUT", f"{SITE}/api/cart/v2", 204, at=0.1, post=(FORM, "qty=2")),
        ],
    )
    assert [(s["request"]["method"], s["expect"]["status"]) for s in steps] == [("PUT", 204)]


def test_the_importer_folds_by_the_runner_s_redirect_rules() -> None:
    # the importer may not import the runner: its copies of the rules must stay equal
    assert (chains.MAX_HOPS, set(chains.REDIRECTS)) == (MAX_REDIRECTS, REDIRECT_STATUSES)


def test_exactly_ten_hops_fold_and_eleven_stay_steps(tmp_path: Path) -> None:
    def chain(hops: int) -> list[dict[str, Any]]:
        entries = [_redirect("GET", f"/r{k}", 302, f"/r{k + 1}", at=k / 100) for k in range(hops)]
        return [*entries, _entry("GET", f"{SITE}/r{hops}", at=hops / 100, text="<p/>")]

    _, steps = _imported(tmp_path, chain(10))
    assert steps == [{"name": "r0", "request": "GET /r0", "expect": {"status": 200}}]
    text, steps = _imported(tmp_path, chain(11))
    assert len(steps) == 12
    assert [s["request"].get("follow_redirects") for s in steps[:-1]] == [False] * 11
    assert [s["request"]["path"] for s in steps[1:]] == ["{{ next_url }}"] * 11
    assert "more than 10 redirects in a row" in _comment_above(text, "r0")


@pytest.mark.parametrize(
    ("first", "hop", "why"),
    [
        (  # 302 turns a POST into a GET; this browser re-sent the POST
            ("POST", 302, "a=1"),
            ("POST", "a=1"),
            "a 302 to a POST is followed with GET, but the browser sent POST /next",
        ),
        (  # 307 keeps the POST; the recording shows a GET
            ("POST", 307, "a=1"),
            ("GET", None),
            "a 307 to a POST is followed with POST, but the browser sent GET /next",
        ),
        (  # 303 drops the body; the recording shows one on the GET
            ("POST", 303, "a=1"),
            ("GET", "b=2"),
            "the browser sent GET /next with a body the redirect would not carry",
        ),
        (  # 302 keeps a PUT (only a POST becomes a GET): folded when the browser did so too
            ("PUT", 302, "a=1"),
            ("GET", None),
            "a 302 to a PUT is followed with PUT, but the browser sent GET /next",
        ),
        (  # 307 carries the body as it was; the recording shows another one
            ("POST", 307, "a=1"),
            ("POST", "a=2"),
            "the browser sent POST /next with another body than the request's",
        ),
    ],
)
def test_a_hop_the_browser_sent_otherwise_than_a_redirect_would_stays_a_step(
    tmp_path: Path, first: tuple[str, int, str], hop: tuple[str, str | None], why: str
) -> None:
    method, status, body = first
    text, steps = _imported(
        tmp_path,
        [
            _redirect(method, "/start", status, "/next", at=0, body=body),
            _entry(hop[0], f"{SITE}/next", at=0.1, post=(FORM, hop[1]) if hop[1] else None),
        ],
    )
    assert [s["name"] for s in steps] == ["start", "next"]
    assert steps[0]["request"]["follow_redirects"] is False
    assert steps[0]["expect"] == {"status": status}
    assert steps[0]["capture"] == {"next_url": {"header": "Location"}}
    assert steps[1]["request"]["method"] == hop[0]
    assert steps[1]["request"]["path"] == "{{ next_url }}"
    assert steps[1]["expect"] == {"status": 200}
    assert f"Redirect not folded: {why}" in _comment_above(text, "start")


def test_a_hop_without_the_request_s_headers_stays_a_step(tmp_path: Path) -> None:
    start = _redirect("GET", "/api/start", 302, "/api/next", at=0)
    start["request"]["headers"] = [{"name": "X-Client", "value": "web-7"}]
    text, steps = _imported(tmp_path, [start, _entry("GET", f"{SITE}/api/next", at=0.1)])
    assert len(steps) == 2 and steps[0]["request"]["follow_redirects"] is False
    assert "with other headers" in _comment_above(text, "api.start")


def test_a_location_that_is_not_the_next_request_stays_unfolded_saying_why(
    tmp_path: Path,
) -> None:
    text, steps = _imported(
        tmp_path,
        [
            _redirect("POST", "/cart/add", 302, "/cart", at=0, body="sku=7"),
            _entry("GET", f"{SITE}/static/app.css", at=0.05, mime="text/css"),  # skipped
            _entry("GET", f"{SITE}/basket", at=0.1, text="<p>basket</p>"),
        ],
    )
    assert [s["name"] for s in steps] == ["cart.add", "basket"]
    add = steps[0]
    assert add["request"]["follow_redirects"] is False and add["expect"] == {"status": 302}
    assert "capture" not in add and steps[1]["request"] == "GET /basket"  # nothing to link
    assert _comment_above(text, "cart.add") == (
        "Redirect not folded: this 302 points to /cart, but the next request the browser made"
        " is GET /basket: following it would send a request the recording does not have."
    )


def test_a_redirect_to_another_host_is_not_followed_and_the_reader_is_told(
    tmp_path: Path,
) -> None:
    idp = "https://login.idp.example"
    text, steps = _imported(
        tmp_path,
        [
            _redirect("POST", "/login", 302, f"{idp}/authorize?client=shop", at=0, body="u=fan"),
            _entry("GET", f"{idp}/authorize?client=shop", at=0.1, text="<form>sign in</form>"),
            _entry(
                "POST",
                f"{idp}/authorize",
                302,
                at=4,
                response_headers=[("Location", f"{SITE}/callback?code=Zx81")],
                post=(FORM, "user=fan&password=hunter2"),
            ),
            _redirect("GET", "/callback?code=Zx81", 302, "/account", at=4.1),
            _entry("GET", f"{SITE}/account", at=4.2, text="<p>hello</p>"),
        ],
    )
    assert [s.get("name") for s in steps if "think" not in s] == ["login", "callback"]
    login = steps[0]
    assert login["request"]["follow_redirects"] is False and login["expect"] == {"status": 302}
    said = _comment_above(text, "login")
    assert "sends the browser to https://login.idp.example, another host" in said
    assert "loadkit refuses a hop to a host not on allow_hosts" in said
    assert "add it to allow_hosts" in said
    assert "allow_hosts: [shop.example.com]" in text  # the other host is not added
    # the way back folds (same site), and the reader learns the code in its URL is stale
    callback = steps[-1]
    assert callback["request"] == "GET /callback?code=Zx81" and callback["expect"]["status"] == 200
    came = _comment_above(text, "callback")
    assert "Came from another host: the browser came here by a 302 from" in came
    assert "https://login.idp.example (left out)" in came and "likely refused on replay" in came
    assert "#   POST https://login.idp.example/authorize" in text and "hunter2" not in text


def test_a_recording_that_ends_at_the_redirect_keeps_it_unfolded(tmp_path: Path) -> None:
    text, steps = _imported(
        tmp_path,
        [
            _entry("GET", f"{SITE}/", text="<p>shop</p>"),
            _redirect("POST", "/checkout", 303, "/order/9", at=1, body="qty=1"),
        ],
    )
    checkout = steps[-1]
    assert checkout["request"]["follow_redirects"] is False
    assert checkout["expect"] == {"status": 303} and "capture" not in checkout
    said = _comment_above(text, "checkout")
    assert "the recording ends at this 303 to /order/9" in said
    assert "delete follow_redirects: false and expect the final page's status" in said


@pytest.mark.parametrize("location", ["http://[::1", f"{SITE}:99999/x", "/x\u2028evil: 1\nname: y"])
def test_a_location_that_is_no_url_or_breaks_lines_is_written_safely(
    tmp_path: Path, location: str
) -> None:
    start = _redirect("POST", "/pay", 302, location, at=0, body="a=1")
    start["request"]["url"] = f"{SITE}/pay?\u2028steps: []"
    text, steps = _imported(tmp_path, [start])  # validates: no line break reached the YAML
    assert [s["name"] for s in steps] == ["pay"] and steps[0]["expect"] == {"status": 302}
    assert steps[0]["request"]["follow_redirects"] is False
    said = _comment_above(text, "pay")
    assert said.startswith("Redirect not folded: ") and "302" in said, said
    assert "\u2028" not in text  # escaped, as \\u2028, wherever it was written


def test_a_hop_that_got_no_answer_in_the_browser_keeps_the_redirect_unfolded(
    tmp_path: Path,
) -> None:
    text, steps = _imported(
        tmp_path,
        [
            _redirect("POST", "/checkout", 302, "/order/9", at=0, body="qty=1"),
            _entry("GET", f"{SITE}/order/9", 0, at=0.1),  # cancelled: status 0
        ],
    )
    [checkout] = steps
    assert checkout["request"]["follow_redirects"] is False and checkout["expect"]["status"] == 302
    assert "got no answer in the recording" in _comment_above(text, "checkout")
    assert "#   GET https://shop.example.com/order/9  (no response)" in text


def test_a_page_a_folded_chain_landed_on_and_refreshed_once_becomes_a_poll(
    tmp_path: Path,
) -> None:
    def queue(state: str, at: float) -> dict[str, Any]:
        page = f'<div data-queue-state="{state}">queue</div>'
        return _entry("GET", f"{SITE}/queue", at=at, text=page, response_headers=[("Refresh", "1")])

    _, steps = _imported(
        tmp_path,
        [
            _redirect("POST", "/join", 302, "/queue", at=0, body="e=1"),
            queue("waiting", 0.1),  # the join's final answer: the first look at the queue
            queue("admitted", 1.1),  # one refresh
        ],
    )
    assert [s.get("name") for s in steps] == ["join", None, "queue"]  # None: the think
    assert steps[0]["expect"] == {"status": 200} and steps[1] == {"think": "1.0s"}
    poll = steps[2]["poll"]
    assert poll["steps"][0]["request"] == "GET /queue"
    assert poll["steps"][0]["capture"]["ready"]["regex"] == 'data-queue-state="admitted"'
    assert poll["interval"] == {"header": "Refresh", "fallback": "1.0s", "min": "0.2s"}


def test_a_chain_that_leaves_the_site_midway_stays_a_step_per_hop(tmp_path: Path) -> None:
    text, steps = _imported(
        tmp_path,
        [
            _redirect("POST", "/pay", 302, "/pay/go", at=0, body="a=1"),
            _redirect("GET", "/pay/go", 302, "https://psp.example/card", at=0.1),
            _entry("GET", "https://psp.example/card", at=0.2, text="<form>card</form>"),
        ],
    )
    assert [s["request"]["path"] for s in steps] == ["/pay", "{{ next_url }}"]
    assert [s["request"]["follow_redirects"] for s in steps] == [False, False]
    assert [s["expect"]["status"] for s in steps] == [302, 302]
    said = _comment_above(text, "pay")
    assert said.startswith("Redirect not folded: the 302 of redirect 1 (GET /pay/go) sends")
    assert "https://psp.example, another host" in said
