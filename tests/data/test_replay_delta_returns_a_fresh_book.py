"""`BookReplay.delta` hands back the market's book only when it is fresh after the delta (the
backtest's driver counts a book event by it, and asks nothing more of the book); the backtest
feed's `data_age` reads a change's time before the tick drains it, and after."""

from __future__ import annotations

from kalshi_cli.backtest.engine import ReplayFeed
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.data.replay import BookReplay
from kalshi_cli.feed.messages import DeltaMessage, decode
from tests.feed import wire

SID = 3


def _books() -> BookReplay:
    books = BookReplay()
    books.apply(0, decode(wire.subscribed(1, "orderbook_delta", SID)))
    books.apply(1, decode(wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]])))
    return books


def _delta(seq: int, change: str, ticker: str = "A") -> DeltaMessage:
    frame = decode(wire.delta(SID, seq, ticker, change))
    assert isinstance(frame, DeltaMessage)
    return frame


def test_an_applied_delta_gives_its_fresh_book() -> None:
    books = _books()
    book = books.delta(2, _delta(2, "yes 0.4000 5.00"))
    assert book is books.books["A"] and book.fresh
    assert book.yes_ticks == {4000: 1500}


def test_a_repeated_delta_on_a_fresh_book_gives_the_book_unchanged() -> None:
    books = _books()
    books.delta(2, _delta(2, "yes 0.4000 5.00"))
    book = books.delta(3, _delta(2, "yes 0.4000 5.00"))
    assert book is books.books["A"] and book.yes_ticks == {4000: 1500}
    assert books.skipped["duplicate"] == 1


def test_a_delta_that_leaves_the_book_stale_gives_none() -> None:
    books = _books()
    assert books.delta(2, _delta(2, "yes 0.4000 -11.00")) is None
    assert not books.books["A"].fresh and books.skipped["bad_delta"] == 1
    # and one on the stale book, skipped, gives none either
    assert books.delta(3, _delta(3, "yes 0.4000 1.00")) is None
    assert books.skipped["stale_delta"] == 1


def test_a_delta_of_a_market_without_a_snapshot_gives_none() -> None:
    books = _books()
    assert books.delta(2, _delta(2, "yes 0.4000 1.00", "B")) is None


def test_the_feed_ages_a_market_from_its_last_change_before_and_after_the_drain() -> None:
    clock = ReplayClock(100.0)
    feed = ReplayFeed(["A", "B"], clock)
    assert feed.data_age("A") == float("inf")
    feed.changed["A"] = 101.0  # as the driver keeps a book change, at its receive time
    feed.changed["A"] = 102.0
    clock.set(105.0)
    assert feed.data_age("A") == 3.0
    feed.drain_messages()
    assert feed.data_age("A") == 3.0 and feed.data_age("B") == float("inf")
    feed.changed["A"] = 104.0
    assert feed.data_age("A") == 1.0
