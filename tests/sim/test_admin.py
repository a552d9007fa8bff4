"""The admin API (`/sim/v1`): accounts, markets, settlement, status, stats, loopback only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.sim.server.app import create_app
from kalshi_cli.sim.server.embed import prepare, release
from tests.conftest import SimHarness
from tests.wire import order_body


def test_new_accounts_trade_as_counterparties(sim: SimHarness) -> None:
    other = sim.new_account(balance_cents=5_000)
    assert Path(other.private_key_path).stat().st_mode & 0o777 == 0o600
    balance = sim.signed(other, "GET", "/portfolio/balance").json()
    assert balance["balance"] == 5_000
    assert other.key_id != sim.account.key_id


def test_created_markets_have_defaults_and_an_empty_book(sim: SimHarness) -> None:
    market = sim.create_market("KXADM-26-A", title="Will it rain?")
    assert market["status"] == "active"
    assert market["price_level_structure"] == "linear_cent"
    book = sim.signed(sim.account, "GET", "/markets/KXADM-26-A/orderbook").json()
    assert book["orderbook_fp"] == {"yes_dollars": [], "no_dollars": []}
    event = httpx.get(sim.account.api_base + "/events/KXADM-26").json()
    assert event["event"]["series_ticker"] == "KXADM"
    again = httpx.post(
        sim.admin_url + "/markets",
        json={
            "ticker": "KXADM-26-A",
            "event_ticker": "KXADM-26",
            "series_ticker": "KXADM",
            "title": "x",
        },
    )
    assert again.status_code == 409
    missing = httpx.post(sim.admin_url + "/markets", json={"ticker": "KXADM-26-B"})
    assert missing.status_code == 400
    mistyped = httpx.post(
        sim.admin_url + "/markets",
        json={
            "ticker": "KXADM2-26-A",
            "event_ticker": "KXADM2-26",
            "series_ticker": "KXADM2",
            "title": "x",
            "fee_type": 1,
        },
    )
    assert mistyped.status_code == 400
    assert "fee_type must be a string" in mistyped.text


def test_settle_pays_the_winners_and_status_changes(sim: SimHarness) -> None:
    t = "KXADM-26-S"
    sim.create_market(t)
    other = sim.new_account()
    bid = order_body(t, price="0.30", count="10")
    sim.place_order(sim.account, bid)
    sim.place_order(other, {**bid, "side": "ask", "time_in_force": "immediate_or_cancel"})
    sim.set_status(t, "paused")
    assert httpx.get(f"{sim.account.api_base}/markets/{t}").json()["market"]["status"] == "inactive"
    sim.set_status(t, "open")
    sim.settle(t, "yes")
    market = httpx.get(f"{sim.account.api_base}/markets/{t}").json()["market"]
    assert (market["status"], market["result"]) == ("finalized", "yes")
    settlements = sim.signed(sim.account, "GET", "/portfolio/settlements").json()["settlements"]
    assert settlements[0]["revenue"] == 1000
    assert (
        httpx.post(sim.admin_url + f"/markets/{t}/settle", json={"result": "maybe"}).status_code
        == 400
    )
    assert (
        httpx.post(sim.admin_url + "/markets/NOPE/status", json={"status": "open"}).status_code
        == 404
    )


def test_stats_count_requests_per_key(sim: SimHarness) -> None:
    for _ in range(3):
        sim.signed(sim.account, "GET", "/portfolio/balance")
    stats = sim.stats()
    mine = stats["accounts"][sim.account.key_id]
    assert mine["requests"]["GET /portfolio/balance"] == 3
    assert mine["order_create_requests"] == 0
    assert stats["total_requests"] >= 3


def test_the_admin_api_refuses_non_loopback_clients(tmp_path: Path) -> None:
    prepared = prepare(tmp_path, scenario="empty")

    async def call() -> httpx.Response:
        # the app returns True from a call to make uvicorn drop a connection: not in ASGI's type
        app: Any = create_app(prepared.state)
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            return await client.post("/sim/v1/accounts", json={})

    try:
        response = asyncio.run(call())
    finally:
        release(prepared)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
