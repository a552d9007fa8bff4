"""The historical tier over loopback: what the cutoff archives leaves the live endpoints and is
served by `/historical/*` only; settled positions hand over by whole event, after the buffer.

Every response is also checked against openapi.yaml by the autouse fixture in conftest.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.sim.core.historical import DEFAULT_LAG_S
from kalshi_cli.sim.core.scenarios import ScenarioError, scenario_history
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.clock import parse_iso
from tests.conftest import SimHarness
from tests.openapi_check import check_response
from tests.wire import nested_code, order_body

A = "KXHIST-26JAN01-A"
B = "KXHIST-26JAN01-B"
OTHER = "KXHIST-26JAN02-C"  # another event of the series


def order(ticker: str, side: str, price: str, count: str, tif: str = "good_till_canceled") -> Any:
    return order_body(ticker, side=side, price=price, count=count, time_in_force=tif)


def place(sim: SimHarness, who: AccountInfo, body: dict[str, Any]) -> str:
    return str(sim.placed(who, body)["order_id"])


def set_lag(sim: SimHarness, **body: int) -> dict[str, Any]:
    response = sim.http.put(sim.admin_url + "/historical", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def listing(sim: SimHarness, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing (as the account)."""
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        response = sim.signed(sim.account, "GET", path, params={**params, "cursor": cursor})
        assert response.status_code == 200, response.text
        body = response.json()
        out.extend(body[key])
        cursor = body["cursor"]
        if not cursor:
            return out


def trade_both_markets(sim: SimHarness) -> dict[str, str]:
    """One event of two markets (A, B) and a market of another event: the account buys in
    each, leaves a resting bid on A and cancels another; the ids of the interesting orders."""
    for t in (A, B):
        sim.create_market(t, event_ticker="KXHIST-26JAN01", series_ticker="KXHIST")
    sim.create_market(OTHER, event_ticker="KXHIST-26JAN02", series_ticker="KXHIST")
    other = sim.new_account()
    ids = {}
    for t in (A, B, OTHER):
        place(sim, other, order(t, "ask", "0.40", "3"))
        ids[t] = place(sim, sim.account, order(t, "bid", "0.40", "3", "immediate_or_cancel"))
    ids["resting"] = place(sim, sim.account, order(A, "bid", "0.10", "1"))
    ids["canceled"] = place(sim, sim.account, order(A, "bid", "0.11", "1"))
    gone = sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{ids['canceled']}")
    assert gone.status_code == 200
    return ids


def cutoff_between(sim: SimHarness) -> tuple[float, dict[str, float], float]:
    """(clock before, the cutoff's four timestamps, clock after) around one GET."""
    before = time.time()
    body = httpx.get(sim.account.api_base + "/historical/cutoff").json()
    after = time.time()
    return before, {k: parse_iso(v).timestamp() for k, v in body.items()}, after


def test_by_default_the_cutoff_runs_90_days_behind_and_nothing_recent_is_historical(
    sim: SimHarness,
) -> None:
    trade_both_markets(sim)
    sim.settle(A, "yes")
    sim.settle(B, "no")
    before, cutoff, after = cutoff_between(sim)
    assert set(cutoff) == {
        "market_settled_ts",
        "trades_created_ts",
        "orders_updated_ts",
        "market_positions_last_updated_ts",
    }
    for ts in cutoff.values():  # iso_utc keeps milliseconds
        assert before - 90 * 24 * 3600 - 0.001 <= ts <= after - 90 * 24 * 3600
    assert sim.http.get(sim.admin_url + "/historical").json() == {
        "lag_seconds": DEFAULT_LAG_S,
        "position_buffer_seconds": 0,
    }
    for path, key in HISTORICAL_LISTINGS:
        assert listing(sim, path, key) == []
    assert len(listing(sim, "/portfolio/fills", "fills")) == 3
    assert {m["ticker"] for m in listing(sim, "/markets", "markets")} == {A, B, OTHER}


HISTORICAL_LISTINGS = (
    ("/historical/fills", "fills"),
    ("/historical/orders", "orders"),
    ("/historical/trades", "trades"),
    ("/historical/markets", "markets"),
    ("/historical/positions", "market_positions"),
)


def test_the_cutoff_moves_with_the_lag_and_the_clock(sim: SimHarness) -> None:
    set_lag(sim, lag_seconds=3600, position_buffer_seconds=600)
    before, cutoff, after = cutoff_between(sim)
    for name in ("market_settled_ts", "trades_created_ts", "orders_updated_ts"):
        assert before - 3600 - 0.001 <= cutoff[name] <= after - 3600
    positions = cutoff["market_positions_last_updated_ts"]
    assert before - 4200 - 0.001 <= positions <= after - 4200


def test_fills_trades_and_finished_orders_older_than_the_cutoff_move_to_the_historical_tier(
    sim: SimHarness,
) -> None:
    ids = trade_both_markets(sim)
    live_fills = listing(sim, "/portfolio/fills", "fills")
    live_trades = listing(sim, "/markets/trades", "trades")
    live_orders = listing(sim, "/portfolio/orders", "orders")
    assert len(live_fills) == 3 and len(live_trades) == 3

    set_lag(sim, lag_seconds=0)  # everything made so far is older than the cutoff

    assert listing(sim, "/portfolio/fills", "fills") == []
    assert listing(sim, "/historical/fills", "fills") == live_fills
    assert listing(sim, "/markets/trades", "trades") == []
    assert listing(sim, "/historical/trades", "trades") == live_trades
    # the resting order stays live ("Resting (active) orders are always available"); the
    # executed and canceled ones move
    (resting,) = listing(sim, "/portfolio/orders", "orders")
    assert resting["order_id"] == ids["resting"]
    archived = listing(sim, "/historical/orders", "orders")
    assert [o["order_id"] for o in archived] == [
        o["order_id"] for o in live_orders if o["order_id"] != ids["resting"]
    ]
    assert {o["status"] for o in archived} == {"executed", "canceled"}
    gone = sim.signed(sim.account, "GET", f"/portfolio/orders/{ids['canceled']}")
    assert gone.status_code == 404
    # filters of the historical listings
    assert [f["ticker"] for f in listing(sim, "/historical/fills", "fills", ticker=B)] == [B]
    assert [t["ticker"] for t in listing(sim, "/historical/trades", "trades", ticker=B)] == [B]
    assert listing(sim, "/historical/fills", "fills", subaccount=3) == []
    one_page = sim.signed(sim.account, "GET", "/historical/fills", params={"limit": 2}).json()
    assert len(one_page["fills"]) == 2 and one_page["cursor"]

    # moved back (a longer lag): live again, and never in both tiers
    set_lag(sim, lag_seconds=3600)
    assert listing(sim, "/portfolio/fills", "fills") == live_fills
    assert listing(sim, "/historical/fills", "fills") == []


def test_a_market_settled_before_the_cutoff_and_its_candlesticks_are_served_historically(
    sim: SimHarness,
) -> None:
    trade_both_markets(sim)
    sim.settle(A, "yes")
    set_lag(sim, lag_seconds=0)
    live = {m["ticker"] for m in listing(sim, "/markets", "markets")}
    assert live == {B, OTHER}  # unsettled markets stay live whatever their age
    assert sim.signed(sim.account, "GET", f"/markets/{A}").status_code == 404
    assert sim.signed(sim.account, "GET", f"/markets/{A}/orderbook").status_code == 404
    (archived,) = listing(sim, "/historical/markets", "markets")
    assert (archived["ticker"], archived["status"], archived["result"]) == (A, "finalized", "yes")
    one = httpx.get(f"{sim.account.api_base}/historical/markets/{A}")
    assert one.status_code == 200 and one.json()["market"]["ticker"] == A
    not_archived = httpx.get(f"{sim.account.api_base}/historical/markets/{B}")
    assert nested_code(not_archived) == (404, "not_found")
    assert listing(sim, "/historical/markets", "markets", event_ticker="KXHIST-26JAN02") == []

    trade = listing(sim, "/historical/trades", "trades", ticker=A)[0]
    traded_at = int(parse_iso(trade["created_time"]).timestamp())
    window = {"start_ts": traded_at - 3600, "end_ts": traded_at + 3600, "period_interval": 60}
    live_candles = sim.signed(
        sim.account, "GET", f"/series/KXHIST/markets/{A}/candlesticks", params=window
    )
    assert live_candles.status_code == 404
    candles = httpx.get(
        f"{sim.account.api_base}/historical/markets/{A}/candlesticks", params=window
    ).json()
    assert candles["ticker"] == A
    (candle,) = candles["candlesticks"]
    assert candle["price"]["open"] == candle["price"]["close"] == "0.4000"
    assert candle["price"]["previous"] is None
    assert candle["volume"] == "3.00"
    of_live_market = httpx.get(
        f"{sim.account.api_base}/historical/markets/{B}/candlesticks", params=window
    )
    assert of_live_market.status_code == 404


def test_settled_positions_hand_over_by_whole_event(sim: SimHarness) -> None:
    trade_both_markets(sim)
    set_lag(sim, lag_seconds=0)

    def live() -> set[str]:
        rows = listing(sim, "/portfolio/positions", "market_positions")
        return {p["ticker"] for p in rows}

    def historical() -> set[str]:
        rows = listing(sim, "/historical/positions", "market_positions")
        return {p["ticker"] for p in rows}

    assert (live(), historical()) == ({A, B, OTHER}, set())
    sim.settle(A, "yes")
    # A's market is archived, but its event still has an unsettled market: the event's
    # positions stay together on the live side
    assert (live(), historical()) == ({A, B, OTHER}, set())
    sim.settle(B, "no")
    assert (live(), historical()) == ({OTHER}, {A, B})
    body = sim.signed(sim.account, "GET", "/historical/positions").json()
    assert [e["event_ticker"] for e in body["event_positions"]] == ["KXHIST-26JAN01"]
    by_event = listing(
        sim, "/historical/positions", "market_positions", event_ticker="KXHIST-26JAN02"
    )
    assert by_event == []

    # the buffer holds a settled event's positions back after its markets are archived
    set_lag(sim, lag_seconds=0, position_buffer_seconds=3600)
    assert (live(), historical()) == ({A, B, OTHER}, set())
    assert {m["ticker"] for m in listing(sim, "/historical/markets", "markets")} == {A, B}


def test_historical_queries_are_validated(sim: SimHarness) -> None:
    base = sim.account.api_base
    both = httpx.get(base + "/historical/markets", params={"tickers": A, "series_ticker": "X"})
    assert both.status_code == 400
    assert httpx.get(base + "/historical/markets", params={"mve_filter": "only"}).status_code == 400
    assert httpx.get(base + "/historical/trades", params={"limit": 1001}).status_code == 400
    assert httpx.get(base + "/historical/trades", params={"ticker": "NOPE"}).status_code == 404
    candles = httpx.get(
        base + f"/historical/markets/{A}/candlesticks",
        params={"start_ts": 1, "end_ts": 2, "period_interval": 5},
    )
    assert candles.status_code == 400
    assert httpx.get(base + "/historical/fills").status_code == 401
    assert httpx.get(base + "/historical/orders").status_code == 401
    assert httpx.get(base + "/historical/positions").status_code == 401


def test_the_admin_api_refuses_a_bad_lag_and_changes_nothing(sim: SimHarness) -> None:
    for body in ({"lag_seconds": -1}, {"lag_seconds": 1.5}, {"lag": 3}, {"lag_seconds": True}):
        response = sim.http.put(sim.admin_url + "/historical", json=body)
        assert response.status_code == 400, body
    assert sim.http.get(sim.admin_url + "/historical").json()["lag_seconds"] == DEFAULT_LAG_S


def test_a_scenario_sets_the_lag(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("base: empty\nhistorical: {lag_seconds: 60, position_buffer_seconds: 5}\n")
    policy = scenario_history(path)
    assert (policy.lag_seconds, policy.position_buffer_seconds) == (60, 5)
    assert scenario_history("empty").lag_seconds == DEFAULT_LAG_S
    path.write_text("historical: {lag_seconds: -60}\n")
    with pytest.raises(ScenarioError, match="lag_seconds"):
        scenario_history(path)


def test_the_validator_allows_the_nulls_the_spec_means_and_nothing_else() -> None:
    """PriceDistributionHistorical's fields are `{allOf: [FixedPointDollars], nullable: true}`;
    GetHistoricalMarkets' `mve_filter` has `default: null` beside `enum: [exclude]`."""
    ohlc = {"open": "0.4000", "low": "0.4000", "high": "0.4000", "close": "0.4000"}
    price = {**ohlc, "mean": "0.4000", "previous": None}
    candle = {
        "end_period_ts": 1,
        "yes_bid": ohlc,
        "yes_ask": ohlc,
        "price": price,
        "volume": "3.00",
        "open_interest": "0.00",
    }
    path = "/trade-api/v2/historical/markets/X/candlesticks"
    query = "start_ts=1&end_ts=2&period_interval=60"

    def check(previous: object) -> str | None:
        body = {
            "ticker": "X",
            "candlesticks": [{**candle, "price": {**price, "previous": previous}}],
        }
        return check_response(
            "GET", path, query, 200, "application/json", json.dumps(body).encode()
        )

    assert check(None) is None
    assert check("0.4000") is None
    assert "FixedPointDollars" in str(check("0.4"))
    assert "is not of type 'string'" in str(check(3))
    markets = b'{"markets": [], "cursor": ""}'
    historical = "/trade-api/v2/historical/markets"
    assert check_response("GET", historical, "", 200, "application/json", markets) is None
    refused = check_response("GET", historical, "mve_filter=only", 200, "application/json", markets)
    assert refused is not None and "refuses" in refused
