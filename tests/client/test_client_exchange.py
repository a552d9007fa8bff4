"""The client's market history and schedule calls against the simulator: what
they return is what the simulator serves, parsed to Decimal at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.sim.test_market_data_ops import EVENT, T, U, _session, clocked, public

__all__ = ["clocked"]  # the fixture, shared with the simulator's own tests


def _client(account: AccountInfo) -> KalshiClient:
    key, _ = load_private_key(path=account.private_key_path)
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)


@pytest.fixture
def client(clocked: tuple[SimHarness, ManualClock, int]) -> Iterator[KalshiClient]:
    with _client(clocked[0].account) as c:
        yield c


def test_candles_batch_and_event_candles_parse_what_the_exchange_serves(
    clocked: tuple[SimHarness, ManualClock, int], client: KalshiClient
) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    window = {"start_ts": b, "end_ts": b + 600, "period_minutes": 1}
    candles = client.markets.get_market_candlesticks("KXMD", T, **window)
    assert [c.end_ts for c in candles] == [b + 60, b + 120, b + 180]
    first, quiet, third = candles
    assert (first.price.close, first.volume, first.open_interest) == (D("0.6"), 4, 4)
    assert (first.yes_bid.open, first.yes_bid.close) == (D(0), D("0.4"))
    assert quiet.price.close is None and quiet.previous_price == D("0.6")
    assert third.yes_ask.low == D("0.55")
    raw = public(
        sim, f"/series/KXMD/markets/{T}/candlesticks", start_ts=b, end_ts=b + 600, period_interval=1
    ).json()["candlesticks"]
    assert [c.raw for c in candles] == raw
    batch = client.markets.batch_market_candlesticks([T, U], **window)
    assert batch[T] == candles and len(batch[U]) == 3
    by_event, adjusted = client.markets.get_event_candlesticks("KXMD", EVENT, **window)
    assert by_event == batch and adjusted == b + 600


def test_orderbooks_schedule_timestamp_series_and_event_fee_changes(
    clocked: tuple[SimHarness, ManualClock, int], client: KalshiClient
) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    books = client.markets.get_orderbooks([T, U])
    assert books[T].yes_ask == (D("0.55"), D("2.00"))
    assert books[T] == client.markets.get_orderbook(T) and books[U].best_yes_bid is None
    sim.http.post(
        sim.admin_url + "/exchange/maintenance", json={"start_ts": b + 900, "end_ts": b + 960}
    ).raise_for_status()
    [window] = client.exchange.get_exchange_schedule().maintenance_windows
    assert (window.start.timestamp(), window.end.timestamp()) == (b + 900, b + 960)
    assert client.exchange.get_user_data_timestamp().timestamp() == clock.wall()
    assert [s["ticker"] for s in client.markets.list_series()] == ["KXMD"]
    sim.http.post(
        f"{sim.admin_url}/events/{EVENT}/fee_changes",
        json={
            "fee_type_override": "quadratic",
            "fee_multiplier_override": "0.5",
            "scheduled_ts": b + 3600,
        },
    ).raise_for_status()
    [change] = client.exchange.iter_event_fee_changes(event_ticker=EVENT)
    assert (change["fee_type_override"], change["fee_multiplier_override"]) == ("quadratic", 0.5)


def test_forecast_history_through_the_client(
    clocked: tuple[SimHarness, ManualClock, int], client: KalshiClient
) -> None:
    sim, clock, b = clocked
    sim.create_market(T, event_ticker=EVENT)
    sim.http.post(
        f"{sim.admin_url}/events/{EVENT}/forecasts",
        json={"ts": b, "percentiles": {"2500": "1.25"}},
    ).raise_for_status()
    clock.advance(60)
    [point, _] = client.markets.get_event_forecast_history(
        "KXMD", EVENT, percentiles=[2500], start_ts=b + 1, end_ts=b + 120, period_interval=1
    )
    assert point["end_period_ts"] == b + 60
    assert point["percentile_points"][0]["formatted_forecast"] == "1.25"
