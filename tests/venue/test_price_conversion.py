"""YES/NO price conversion through the local venue, on both sides: the
backtest's (the venue's client) and the paper session's (`PaperClient`, with the book and the
public trades reaching the venue through `PaperFeed` as the live feed's messages):
an order in the trader's terms (side, action, price of the side traded) goes through the
production conversion (`units.to_book`), the venue and the client's parsers, and its fill
read back (`units.from_book`) is at that same price, on that same side. A paper mode whose
conversion differed from live once made 160 trades with 0 wins while its tests were green."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import FeedTrade
from kalshi_cli.runner.paper import PaperClient, PaperFeed
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce, from_book, to_book
from tests.fakes import ticks

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.feed import MarketData

T = "KXCONV-26JAN01-A"
cents = st.integers(1, 99).map(lambda c: Decimal(c) / 100)


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(list(Side)), price=cents, count=st.integers(1, 50))
def test_a_buy_fills_at_the_price_of_the_side_bought(
    side: Side, price: Decimal, count: int
) -> None:
    venue = LocalVenue(
        ManualClock(),
        [MarketInfo(T, "KXCONV-26JAN01", "KXCONV", fee_type="quadratic", fee_multiplier="1")],
        balance=Decimal(10_000),
    )
    # someone offers `side` at `price`: a resting bid for the other side at 1 - price
    offer = {Decimal(1) - price: Decimal(100)}
    yes, no = ({}, offer) if side is Side.YES else (offer, {})
    venue.book_changed(T, ticks(yes), ticks(no))
    book = to_book(side, Action.BUY, price)
    result = venue.client.orders.create_order(
        CreateOrder(
            T, book.book_side, book.yes_price, Decimal(count), time_in_force=TimeInForce.IOC
        )
    )
    assert result.fill_count == count
    (fill,) = list(venue.client.portfolio.iter_fills())
    assert from_book(fill.book_side, fill.yes_price, side) == (Action.BUY, price)
    (position,) = venue.client.portfolio.get_positions()
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
    venue.book_changed(T, *(map(ticks, ({}, offer) if side is Side.YES else (offer, {}))))
    buy = to_book(side, Action.BUY, entry)
    venue.client.orders.create_order(
        CreateOrder(T, buy.book_side, buy.yes_price, Decimal(10), time_in_force=TimeInForce.IOC)
    )
    # now someone bids for `side` at `exit_`: we sell what we hold into it
    bid = {exit_: Decimal(10)}
    venue.book_changed(T, *(map(ticks, (bid, {}) if side is Side.YES else ({}, bid))))
    sell = to_book(side, Action.SELL, exit_)
    venue.client.orders.create_order(
        CreateOrder(T, sell.book_side, sell.yes_price, Decimal(10), time_in_force=TimeInForce.IOC)
    )
    assert venue.client.portfolio.get_positions() == []
    assert venue.client.portfolio.get_balance().balance == Decimal(10_000) + 10 * (exit_ - entry)


# The paper side: `kalshi trade --paper`'s own adapters. The book and the public trades reach
# the venue only through `PaperFeed` (as the live feed's messages), the orders and fills go
# through `PaperClient`.


class _LiveBook:
    """The inner feed of a paper session, holding one market's book and the events the live
    `MarketData` would have queued for the loop."""

    def __init__(self) -> None:
        self.current: Orderbook | None = None
        self.messages: list[FeedMessage] = []

    def show(self, yes: dict[Decimal, Decimal], no: dict[Decimal, Decimal]) -> None:
        self.current = Orderbook(T, tuple(yes.items()), tuple(no.items()))
        self.messages.append(FeedMessage(MessageKind.BOOK, T, source="ws"))

    def book(self, ticker: str) -> Orderbook | None:
        return self.current

    def drain_messages(self) -> list[FeedMessage]:
        events, self.messages = self.messages, []
        return events


def _paper() -> tuple[PaperClient, PaperFeed, _LiveBook]:
    clock = ManualClock()
    info = MarketInfo(T, "KXCONV-26JAN01", "KXCONV", fee_type="quadratic", fee_multiplier="1")
    venue = LocalVenue(clock, [info], balance=Decimal(10_000))
    exchange = LocalVenue(clock, [info], balance=Decimal(0))  # answers the market reads
    inner = _LiveBook()
    client = PaperClient(cast("KalshiClient", exchange.client), venue)
    return client, PaperFeed(cast("MarketData", inner), venue), inner


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(list(Side)), price=cents, count=st.integers(1, 50))
def test_a_paper_buy_fills_at_the_price_of_the_side_bought(
    side: Side, price: Decimal, count: int
) -> None:
    client, feed, live = _paper()
    offer = {Decimal(1) - price: Decimal(100)}
    live.show(*(({}, offer) if side is Side.YES else (offer, {})))
    feed.drain_messages()  # the loop's drain feeds the book to the venue
    book = to_book(side, Action.BUY, price)
    result = client.orders.create_order(
        CreateOrder(
            T, book.book_side, book.yes_price, Decimal(count), time_in_force=TimeInForce.IOC
        )
    )
    assert result.fill_count == count
    (fill,) = list(client.portfolio.iter_fills())
    assert from_book(fill.book_side, fill.yes_price, side) == (Action.BUY, price)
    (position,) = client.portfolio.get_positions()
    assert position.position == (count if side is Side.YES else -count)


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(list(Side)), price=cents, count=st.integers(1, 50))
def test_a_resting_paper_buy_fills_at_its_price_on_a_public_trade_of_the_live_feed(
    side: Side, price: Decimal, count: int
) -> None:
    """A public trade as the WebSocket sends it (the YES price, the taker's side): a taker who
    bought the other side at 1 - price met our bid for `side` at `price`."""
    client, feed, live = _paper()
    book = to_book(side, Action.BUY, price)
    placed = client.orders.create_order(
        CreateOrder(T, book.book_side, book.yes_price, Decimal(count))
    )
    assert placed.fill_count == 0  # an empty book: it rests, first in its queue
    other = Side.NO if side is Side.YES else Side.YES
    trade = FeedTrade(
        market_ticker=T,
        yes_price=price if side is Side.YES else Decimal(1) - price,
        count=Decimal(count),
        taker_outcome_side=other.value,
    )
    live.messages.append(FeedMessage(MessageKind.TRADE, T, source="ws", payload=trade))
    feed.drain_messages()
    (fill,) = list(client.portfolio.iter_fills())
    assert fill.count == count
    assert from_book(fill.book_side, fill.yes_price, side) == (Action.BUY, price)
    (position,) = client.portfolio.get_positions()
    assert position.position == (count if side is Side.YES else -count)
