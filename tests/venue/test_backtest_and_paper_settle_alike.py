"""A backtest and a paper session apply the same market data to their local venue the same way:
the same frames, read as a recording by the backtest's driver and as live text by the feed a
paper session wraps, leave the same fills, fees, settlement and balance, to the cent. The
settlement rule is the venue applier's (venue/applier.py): the result a `determined` or
`settled` message states, else the one the market's reference data knows."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.backtest.engine import Driver, ReplayFeed
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.data.replay import Record
from kalshi_cli.feed.book import BookSet, FeedMessage
from kalshi_cli.feed.messages import convert_frame
from kalshi_cli.feed.session import FeedSession
from kalshi_cli.runner.paper import PaperFeed
from kalshi_cli.venue import LocalVenue, MarketInfo, default_info
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide

T = "KXPARITY-26JAN01-T50"
START_NS = 1_767_225_600 * 10**9
STEP_NS = 10**9


def frames(*lifecycle: dict[str, Any]) -> list[dict[str, Any]]:
    """A book with YES bids at 0.40, a public trade whose NO taker sells into them (our bid
    queued behind the book's 10 fills with 5 of the 25), then the market's lifecycle."""
    book = {
        "market_ticker": T,
        "yes_dollars_fp": [["0.4000", "10.00"]],
        "no_dollars_fp": [["0.5500", "10.00"]],
    }
    trade = {
        "market_ticker": T,
        "trade_id": "t-1",
        "yes_price_dollars": "0.4000",
        "no_price_dollars": "0.6000",
        "count_fp": "15.00",
        "taker_outcome_side": "no",
        "ts_ms": 1,
    }
    out = [
        {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": book},
        {"type": "trade", "sid": 2, "seq": 1, "msg": trade},
    ]
    out += [
        {"type": "market_lifecycle_v2", "sid": 3, "seq": i + 1, "msg": {"market_ticker": T, **m}}
        for i, m in enumerate(lifecycle)
    ]
    return out


def our_bid(venue: LocalVenue) -> None:
    venue.client.orders.create_order(CreateOrder(T, BookSide.BID, Decimal("0.40"), Decimal(8)))


def backtest(info: MarketInfo, sent: list[dict[str, Any]]) -> LocalVenue:
    """The backtest's driver over the frames as recorded (our bid placed after the book)."""
    clock = ReplayClock(START_NS / 1e9)
    venue = LocalVenue(clock, [info], balance=Decimal(100))
    records: list[Record] = [
        (START_NS + i * STEP_NS, convert_frame(f), False) for i, f in enumerate(sent)
    ]
    driver = Driver(iter(records), ReplayFeed([T], clock), venue, clock)
    driver.advance_to((START_NS + STEP_NS // 2) / 1e9)
    our_bid(venue)
    driver.advance_to((START_NS + len(sent) * STEP_NS) / 1e9)
    return venue


class LiveFeed:
    """What a paper session's feed is made of: a `FeedSession` reading each frame as the text
    the WebSocket delivers, its books and its events (no coalescing: one drain per frame)."""

    mode = "ws"

    def __init__(self) -> None:
        self.messages: list[FeedMessage] = []
        self.books = BookSet(self.messages.append, source="ws")
        self.books.add([T])
        self.session = FeedSession(self.books, self.messages.append, clock=ManualClock())

    def book(self, ticker: str) -> Orderbook | None:
        return self.books.orderbook(ticker)

    def drain_messages(self) -> list[FeedMessage]:
        events = self.messages[:]
        self.messages.clear()  # the session and the books hold its `append`
        return events

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def is_fresh(self, ticker: str) -> bool:
        return self.books.is_fresh(ticker)

    def data_age(self, ticker: str) -> float:
        return 0.0

    def last_message_age(self) -> float:
        return 0.0


def paper(info: MarketInfo, sent: list[dict[str, Any]]) -> LocalVenue:
    """A paper session's feed over the same frames as live text, its venue fed on each drain."""
    clock = ManualClock(START_NS / 1e9)
    venue = LocalVenue(clock, [info], balance=Decimal(100))
    live = LiveFeed()
    feed = PaperFeed(live, venue)
    for i, frame in enumerate(sent):
        if i:
            clock.advance(STEP_NS / 1e9)
        live.session.handle(json.dumps(frame))
        feed.drain_messages()
        if i == 0:
            our_bid(venue)
    return venue


def outcome(venue: LocalVenue) -> dict[str, Any]:
    portfolio = venue.client.portfolio
    return {
        "fills": [(f.count, f.yes_price, f.fee, f.book_side) for f in portfolio.iter_fills()],
        "settlements": [
            (s.market_result, s.yes_count, s.revenue, s.fee) for s in portfolio.iter_settlements()
        ],
        "positions": [(p.ticker, p.position) for p in portfolio.get_positions()],
        "balance": portfolio.get_balance().balance,
    }


@pytest.mark.parametrize(
    ("reference_result", "lifecycle", "settled_at"),
    [
        ("", [{"event_type": "determined", "result": "yes"}, {"event_type": "settled"}], "yes"),
        # the result on `settled` only (the wire sends it there too)
        ("", [{"event_type": "settled", "result": "no"}], "no"),
        # the message names no result: the reference data's
        ("yes", [{"event_type": "determined"}], "yes"),
        # no result anywhere: trading stops, nothing is paid
        ("", [{"event_type": "determined"}], None),
        # a scalar result pays YES its settlement value
        (
            "",
            [{"event_type": "determined", "result": "scalar", "settlement_value": "0.2500"}],
            "scalar",
        ),
    ],
    ids=["determined", "settled-names-it", "from-reference", "unknown", "scalar"],
)
def test_both_modes_fill_and_settle_a_market_to_the_same_cent(
    reference_result: str, lifecycle: list[dict[str, Any]], settled_at: str | None
) -> None:
    info = replace(default_info(T), result=reference_result)
    sent = frames(*lifecycle)
    in_backtest, on_paper = outcome(backtest(info, sent)), outcome(paper(info, sent))
    assert in_backtest == on_paper
    # and what both did is the market's outcome: 5 of our 8 filled at 0.40, a taker's fee none
    assert [(count, price) for count, price, _, _ in in_backtest["fills"]] == [
        (Decimal(5), Decimal("0.40"))
    ]
    results = [s[0] for s in in_backtest["settlements"]]
    assert results == ([] if settled_at is None else [settled_at])
    if settled_at == "yes":
        assert in_backtest["settlements"][0][2] == Decimal(5)  # $1 a contract held
    if settled_at == "scalar":
        assert in_backtest["settlements"][0][2] == Decimal("1.25")  # $0.25 a contract held


@pytest.mark.parametrize("mode", [backtest, paper], ids=["backtest", "paper"])
def test_a_public_trade_delivered_twice_fills_once(mode: Any) -> None:
    """The same trade (its `trade_id`) sent twice, one frame repeated: both modes filled our
    bid against it twice, 8 of 8 where the exchange's one trade of 15 behind a queue of 10
    fills 5."""
    sent = frames()
    sent.insert(2, sent[1])
    fills = outcome(mode(default_info(T), sent))["fills"]
    assert [(count, price) for count, price, _, _ in fills] == [(Decimal(5), Decimal("0.40"))]


@pytest.mark.parametrize("mode", [backtest, paper], ids=["backtest", "paper"])
def test_a_trade_of_a_second_subscription_of_its_channel_fills_nothing(mode: Any) -> None:
    """The exchange granted the trade channel twice, and every trade came under both sids. One
    subscription of a channel is read, the first granted (`feed.book.Subscriptions`): a paper
    session dropped the second's trade, a backtest of its recording filled our bid against it
    again (a trade without its id, which no applier can tell from another)."""
    sent = frames()
    trade = {k: v for k, v in sent[1]["msg"].items() if k != "trade_id"}
    sent[1:] = [
        {"id": 1, "type": "subscribed", "msg": {"channel": "trade", "sid": 2}},
        {"id": 2, "type": "subscribed", "msg": {"channel": "trade", "sid": 5}},
        {"type": "trade", "sid": 2, "seq": 1, "msg": trade},
        {"type": "trade", "sid": 5, "seq": 1, "msg": trade},
    ]
    fills = outcome(mode(default_info(T), sent))["fills"]
    assert [(count, price) for count, price, _, _ in fills] == [(Decimal(5), Decimal("0.40"))]
