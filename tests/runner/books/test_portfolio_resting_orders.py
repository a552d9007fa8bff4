"""The loop's book of resting orders: an order is seen from the side it was sent on, rests while
anything of it is left, and goes when it is filled, cancelled or ended, whatever told the loop."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.services.pretrade.books import OpenOrder, open_order
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import ZERO, Action, BookSide, Side

D = Decimal
TICKER = "KXTEST-26JAN01-A"


def order(order_id: str, remaining: Decimal, *, side: Side | None = Side.YES) -> OpenOrder:
    return open_order(
        order_id=order_id,
        client_order_id=f"c-{order_id}",
        ticker=TICKER,
        book_side=BookSide.BID,
        yes_price=D("0.40"),
        side=side,
        remaining=remaining,
        strategy="mm",
    )


def resting_ids(portfolio: Portfolio) -> list[str]:
    ids = [o.order_id for o in portfolio.resting(TICKER)]
    assert sorted(ids) == sorted(portfolio.orders), "the two books of orders agree"
    assert [o.order_id for o in portfolio.view(TICKER).resting] == ids
    return ids


def test_an_order_is_seen_from_the_side_it_was_sent_on_and_from_yes_when_unknown() -> None:
    # a bid at 0.40 YES is a NO trader's sell at 0.60
    as_no = order("o1", D(5), side=Side.NO)
    assert (as_no.side, as_no.action, as_no.price) == (Side.NO, Action.SELL, D("0.60"))
    unknown = order("o2", D(5), side=None)
    assert (unknown.side, unknown.action, unknown.price) == (Side.YES, Action.BUY, D("0.40"))
    assert as_no.strategy == "mm" and as_no.client_order_id == "c-o1"


def test_an_order_rests_while_one_contract_is_left_and_not_with_none() -> None:
    portfolio = Portfolio([Market(ticker=TICKER)])
    portfolio.add_order(order("o1", D(1)))
    portfolio.add_order(order("o2", ZERO))
    assert resting_ids(portfolio) == ["o1"]
    assert portfolio.total_exposure() == D("0.40")


def test_an_order_told_again_with_nothing_left_goes() -> None:
    portfolio = Portfolio([Market(ticker=TICKER)])
    portfolio.add_order(order("o1", D(5)))
    portfolio.add_order(order("o2", D(5)))
    portfolio.add_order(order("o1", ZERO))
    assert resting_ids(portfolio) == ["o2"]
    portfolio.add_order(order("o2", ZERO))
    assert resting_ids(portfolio) == []
    assert portfolio.total_exposure() == ZERO


def test_an_update_keeps_an_order_only_while_it_rests_with_something_left() -> None:
    portfolio = Portfolio([Market(ticker=TICKER)])
    for order_id in ("o1", "o2", "o3"):
        portfolio.add_order(order(order_id, D(5)))
    portfolio.update_order("o1", remaining=D(1), status="resting")  # partly filled
    portfolio.update_order("o2", remaining=D(5), status="canceled")  # cancelled whole
    portfolio.update_order("o3", remaining=ZERO, status="resting")  # the last of it filled
    portfolio.update_order("unknown", remaining=D(3), status="resting")  # not ours: ignored
    assert resting_ids(portfolio) == ["o1"]
    assert portfolio.orders["o1"].remaining == 1
    assert portfolio.total_exposure() == D("0.40")
