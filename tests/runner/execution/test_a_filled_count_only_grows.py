"""The exchange's count of an order's contracts filled only grows: a figure told after a larger
one (an answer or message that left earlier and arrived later) is older, and never lowers what
the limits count as filled and not read yet."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.execution.fills import MAX_REMEMBERED, AppliedFills
from kalshi_cli.services.pretrade.books import OpenOrder, open_order
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import BookSide, Side

A = "KXTEST-26JAN01-A"


def _bid(order_id: str = "o1", count: str = "10") -> OpenOrder:
    return open_order(
        order_id=order_id,
        client_order_id=f"c-{order_id}",
        ticker=A,
        book_side=BookSide.BID,
        yes_price=Decimal("0.40"),
        side=Side.YES,
        remaining=Decimal(count),
        strategy="maker",
    )


def test_an_older_smaller_filled_count_does_not_lower_the_contracts_counted_filled() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    applied.told_filled(_bid(), Decimal(7))
    applied.told_filled(_bid(), Decimal(3))
    assert portfolio.unbooked(A, "o1") == 7
    assert portfolio.view(A).worst_case(BookSide.BID) == 7


def test_a_larger_filled_count_raises_the_contracts_counted_filled() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    applied.told_filled(_bid(), Decimal(3))
    applied.told_filled(_bid(), Decimal(7))
    assert portfolio.unbooked(A, "o1") == 7


def test_an_orders_count_is_remembered_while_it_is_among_the_newest_told() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    applied.told_filled(_bid(), Decimal(7))
    for n in range(MAX_REMEMBERED - 1):  # as many others as leave it the oldest remembered
        applied.told_filled(_bid(f"x{n}", "1"), Decimal(1))
    applied.told_filled(_bid(), Decimal(3))
    assert portfolio.unbooked(A, "o1") == 7
    # one more order told: the oldest is forgotten, never the one just told
    applied.told_filled(_bid("o2"), Decimal(5))
    applied.told_filled(_bid("o2"), Decimal(2))
    assert portfolio.unbooked(A, "o2") == 5
