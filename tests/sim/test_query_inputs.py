"""Inputs the simulator once accepted and ignored are now honoured (or refused, as Kalshi does):
`cancel_order_on_pause`, `GET /events` `min_close_ts`/`min_updated_ts`/`with_milestones`,
`GET /series` `min_updated_ts`/`include_volume`/`include_product_metadata`, `GET /markets`
`max_updated_ts`. Integers beyond int64 are refused in tests/sim/test_wire_errors.py."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import SimHarness


def order(ticker: str, **extra: Any) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "side": "bid",
        "price": "0.40",
        "count": "5",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def test_cancel_order_on_pause_reads_back_and_cancels_the_order_when_trading_pauses(
    sim: SimHarness,
) -> None:
    t = "KXPAUSE-26JAN01-A"
    sim.create_market(t)
    me = sim.account
    flagged = sim.place_order(me, order(t, cancel_order_on_pause=True))
    plain = sim.place_order(me, order(t, price="0.30"))
    flagged_id, plain_id = flagged.json()["order_id"], plain.json()["order_id"]
    before = sim.signed(me, "GET", f"/portfolio/orders/{flagged_id}").json()["order"]
    assert (before["status"], before["cancel_order_on_pause"]) == ("resting", True)

    sim.set_status(t, "paused")
    after = sim.signed(me, "GET", f"/portfolio/orders/{flagged_id}").json()["order"]
    assert (after["status"], after["remaining_count_fp"]) == ("canceled", "0.00")
    assert after["cancel_order_on_pause"] is True
    kept = sim.signed(me, "GET", f"/portfolio/orders/{plain_id}").json()["order"]
    assert (kept["status"], kept["cancel_order_on_pause"]) == ("resting", False)
    book = sim.signed(me, "GET", f"/markets/{t}/orderbook").json()["orderbook_fp"]
    assert book["yes_dollars"] == [["0.3000", "5.00"]]
    # its collateral is released: only the plain order's $1.50 stays held
    assert sim.signed(me, "GET", "/portfolio/balance").json()["balance"] == 100_000 - 150


def test_events_honour_min_close_ts(sim: SimHarness) -> None:
    now = int(time.time())
    sim.create_market("KXSOON-26-A", close_time=now + 1_000)
    sim.create_market("KXLATE-26-A", close_time=now + 100_000)
    base = sim.account.api_base + "/events"
    late = httpx.get(base, params={"min_close_ts": now + 5_000}).json()["events"]
    assert [e["event_ticker"] for e in late] == ["KXLATE-26"]
    both = httpx.get(base, params={"min_close_ts": now}).json()["events"]
    assert {e["event_ticker"] for e in both} == {"KXSOON-26", "KXLATE-26"}


def test_events_and_series_honour_min_updated_ts(sim: SimHarness) -> None:
    sim.create_market("KXUPD-26-A")
    now = int(time.time())
    base = sim.account.api_base
    for path, key in (("/events", "events"), ("/series", "series")):
        future = httpx.get(base + path, params={"min_updated_ts": now + 3_600}).json()
        assert future[key] == [], path
        past = httpx.get(base + path, params={"min_updated_ts": now - 3_600}).json()
        assert len(past[key]) == 1, path


def test_events_with_milestones_carry_the_milestones_list(sim: SimHarness) -> None:
    sim.create_market("KXMILE-26-A")
    base = sim.account.api_base + "/events"
    assert httpx.get(base, params={"with_milestones": "true"}).json()["milestones"] == []
    assert "milestones" not in httpx.get(base).json()


def test_series_include_volume_and_product_metadata(sim: SimHarness) -> None:
    t = "KXVOL-26JAN01-A"
    sim.create_market(t)
    other = sim.new_account()
    sim.place_order(sim.account, order(t, count="4"))
    sim.place_order(other, order(t, side="ask", count="3", time_in_force="immediate_or_cancel"))
    base = sim.account.api_base
    listed = httpx.get(base + "/series", params={"include_volume": "true"}).json()["series"]
    assert [(s["ticker"], s["volume_fp"]) for s in listed] == [("KXVOL", "3.00")]
    assert "product_metadata" not in listed[0]
    one = httpx.get(base + "/series/KXVOL", params={"include_volume": "true"}).json()["series"]
    assert one["volume_fp"] == "3.00"
    plain = httpx.get(base + "/series/KXVOL").json()["series"]
    assert "volume_fp" not in plain
    meta = httpx.get(base + "/series", params={"include_product_metadata": "true"}).json()
    assert meta["series"][0]["product_metadata"] == {}


def test_markets_honour_max_updated_ts(sim: SimHarness) -> None:
    sim.create_market("KXMAXU-26-A")
    now = int(time.time())
    base = sim.account.api_base + "/markets"
    assert httpx.get(base, params={"max_updated_ts": now - 3_600}).json()["markets"] == []
    assert len(httpx.get(base, params={"max_updated_ts": now + 3_600}).json()["markets"]) == 1


def test_an_exchange_index_beyond_int32_is_a_400(sim: SimHarness) -> None:
    """Found by the fuzz pass: `exchange_index` is an int32 in the spec, but any int64 passed,
    so `exchange_index=2147483648` listed positions where Kalshi's parser refuses it."""
    me = sim.account
    for path in ("/portfolio/positions", "/portfolio/orders", "/portfolio/fills"):
        refused = sim.signed(me, "GET", path, params={"exchange_index": str(2**31)})
        assert refused.status_code == 400, (path, refused.text)
        assert "value out of range" in refused.json()["msg"]
        fine = sim.signed(me, "GET", path, params={"exchange_index": str(2**31 - 1)})
        assert fine.status_code == 200, (path, fine.text)
