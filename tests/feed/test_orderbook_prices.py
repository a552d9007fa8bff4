"""`use_yes_price`: the orderbook channel's NO levels in YES-leg prices (asyncapi.yaml: the default
flips to true, then the flag goes). The feed asks for its convention explicitly and reads the NO
levels by it; a reading that crosses the book is the other convention (an exchange that ignored
the flag), taken for the rest of the subscription; a delta that would cross is a gap that
resnapshots; the simulator honours the flag both ways."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.feed.book import BookSet, FeedMessage, MessageKind
from kalshi_cli.feed.session import FeedSession
from kalshi_cli.vocabulary.clock import ManualClock
from tests.feed import wire
from tests.feed.helpers import SimBooks
from tests.waiting import wait_until

D = Decimal


def session(*, yes_priced: bool) -> tuple[FeedSession, BookSet, list[FeedMessage], list[Any]]:
    messages: list[FeedMessage] = []
    sent: list[Any] = []
    books = BookSet(messages.append, source="ws", yes_priced=yes_priced)
    books.add(["A"])
    feed = FeedSession(books, messages.append, clock=ManualClock(), resnapshot_timeout=2.0)
    feed.open(lambda text: sent.append(json.loads(text)))
    return feed, books, messages, sent


@pytest.mark.parametrize("yes_priced", [True, False])
def test_the_orderbook_subscription_names_its_convention(yes_priced: bool) -> None:
    _, _, _, sent = session(yes_priced=yes_priced)
    [book] = [c["params"] for c in sent if c["params"]["channels"] == ["orderbook_delta"]]
    assert book["use_yes_price"] is yes_priced


def test_no_levels_in_yes_leg_prices_are_read_as_the_no_bids_they_are() -> None:
    feed, books, _, _ = session(yes_priced=True)
    feed.handle(wire.subscribed(1, "orderbook_delta", 7))
    # a NO bid of 5 at 0.30, in YES-leg prices 0.70
    feed.handle(wire.snapshot(7, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.7000", "5.00"]]))
    feed.handle(wire.delta(7, 2, "A", "no 0.7000 -2.00"))
    feed.handle(wire.delta(7, 3, "A", "no 0.6500 4.00"))  # a NO bid of 4 at 0.35
    book = books.orderbook("A")
    assert book is not None
    assert book.no_bids == ((D("0.35"), D(4)), (D("0.30"), D(3)))
    assert book.yes_bids == ((D("0.40"), D(10)),)


def test_yes_leg_levels_on_a_no_leg_subscription_are_found_and_read_right() -> None:
    """Before: the NO bid at 0.30 (sent as 0.70) was kept as a NO bid at 0.70, crossing the
    YES bid at 0.40, with no signal; every implied YES ask was off by 1 - 2p."""
    feed, books, events, _ = session(yes_priced=False)
    feed.handle(wire.subscribed(1, "orderbook_delta", 7))
    feed.handle(wire.snapshot(7, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.7000", "5.00"]]))
    book = books.orderbook("A")
    assert book is not None and book.no_bids == ((D("0.30"), D(5)),)
    assert books.yes_priced is True
    [said] = [e for e in events if e.kind is MessageKind.ERROR]
    assert said.data == {"orderbook_prices": "yes_leg"}
    # and its deltas are read the same way from then on
    feed.handle(wire.delta(7, 2, "A", "no 0.7000 -1.00"))
    assert books.orderbook("A").no_bids == ((D("0.30"), D(4)),)  # type: ignore[union-attr]


def test_books_read_before_a_switch_of_prices_are_stale_and_resnapshotted() -> None:
    """A snapshot crosses in the declared prices only when its best YES bid is at least its
    best NO-leg NO bid; A's (YES 0.40, NO 0.55 NO-leg) does not, so it was taken as a NO bid
    at 0.45. B's crossed and switched the subscription to NO-leg prices, but A's book stayed
    fresh with its NO bid 0.10 off and its deltas read against it in the other prices."""
    messages: list[FeedMessage] = []
    sent: list[Any] = []
    books = BookSet(messages.append, source="ws", yes_priced=True)
    books.add(["A", "B"])
    feed = FeedSession(books, messages.append, clock=ManualClock(), resnapshot_timeout=2.0)
    feed.open(lambda text: sent.append(json.loads(text)))
    feed.handle(wire.subscribed(1, "orderbook_delta", 7))
    sent.clear()
    # the exchange ignored `use_yes_price` and sends NO-leg prices
    feed.handle(wire.snapshot(7, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.5500", "5.00"]]))
    feed.handle(wire.snapshot(7, 2, "B", yes=[["0.4000", "10.00"]], no=[["0.3000", "5.00"]]))
    assert books.yes_priced is False
    assert books.orderbook("B") is not None
    assert books.orderbook("A") is None  # not traded on until read again
    assert (MessageKind.STALE, "A") in [(e.kind, e.ticker) for e in messages]
    assert [(c["params"]["action"], c["params"]["market_tickers"]) for c in sent] == [
        ("get_snapshot", ["A"])
    ]
    feed.handle(wire.snapshot(7, 3, "A", yes=[["0.4000", "10.00"]], no=[["0.5500", "5.00"]]))
    assert books.orderbook("A").no_bids == ((D("0.55"), D(5)),)  # type: ignore[union-attr]


def test_a_delta_that_would_cross_the_book_is_a_gap_that_resnapshots() -> None:
    feed, books, events, sent = session(yes_priced=True)
    feed.handle(wire.subscribed(1, "orderbook_delta", 7))
    feed.handle(wire.snapshot(7, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.7000", "5.00"]]))
    sent.clear()
    # a NO level at 0.65 NO-leg sent on a YES-leg subscription: read as a NO bid at 0.35, fine;
    # at 0.30 YES-leg it would be a NO bid at 0.70, crossing the YES bid at 0.40
    feed.handle(wire.delta(7, 2, "A", "no 0.3000 1.00"))
    assert books.orderbook("A") is None  # stale: not traded on
    assert any(e.kind is MessageKind.STALE and e.reason == "bad_delta" for e in events)
    assert [c["params"]["action"] for c in sent] == ["get_snapshot"]


@pytest.mark.parametrize("yes_priced", [True, False], ids=["yes-leg", "no-leg"])
def test_the_simulator_honours_the_flag_both_ways(sim: Any, yes_priced: bool) -> None:
    """The feed's book equals the exchange's (REST) book whichever convention it asked for:
    the simulator sends the NO levels in the prices asked, and the feed reads them so."""
    books = SimBooks(sim)
    ticker = books.market("FEED-YP")
    books.rest_orders(ticker, 6)
    # a YES ask at 0.70 is a NO bid at 0.30: 0.70 in YES-leg prices
    books.order(books.maker, ticker, side="ask", price="0.7000", count="5.00",
                tif="good_till_canceled")  # fmt: skip
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages, yes_priced=yes_priced)
    feed.start()
    try:
        wait_until(lambda: feed.book(ticker) is not None, "feed.book(ticker) is not None")
        rest = books.rest_book(ticker)
        assert rest.no_bids, "the test needs NO bids"
        assert feed.book(ticker) == rest
        books.rest_orders(ticker, 6)
        books.cross(ticker)
        books.wait_equal(feed, ticker)
        # it never had to guess: no reading crossed
        assert not [e for e in messages if e.kind is MessageKind.ERROR]
        assert feed.books.yes_priced is yes_priced
    finally:
        feed.stop()
