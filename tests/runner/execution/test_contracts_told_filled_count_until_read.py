"""The contracts the exchange tells filled of an order (an answer, a `user_orders` message) that
no fill read has applied yet count toward the limits (`AppliedFills.told_filled`): those a read
already applied are not counted twice, and those told count apart until a fill read sent after
the telling is applied (one sent before it may not list them)."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.execution.fills import AppliedFills
from kalshi_cli.vocabulary.models import Market
from tests.runner.execution.test_a_filled_count_only_grows import A, _bid
from tests.runner.fakes import listed_fill


def test_contracts_told_filled_that_a_read_applied_are_not_counted_again() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    fill = listed_fill("f1", A, "bid", "0.40", 0)  # 10 contracts
    applied.note(fill)
    applied.told_filled(_bid(fill.order_id, "20"), Decimal(13))
    assert portfolio.unbooked(A, fill.order_id) == 3


def test_contracts_told_filled_count_until_a_read_sent_after_the_telling_is_applied() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    before = applied.read_sent()
    applied.told_filled(_bid(), Decimal(4))
    portfolio.fills_read(before)
    assert portfolio.unbooked(A, "o1") == 4, "a read sent before the telling may not list them"
    portfolio.fills_read(applied.read_sent())
    assert portfolio.unbooked(A, "o1") == 0
