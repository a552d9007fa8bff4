"""A fill the exchange lists in a later read than a fill made after it (reads lag writes; the
catch-up reads from a margin before the last fill; a `fill` message and a read can cross) is
applied after that later fill. Average cost is path dependent, so each fill's stored realized
P&L, which the daily circuit breaker adds up, must be what the replay in time order gives:
the figure `kalshi pnl` reports from the same state file, and what a restart rebuilds."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.execution.fills import Sent
from kalshi_cli.runner.preflight import rebuild
from kalshi_cli.services.owner_parts import PositionBook
from kalshi_cli.services.pnl import book_history, summarize_store
from kalshi_cli.store import FillRecord, SettlementRecord
from kalshi_cli.strategy_api import Holding
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import Fill
from kalshi_cli.vocabulary.units import ZERO, Action, BookSide, Side
from tests.runner.fakes import START, listed_fill, make_rig


def test_a_fill_listed_after_a_later_one_realizes_what_the_replay_in_time_order_does(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "s.db")
    ticker = next(iter(rig.loop.portfolio.markets))
    bought = listed_fill("t1-buy", ticker, "bid", "0.4000", 10)
    sold = listed_fill("t2-sell", ticker, "ask", "0.5000", 20)
    again = listed_fill("t3-buy", ticker, "bid", "0.6000", 30)
    fills = rig.loop.executor.fills
    rig.client.iter_fills = lambda **_: iter([again, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 2
    day = utc_day(START)
    assert rig.loop.questions.records.daily_realized_pnl(day) == Decimal(
        "-0.02"
    )  # the breaker's, kept
    # the next read lists the sale, made between the two
    rig.client.iter_fills = lambda **_: iter([again, sold, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 1

    # in time order: 10 bought at $0.40, sold at $0.50 (+$1.00), 10 bought at $0.60 held;
    # $0.03 of fees
    assert summarize_store(rig.store).realized == Decimal("0.97")
    stored = {f.fill_id: f.realized_pnl for f in rig.store.fills.iter_fills()}
    assert stored == {
        "t1-buy": Decimal("-0.01"),
        "t2-sell": Decimal("0.99"),
        "t3-buy": Decimal("-0.01"),
    }
    assert rig.store.trading.daily_realized_pnl(day) == Decimal("0.97")
    assert rig.loop.questions.records.daily_realized_pnl(day) == Decimal("0.97")
    # the loop's position is what a restart rebuilds: 10 held at $0.60, not at $0.50
    held = rig.loop.portfolio.pnl.markets[ticker]
    rebuilt = Portfolio(rig.loop.portfolio.markets.values())
    rebuild(rig.store, rebuilt, ticker=ticker)
    again_held = rebuilt.pnl.markets[ticker]
    assert (held.position, held.basis) == (Decimal(10), Decimal("6.00"))
    assert (held.position, held.basis, held.realized) == (
        again_held.position,
        again_held.basis,
        again_held.realized,
    )


def test_a_late_fill_before_midnight_reprices_a_sale_of_the_next_day(tmp_path: Path) -> None:
    """The day the breaker reads is the sale's, not the late fill's: 10 bought at $0.40 and,
    listed late, 10 at $0.60 just before midnight make the sale at $0.50 after it realize
    $0.00, not the $1.00 it realized against $0.40 alone."""
    rig = make_rig(tmp_path / "s.db")
    ticker = next(iter(rig.loop.portfolio.markets))
    bought = listed_fill("d1-buy", ticker, "bid", "0.4000", -30)
    late = listed_fill("d1-late-buy", ticker, "bid", "0.6000", -20)
    sold = listed_fill("d2-sell", ticker, "ask", "0.5000", 10)
    fills, today = rig.loop.executor.fills, utc_day(START)
    rig.client.iter_fills = lambda **_: iter([sold, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 2
    assert rig.loop.questions.records.daily_realized_pnl(today) == Decimal(
        "0.99"
    )  # kept by the loop
    rig.client.iter_fills = lambda **_: iter([sold, late, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 1
    assert rig.store.trading.daily_realized_pnl(today) == Decimal("-0.01")
    assert rig.loop.questions.records.daily_realized_pnl(today) == Decimal("-0.01")


def test_a_late_fill_books_its_market_again_from_the_last_mark_before_it(tmp_path: Path) -> None:
    """Booking a market again from nothing costs every fill it ever had; a late fill books it
    from the newest mark before the fill (one a minute of its fills), so what comes before that
    mark is not read again (a stored figure there, written wrong on purpose, stays so). A fill
    older than every mark books the market from nothing again, which rewrites that figure."""
    rig = make_rig(tmp_path / "s.db")
    ticker = next(iter(rig.loop.portfolio.markets))
    first = listed_fill("m1-buy", ticker, "bid", "0.4000", 0)  # marked before: 0 s
    sold = listed_fill("m2-sell", ticker, "ask", "0.5000", 100)  # marked before: 100 s
    bought = listed_fill("m3-buy", ticker, "bid", "0.6000", 200)  # and 200 s
    fills = rig.loop.executor.fills
    rig.client.iter_fills = lambda **_: iter([bought, sold, first])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 3
    rig.store.fills.set_fill_realized_pnl("m1-buy", Decimal("-9"))
    late = listed_fill("m4-late-buy", ticker, "bid", "0.3000", 150)
    rig.client.iter_fills = lambda **_: iter([late])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 1

    stored = {f.fill_id: f.realized_pnl for f in rig.store.fills.iter_fills()}
    assert stored == {
        "m1-buy": Decimal("-9"),  # before the mark at 100 s: not booked again
        "m2-sell": Decimal("0.99"),
        "m4-late-buy": Decimal("-0.01"),
        "m3-buy": Decimal("-0.01"),
    }
    rebuilt = Portfolio(rig.loop.portfolio.markets.values())
    rebuild(rig.store, rebuilt, ticker=ticker)
    held, again = rig.loop.portfolio.pnl.markets[ticker], rebuilt.pnl.markets[ticker]
    assert (held.position, held.basis) == (again.position, again.basis) == (20, Decimal("9.00"))

    oldest = listed_fill("m0-late-buy", ticker, "bid", "0.2000", -10)
    rig.client.iter_fills = lambda **_: iter([oldest])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 1
    stored = {f.fill_id: f.realized_pnl for f in rig.store.fills.iter_fills()}
    # from nothing: 20 bought at $0.30 average, 10 sold at $0.50
    assert (stored["m1-buy"], stored["m2-sell"]) == (Decimal("-0.01"), Decimal("1.99"))
    held = rig.loop.portfolio.pnl.markets[ticker]
    assert (held.position, held.basis) == (30, Decimal("12.00"))
    # a fill of the latest fill's second is no place for a mark: its booking holds that fill
    tie = listed_fill("m5-buy", ticker, "bid", "0.5000", 200)
    after = listed_fill("m6-sell", ticker, "ask", "0.5000", 300)
    late = listed_fill("m7-late-sell", ticker, "ask", "0.6000", 250)
    for listed in ([after, tie], [late]):
        rig.client.iter_fills = lambda listed=listed, **_: iter(listed)  # type: ignore[method-assign]
        fills.sync(since_ts=0)
    rebuilt = Portfolio(rig.loop.portfolio.markets.values())
    rebuild(rig.store, rebuilt, ticker=ticker)
    held, again = rig.loop.portfolio.pnl.markets[ticker], rebuilt.pnl.markets[ticker]
    assert (held.position, held.basis) == (again.position, again.basis) == (20, Decimal("8.50"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fills_listed_out_of_time_order_book_what_time_order_books(
    tmp_path: Path, seed: int
) -> None:
    """Forty fills of one market, a strategy's and a person's, over twenty minutes, listed by
    reads that leave some out until a later read: every stored realized P&L, the market's
    position and each owner's part are what booking the state file in time order gives, from
    marks or from nothing."""
    rng = random.Random(seed)
    rig = make_rig(tmp_path / "s.db")
    ticker = next(iter(rig.loop.portfolio.markets))
    fills, made, second = rig.loop.executor.fills, [], 0
    for n in range(40):
        second += rng.randint(0, 60)  # two fills of one second too
        price = f"{rng.randint(20, 80) / 100:.4f}"
        fill = listed_fill(f"p{n}", ticker, rng.choice(["bid", "ask"]), price, second)
        if rng.random() < 0.5:  # the strategy's order
            sent = Sent(f"c{n}", Side.YES, Action.BUY, Decimal(price), Decimal(price), "alpha", 0)
            fills.sent.remember(fill.order_id, sent)
        made.append(fill)
    waiting: list[Fill] = []
    for fill in made:
        waiting.append(fill)
        if rng.random() < 0.4:
            listed = [f for f in waiting if rng.random() < 0.7]
            rig.client.iter_fills = lambda listed=listed, **_: iter(listed)  # type: ignore[method-assign]
            fills.sync(since_ts=0)
            waiting = [f for f in waiting if f not in listed]
    rig.client.iter_fills = lambda **_: iter(waiting)  # type: ignore[method-assign]
    fills.sync(since_ts=0)

    book = PositionBook()
    nets = {}
    for record in book_history(rig.store, 0, ticker):
        if isinstance(record, FillRecord):
            nets[record.fill_id] = book.book_fill(record).net
    assert {f.fill_id: f.realized_pnl for f in rig.store.fills.iter_fills()} == nets
    loop = rig.loop.portfolio.book
    assert loop.pnl.markets[ticker] == book.pnl.markets[ticker]
    assert loop.opened_at.get(ticker) == book.opened_at.get(ticker)
    parts = {o: p[:2] for o, p in loop.owners.parts_of(ticker).items() if p[0] is not None}
    assert parts == {o: p[:2] for o, p in book.owners.parts_of(ticker).items()}


def test_a_mark_is_no_place_to_book_again_from_once_the_parts_changed_otherwise() -> None:
    """Fills booked in time order keep a mark; a settlement, a fill given to its owner late, an
    assignment or an order of unknown outcome (whose replay of the parts is kept) end it."""
    book = PositionBook()
    book.owners.own("alpha")
    book.fill(("T", BookSide.BID, Decimal("0.40"), Decimal(10), ZERO, 0.0, None), "f1")
    mark = book.mark("T", 10.0)
    assert mark is not None
    book.fill(("T", BookSide.BID, Decimal("0.50"), Decimal(10), ZERO, 10.0, "alpha"), "f2")
    assert book.holds(mark)
    book.owners.keep_replay("T")
    assert (book.holds(mark), book.mark("T", 20.0)) == (False, None)
    book.fill(("T", BookSide.BID, Decimal("0.60"), Decimal(10), ZERO, 20.0, None), "f3")
    book.owners.give("alpha", {"f3"})
    book.owners.drop_replay("T")
    assert not book.holds(mark)
    for change in (
        lambda: book.owners.assign("alpha", "T", Holding(Decimal(30), Decimal("0.50")), 30.0),
        lambda: book.settle("T", "yes", ts=40.0, fee=ZERO),
    ):
        mark = book.mark("T", 20.0)
        assert mark is not None and book.holds(mark)
        change()
        assert not book.holds(mark)


def _stored(
    fill_id: str, side: BookSide, price: str, ts: float, owner: str | None, *, count: int = 10
) -> FillRecord:
    """A fill in market T as the state file keeps it, without fee."""
    return FillRecord(
        fill_id, "o", None, "T", side, Decimal(price), Decimal(count), ZERO, False, ts, owner
    )


def test_a_position_opens_at_its_first_fill_and_a_fill_adding_to_it_keeps_that() -> None:
    """When the account's position and the strategy's part opened (what an exit by holding time
    reads) is the first fill's time, not the latest's, down to a first fill of one contract."""
    book = PositionBook()
    book.book_fill(_stored("f1", BookSide.BID, "0.40", 10.0, "alpha", count=1))
    book.book_fill(_stored("f2", BookSide.BID, "0.50", 20.0, "alpha"))
    assert book.opened_at["T"] == 10.0
    assert book.owners.holding("alpha", "T", Decimal(11)).opened_at == 10.0


def test_a_market_booked_again_from_nothing_counts_each_fill_once() -> None:
    """Booked again over its whole history (a late fill with no mark before it), a market's
    parts and what each owner realized there start from nothing, as a restart's do."""
    book = PositionBook()
    history = [
        _stored("f1", BookSide.BID, "0.40", 10.0, "alpha"),
        _stored("f2", BookSide.ASK, "0.50", 20.0, "alpha"),
    ]
    for record in history:
        book.book_fill(record)

    book.book_again("T", history)

    assert book.owners.realized() == {"alpha": Decimal("1.00")}


def test_a_market_booked_again_over_a_settlement_settles_its_parts_there() -> None:
    book = PositionBook()
    settled = SettlementRecord(
        "T", "E", "yes", Decimal(10), ZERO, Decimal(4), ZERO, Decimal(10), ZERO, 20.0
    )
    book.book_fill(_stored("f1", BookSide.BID, "0.40", 10.0, "alpha"))
    book.book(settled)

    book.book_again("T", [_stored("f1", BookSide.BID, "0.40", 10.0, "alpha"), settled])

    assert book.owners.realized() == {"alpha": Decimal("6.00")}


def test_fills_given_late_after_their_market_was_booked_again_are_replayed_once() -> None:
    """An order of unknown outcome bought and sold: its fills are booked as nobody's, the
    market is booked again from nothing (a late fill), then the order is found: its strategy
    realized what the fills did, once."""
    book = PositionBook()
    book.owners.own("alpha")
    book.owners.keep_replay("T")
    history = [
        _stored("f1", BookSide.BID, "0.40", 10.0, None),
        _stored("f2", BookSide.ASK, "0.50", 20.0, None),
    ]
    for record in history:
        book.book_fill(record)
    book.book_again("T", history)

    book.owners.give("alpha", {"f1", "f2"})

    assert book.owners.realized() == {"alpha": Decimal("1.00")}


def test_a_fill_listed_after_a_restart_behind_a_later_stored_one_books_its_market_in_time_order(
    tmp_path: Path,
) -> None:
    """The fills a run stored are replayed at the next start: the restarted loop knows each
    market's latest fill, so the sale made between the two buys, first listed after the
    restart, is late there too and realizes what the replay in time order does."""
    state = tmp_path / "s.db"
    rig = make_rig(state)
    ticker = next(iter(rig.loop.portfolio.markets))
    bought = listed_fill("t1-buy", ticker, "bid", "0.4000", 10)
    sold = listed_fill("t2-sell", ticker, "ask", "0.5000", 20)
    again = listed_fill("t3-buy", ticker, "bid", "0.6000", 30)
    rig.client.iter_fills = lambda **_: iter([again, bought])  # type: ignore[method-assign]
    assert rig.loop.executor.fills.sync(since_ts=0) == 2
    rig.store.close()

    restarted = make_rig(
        state, exchange=rig.exchange, clock=rig.clock, account_id=rig.client.account_id
    )
    restarted.client.iter_fills = lambda **_: iter([again, sold, bought])  # type: ignore[method-assign]
    assert restarted.loop.executor.fills.sync(since_ts=0) == 1

    stored = {f.fill_id: f.realized_pnl for f in restarted.store.fills.iter_fills()}
    assert stored == {
        "t1-buy": Decimal("-0.01"),
        "t2-sell": Decimal("0.99"),
        "t3-buy": Decimal("-0.01"),
    }
    held = restarted.loop.portfolio.pnl.markets[ticker]
    assert (held.position, held.basis) == (Decimal(10), Decimal("6.00"))
