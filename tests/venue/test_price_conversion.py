"""YES/NO price conversion through the local venue (issue #14 item 7, the backtest's half):
an order in the trader's terms (side, action, price of the side traded) goes through the
production conversion (`models.to_book`), the venue and the client's parsers, and its fill
read back (`models.from_book`) is at that same price, on that same side. A paper mode whose
conversion differed from live once made 160 trades with 0 wins while its tests were green."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.client import CreateOrder
from kalshi_cli.clock import ManualClock
from kalshi_cli.models import Action, Side, TimeInForce, from_book, to_book
from kalshi_cli.venue import LocalVenue, MarketInfo

T = "KXCONV-26JAN01-A"
cents = st.integers(1, 99).map(lambda c: Decimal(c) / 100)


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(list(Side)), price=cents, count=st.integers(1, 50))
def test_a_buy_fills_at_the_price_of_the_side_bought(
    side: Side, price: Decimal, count: int
) -> None:
    venue = LocalVenue(
        ManualClock(), [MarketInfo(T, "KXCONV-26JAN01", "KXCONV")], balance=Decimal(10_000)
    )
    # someone offers `side` at `price`: a resting bid for the other side at 1 - price
    offer = {Decimal(1) - price: Decimal(100)}
    yes, no = ({}, offer) if side is Side.YES else (offer, {})
    venue.book_changed(T, yes, no)
    book = to_book(side, Action.BUY, price)
    result = venue.client.create_order(
        CreateOrder(
            T, book.book_side, book.yes_price, Decimal(count), time_in_force=TimeInForce.IOC
        )
    )
    assert result.fill_count == count
    (fill,) = list(venue.client.iter_fills())
    assert from_book(fill.book_side, fill.yes_price, side) == (Action.BUY, price)
    (position,) = venue.client.get_positions()
    assert position.position == (count if side is Side.YES else -count)


@settings(max_examples=100, deadline=None)
@given(side=st.sampled_from(list(Side)), entry=cents, exit_=cents)
def test_a_round_trip_pays_the_difference_of_the_side_traded(
    side: Side, entry: Decimal, exit_: Decimal
) -> None:
    venue = LocalVenue(
        ManualClock(),
        [MarketInfo(T, "KXCONV-26JAN01", "KXCONV", fee_type="quadratic", fee_multiplier="0")],
        balance=Decimal(10_000),
    )
    offer = {Decimal(1) - entry: Decimal(10)}
    venue.book_changed(T, *(({}, offer) if side is Side.YES else (offer, {})))
    buy = to_book(side, Action.BUY, entry)
    venue.client.create_order(
        CreateOrder(T, buy.book_side, buy.yes_price, Decimal(10), time_in_force=TimeInForce.IOC)
    )
    # now someone bids for `side` at `exit_`: we sell what we hold into it
    bid = {exit_: Decimal(10)}
    venue.book_changed(T, *((bid, {}) if side is Side.YES else ({}, bid)))
    sell = to_book(side, Action.SELL, exit_)
    venue.client.create_order(
        CreateOrder(T, sell.book_side, sell.yes_price, Decimal(10), time_in_force=TimeInForce.IOC)
    )
    assert venue.client.get_positions() == []
    assert venue.client.get_balance().balance == Decimal(10_000) + 10 * (exit_ - entry)
