"""The storefront's pages and wiring, without a running shop."""

from __future__ import annotations

import pytest

from loadkit.demo import pages
from loadkit.demo.app import ShopApp
from loadkit.demo.server import _patches, build_parser
from loadkit.demo.web import HttpError


def test_values_on_a_page_are_escaped() -> None:
    text = pages.order('"><script>x</script>', "paid", ("<b>A-01-01</b>",), 0, 1000)
    assert "<script>" not in text and "<b>A-01" not in text
    assert "&lt;script&gt;" in text and "&quot;&gt;" in text


def test_the_notice_comes_from_a_fixed_table_not_from_the_request() -> None:
    text = pages.event("t", [pages.ZoneView("A", 100, 0)], 0, 4000, notice="")
    assert "This event is sold out." in text and "<form" not in text


def test_the_html_storefront_is_mounted_only_when_asked() -> None:
    with pytest.raises(HttpError) as missing:
        ShopApp("unused.sqlite3", "key").router.match("GET", "/")
    assert missing.value.status == 404
    route, _ = ShopApp("unused.sqlite3", "key", "html").router.match("GET", "/")
    assert route.name == "html.landing"
    json_route, _ = ShopApp("unused.sqlite3", "key", "html").router.match("POST", "/holds")
    assert json_route.name == "holds.create"  # the JSON API stays beside it


def test_command_line_takes_the_storefront_and_the_ga_quota() -> None:
    args = build_parser().parse_args(["--storefront", "html", "--ga-capacity", "7"])
    assert args.storefront == "html"
    assert _patches(args)[0] == {"ga_capacity": 7}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--storefront", "xml"])
