"""A recorded market's lifecycle in a backtest: trading paused (`deactivated`) and resumed
(`activated`, kalshi_cli/backtest/engine.py), and no fill while the market does not trade
(kalshi_cli/venue/venue.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.backtest.engine import Driver, ReplayClock, ReplayFeed
from kalshi_cli.client import CreateOrder
from kalshi_cli.data.replay import Record
from kalshi_cli.feed.messages import convert_frame
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.errors import BadRequestError, ConflictError
from kalshi_cli.vocabulary.models import BookSide, Side, TimeInForce

D = Decimal
T = "KXTEST-26JAN01-A"
START = 1_700_000_000.0


def bid(price: str, count: str) -> CreateOrder:
    return CreateOrder(T, BookSide.BID, D(price), D(count), time_in_force=TimeInForce.GTC)


def lifecycle(at: float, seq: int, event_type: str, **fields: Any) -> Record:
    msg = {"market_ticker": T, "event_type": event_type, **fields}
    frame = {"type": "market_lifecycle_v2", "sid": 1, "seq": seq, "msg": msg}
    return int(at * 1e9), convert_frame(frame), False


def test_a_market_paused_then_resumed_takes_orders_again() -> None:
    clock = ReplayClock(START)
    venue = LocalVenue(clock, [MarketInfo(T, "KXTEST-26JAN01", "KXTEST")], balance=D(100))
    records = iter(
        [
            lifecycle(START + 1, 1, "deactivated", is_deactivated=True),
            lifecycle(START + 2, 2, "activated", is_deactivated=False),
        ]
    )
    driver = Driver(records, ReplayFeed([T], clock), venue, clock)
    venue.book_changed(T, {}, {D("0.50"): D(10)})
    driver.advance_to(START + 1.5)
    with pytest.raises((BadRequestError, ConflictError)):  # paused: refused
        venue.client.orders.create_order(bid("0.40", "1"))
    driver.advance_to(START + 3)
    assert venue.client.orders.create_order(bid("0.40", "1")).remaining_count == 1


def test_a_resting_order_does_not_fill_while_its_market_does_not_trade() -> None:
    clock = ReplayClock(START)
    venue = LocalVenue(clock, [MarketInfo(T, "KXTEST-26JAN01", "KXTEST")], balance=D(100))
    venue.book_changed(T, {}, {D("0.40"): D(10)})
    rest = venue.client.orders.create_order(bid("0.50", "5"))
    venue.close(T)
    venue.trade(T, D("0.50"), D(3), Side.NO)  # recorded, but the market is not trading
    venue.book_changed(T, {}, {D("0.55"): D(10)})  # a book that crosses our bid
    assert venue.client.orders.get_order(rest.order_id).fill_count == 0
    venue.reopen(T)
    venue.trade(T, D("0.50"), D(3), Side.NO)
    assert venue.client.orders.get_order(rest.order_id).fill_count == 3
