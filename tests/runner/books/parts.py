"""A portfolio of strategies' parts in one market, and fills into it, for the tests of how
the parts are built, cut and given."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import ZERO, BookSide

TICKER = "KXTEST-26JAN02-A"
START = 1_767_355_200.0  # 2026-01-02 12:00 UTC


def loop_of(*names: str) -> Portfolio:
    """The market's portfolio as a loop running `names` holds it."""
    portfolio = Portfolio([Market(ticker=TICKER)])
    for name in names:
        portfolio.owners.own(name)
    return portfolio


def filled(
    portfolio: Portfolio,
    book_side: BookSide,
    yes_price: str,
    count: int,
    strategy: str | None,
    *,
    at: float = START,
) -> None:
    """A fill of `strategy`'s order (None: nobody's, an order placed by hand), without fee."""
    portfolio.apply_fill(
        TICKER, book_side, Decimal(yes_price), Decimal(count), ZERO, ts=at, strategy=strategy
    )
