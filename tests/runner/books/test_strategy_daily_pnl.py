"""A strategy's realized P&L for the day, which its daily loss limit reads, counts what its own
fills and settlements realized on the UTC day asked about, whatever order they reach it in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.services.owner_parts import PositionBook
from kalshi_cli.store import FillRecord
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import BookSide

D = Decimal
TRADED, LATE = "KXTEST-26JAN02-A", "KXTEST-26JAN02-B"
MIDNIGHT = datetime(2026, 1, 2, tzinfo=UTC).timestamp()


def test_a_fill_of_yesterday_given_late_leaves_todays_realized_pnl_counted() -> None:
    """An order placed just before midnight whose answer was lost: its fill is booked as
    nobody's, and given to its strategy once the lookup finds the order, after midnight and
    after the strategy lost a dollar today. Today's loss is still counted."""
    portfolio = Portfolio([Market(ticker=TRADED), Market(ticker=LATE)])
    portfolio.owners.own("mm")
    late = FillRecord(
        "f-late", "o-late", None, LATE, BookSide.BID, D("0.30"), D(5), D(0), False, MIDNIGHT - 3
    )
    portfolio.owners.keep_replay(LATE)  # the order's answer was lost
    portfolio.apply_fill(
        LATE,
        late.book_side,
        late.yes_price,
        late.count,
        late.fee,
        ts=late.ts,
        strategy=None,
        fill_id=late.fill_id,
    )
    portfolio.apply_fill(
        TRADED, BookSide.BID, D("0.50"), D(10), D(0), ts=MIDNIGHT + 1, strategy="mm"
    )
    portfolio.apply_fill(
        TRADED, BookSide.ASK, D("0.40"), D(10), D(0), ts=MIDNIGHT + 2, strategy="mm"
    )
    today = utc_day(MIDNIGHT + 5)
    assert portfolio.owners.realized_today("mm", today) == D("-1.00")
    portfolio.give_fills("mm", [late])
    assert portfolio.view_for(LATE, "mm").position == 5, "the late fill is the strategy's"
    assert portfolio.owners.realized_today("mm", today) == D("-1.00")


def test_what_a_market_realizes_adds_up_over_the_day_and_starts_afresh_the_next() -> None:
    portfolio = Portfolio([Market(ticker=TRADED)])
    portfolio.owners.own("mm")
    yesterday, today = utc_day(MIDNIGHT - 1), utc_day(MIDNIGHT + 1)
    assert portfolio.owners.realized_today("mm", today) == D(0)
    assert isinstance(portfolio.owners.realized_today("mm", today), Decimal)

    def fill(book_side: BookSide, price: str, count: int, at: float) -> None:
        portfolio.apply_fill(TRADED, book_side, D(price), D(count), D(0), ts=at, strategy="mm")

    fill(BookSide.BID, "0.50", 10, MIDNIGHT - 60)
    fill(BookSide.ASK, "0.45", 10, MIDNIGHT - 30)  # -0.50 yesterday
    assert portfolio.owners.realized_today("mm", yesterday) == D("-0.50")
    fill(BookSide.BID, "0.50", 10, MIDNIGHT + 10)
    fill(BookSide.ASK, "0.60", 5, MIDNIGHT + 20)  # +0.50 today
    fill(BookSide.ASK, "0.70", 5, MIDNIGHT + 30)  # +1.00 today, in the same market
    assert portfolio.owners.realized_today("mm", today) == D("1.50")
    assert portfolio.owners.realized_today("mm", yesterday) == D(0)  # today's replaced it


def test_a_sale_of_yesterday_booked_after_one_of_today_counts_in_the_total_not_today() -> None:
    """Fills reach the book in the order they are read, not made: a sale made before midnight
    and booked after one of today in the same market is no part of today's figure, which the
    daily loss limit reads, and is part of everything the strategy realized."""
    portfolio = Portfolio([Market(ticker=TRADED)])
    portfolio.owners.own("mm")
    today = utc_day(MIDNIGHT + 1)

    def fill(book_side: BookSide, price: str, count: int, at: float) -> None:
        portfolio.apply_fill(TRADED, book_side, D(price), D(count), D(0), ts=at, strategy="mm")

    fill(BookSide.BID, "0.50", 10, MIDNIGHT - 60)
    fill(BookSide.ASK, "0.60", 5, MIDNIGHT + 20)  # +0.50 today
    fill(BookSide.ASK, "0.40", 5, MIDNIGHT - 30)  # -0.50 yesterday, booked late
    assert portfolio.owners.realized_today("mm", today) == D("0.50")
    assert portfolio.owners.realized() == {"mm": D("0.00")}


def test_what_a_strategy_realized_since_a_moment_counts_a_sale_at_that_moment() -> None:
    """`kalshi pnl --by strategy --since` and the metric count from midnight on: a sale made at
    midnight exactly is the new day's."""
    book = PositionBook(since=MIDNIGHT)
    book.fill((TRADED, BookSide.BID, D("0.50"), D(10), D(0), MIDNIGHT - 60, "mm"))
    book.fill((TRADED, BookSide.ASK, D("0.60"), D(10), D(0), MIDNIGHT, "mm"))
    assert book.owners.realized() == {"mm": D("1.00")}
