"""Unit tests of the shop's pure parts: settings, tokens, router, hold parsing, invariants."""

from __future__ import annotations

import sqlite3
import time

import pytest

from loadkit.demo import ShopProcess, ShopStartError, db, invariants
from loadkit.demo.config import (
    Bug,
    ConfigError,
    Faults,
    QueueingMethod,
    ShopConfig,
    config_from_json,
    faults_from_json,
    merge_config,
    merge_faults,
)
from loadkit.demo.seating import parse_hold_request
from loadkit.demo.tokens import (
    BadToken,
    TokenClaims,
    sign_cookie,
    sign_token,
    verify_cookie,
    verify_token,
)
from loadkit.demo.web import HttpError, Router


async def _noop(_req: object) -> object:
    return None


def test_config_merge_converts_and_round_trips() -> None:
    cfg = merge_config(
        ShopConfig(),
        {"refresh_interval_s": 0.2, "onsale_in_s": 10, "queueing_method": "prequeue_shuffle"},
        now=1000.0,
    )
    assert cfg.refresh_interval_s == 0.2
    assert cfg.onsale_at == 1010.0
    assert cfg.queueing_method is QueueingMethod.PREQUEUE_SHUFFLE
    assert config_from_json(cfg.to_json()) == cfg


def test_config_errors_list_every_problem_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        merge_config(
            ShopConfig(), {"hold_tll_s": 1, "active_cap": 1.5, "sweeper_period_s": True}, now=0.0
        )
    fields = dict(info.value.problems)
    assert "did you mean 'hold_ttl_s'" in fields["hold_tll_s"]
    assert "integer" in fields["active_cap"]
    assert "number" in fields["sweeper_period_s"]


def test_faults_merge_section_by_section() -> None:
    f = merge_faults(
        Faults(),
        {
            "endpoints": {"wr.status": {"latency_ms": 50}},
            "bugs": {"lifo_admission": True},
            "payment": {"decline_rate": 0.5},
        },
    )
    f = merge_faults(f, {"endpoints": {"wr.status": {"error_rate": 0.1}}, "capacity_limit": 3})
    assert f.endpoints["wr.status"].latency_ms == 50
    assert f.endpoints["wr.status"].error_rate == 0.1
    assert f.bugs == frozenset({Bug.LIFO_ADMISSION})
    assert (f.payment_decline_rate, f.capacity_limit) == (0.5, 3)
    assert faults_from_json(f.to_json()) == f
    with pytest.raises(ConfigError) as info:
        merge_faults(f, {"payment": {"decline_rate": 2}, "endpoints": {"holds": {}}})
    assert len(info.value.problems) == 2


def test_tokens_are_signed_and_tamper_evident() -> None:
    claims = TokenClaims("jti1", "req1", 1.0, 2.0, "onsale-2026")
    token = sign_token(b"secret", claims)
    assert verify_token(b"secret", token) == claims
    with pytest.raises(BadToken):
        verify_token(b"other", token)
    with pytest.raises(BadToken):
        verify_token(b"secret", "garbage")
    cookie = sign_cookie(b"secret", "req1")
    assert verify_cookie(b"secret", cookie) == "req1"
    assert verify_cookie(b"secret", "req2" + cookie[4:]) is None


def test_router_matches_params_and_reports_405() -> None:
    router = Router()
    router.add("holds.delete", "DELETE", "/holds/{hold_id}", _noop)  # type: ignore[arg-type]
    router.add("holds.create", "POST", "/holds", _noop)  # type: ignore[arg-type]
    route, params = router.match("DELETE", "/holds/abc")
    assert (route.name, params) == ("holds.delete", {"hold_id": "abc"})
    with pytest.raises(HttpError) as info:
        router.match("GET", "/holds/abc")
    assert info.value.status == 405
    with pytest.raises(HttpError) as info:
        router.match("GET", "/nothing")
    assert info.value.status == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"seat_ids": []}, "invalid_field"),
        ({"best_available": {"quantity": 0}}, "invalid_field"),
        ({"best_available": {"quantity": True}}, "invalid_field"),
        ({"seat_ids": ["a", "b", "c", "d", "e"]}, "too_many_seats"),
        ({"seat_ids": ["a"], "best_available": {"quantity": 1}}, "invalid_body"),
    ],
)
def test_hold_request_validation(body: dict[str, object], code: str) -> None:
    with pytest.raises(HttpError) as info:
        parse_hold_request(body)
    assert (info.value.status, info.value.code) == (422, code)


def _db(tmp_path: object) -> sqlite3.Connection:
    path = f"{tmp_path}/shop.sqlite3"
    db.initialise(path, time.time(), fresh=True)
    return db.connect(path)


def _admit(conn: sqlite3.Connection, rank: int, seq: int, at: float) -> None:
    conn.execute(
        "INSERT INTO visitors (request_id, rank, joined_at, prequeue, state, last_poll_at,"
        " admitted_at, admit_seq, admit_rate) VALUES (?, ?, 0, 0, 'admitted', 0, ?, ?, 60)",
        (f"r{rank}", rank, at, seq),
    )


def test_fifo_check_counts_inversions(tmp_path: object) -> None:
    conn = _db(tmp_path)
    for rank in range(1, 11):
        _admit(conn, rank, rank, float(rank))
    assert invariants.fifo(conn)["ok"]
    conn.execute("UPDATE visitors SET admit_seq = 11 - rank")
    result = invariants.fifo(conn)
    assert not result["ok"]
    assert result["detail"]["inversions"] == 9


def test_admission_rate_check(tmp_path: object) -> None:
    conn = _db(tmp_path)  # rate 60/min: 1 a second
    for i in range(10):
        _admit(conn, i + 1, i + 1, 100.0 + i)
    assert invariants.admission_rate(conn, sweeper_period_s=0.5)["ok"]
    conn.execute("UPDATE visitors SET admitted_at = 100.0 + (admitted_at - 100.0) / 2")
    assert not invariants.admission_rate(conn, sweeper_period_s=0.5)["ok"]


@pytest.mark.integration
def test_shop_that_cannot_start_says_why() -> None:
    with pytest.raises(ShopStartError, match="did you mean 'hold_ttl_s'"):
        ShopProcess.start(hold_tll_s=3)
