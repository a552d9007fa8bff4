"""Contracts the exchange says filled, before a fill read brings them into the position, count in
the market's view as resting orders nobody can cancel (`PositionView.unbooked`): toward the
worst case and the exposure, and in the kept total exposure. The fills of their order take them
back one by one as they are applied; a fill read sent after they were told takes back whatever
is left (a cancel's shortfall may have been no fill at all); a market whose fills are held
back keeps them."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.risk.rules import MaxExposureRule, PositionLimitRule, RiskContext
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.services.pretrade.books import OpenOrder, open_order
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import ZERO, Action, BookSide, Side

A, B = "KXTEST-26JAN01-A", "KXTEST-26JAN01-B"


def _bid(order_id: str, ticker: str = A, count: str = "10") -> OpenOrder:
    return open_order(
        order_id=order_id,
        client_order_id=f"c-{order_id}",
        ticker=ticker,
        book_side=BookSide.BID,
        yes_price=Decimal("0.40"),
        side=Side.YES,
        remaining=Decimal(count),
        strategy="maker",
    )


def _fill(portfolio: Portfolio, order_id: str, count: str) -> None:
    portfolio.apply_fill(
        A,
        BookSide.BID,
        Decimal("0.40"),
        Decimal(count),
        ZERO,
        ts=1.0,
        strategy="maker",
        order_id=order_id,
    )


def _full_sum(portfolio: Portfolio) -> Decimal:
    return portfolio.view(A).exposure() + portfolio.view(B).exposure()


def test_contracts_told_filled_count_until_their_fills_are_applied() -> None:
    portfolio = Portfolio([Market(ticker=A), Market(ticker=B)])
    portfolio.set_unbooked(_bid("o1"), Decimal(10), reads_sent=0)
    view = portfolio.view(A)
    assert view.position == 0 and not view.resting
    assert view.worst_case(BookSide.BID) == 10
    assert view.exposure() == Decimal("4.00")
    assert portfolio.total_exposure() == Decimal("4.00")
    _fill(portfolio, "o1", "6")
    view = portfolio.view(A)
    assert (view.position, view.worst_case(BookSide.BID)) == (6, 10)
    assert portfolio.total_exposure() == _full_sum(portfolio) == Decimal("4.00")
    _fill(portfolio, "o1", "4")
    assert portfolio.view(A).unbooked == ()
    assert portfolio.unbooked(A, "o1") == 0
    assert portfolio.total_exposure() == _full_sum(portfolio) == Decimal("4.00")


def test_a_fill_read_sent_after_they_were_told_takes_back_what_is_left() -> None:
    portfolio = Portfolio([Market(ticker=A), Market(ticker=B)])
    portfolio.set_unbooked(_bid("o1"), Decimal(10), reads_sent=3)  # three reads sent before
    portfolio.set_unbooked(_bid("o2", B), Decimal(5), reads_sent=3)
    portfolio.fills_read(3)  # sent before: it may not list them
    assert portfolio.unbooked(A, "o1") == 10
    portfolio.fills_read(4, but={B})  # sent after; B's fills are held back
    assert portfolio.unbooked(A, "o1") == 0
    assert portfolio.unbooked(B, "o2") == 5
    assert portfolio.total_exposure() == _full_sum(portfolio) == Decimal("2.00")
    portfolio.fills_read(5)
    assert portfolio.unbooked_orders() == []
    assert portfolio.total_exposure() == 0


def test_the_rules_count_them_and_an_order_replacing_their_order_leaves_them_counted() -> None:
    """A bid of 10 told filled, and its order replaced: the contracts filled are not cancelled
    with what rests of it."""
    portfolio = Portfolio([Market(ticker=A)])
    portfolio.add_order(_bid("o1", count="5"))
    portfolio.set_unbooked(_bid("o1"), Decimal(5), reads_sent=0)
    view = portfolio.view(A)
    replacement = Intent(
        A,
        Side.YES,
        Action.BUY,
        Decimal("0.41"),
        Decimal(6),
        Decimal("0.90"),
        "requote",
        replaces=("o1",),
    )
    after = view.after(replacement)
    assert after.unbooked == view.unbooked
    assert after.worst_case(BookSide.BID) == 11
    ctx = RiskContext(now=0.0, state=TradingState.ACTIVE, position=view, total_exposure=ZERO)
    assert not PositionLimitRule(Decimal(10)).check(replacement, ctx).allowed
    assert PositionLimitRule(Decimal(11)).check(replacement, ctx).allowed
    exposure = RiskContext(
        now=0.0, state=TradingState.ACTIVE, position=view, total_exposure=view.exposure()
    )
    # 5 filled at 0.40 and 6 at 0.41: $4.46
    assert not MaxExposureRule(Decimal("4.45")).check(replacement, exposure).allowed
    assert MaxExposureRule(Decimal("4.46")).check(replacement, exposure).allowed


def test_a_settled_market_counts_none_still_to_be_read() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    portfolio.set_unbooked(_bid("o1"), Decimal(10), reads_sent=0)
    portfolio.apply_settlement(A, "yes", ts=2.0, fee=ZERO)
    assert portfolio.view(A).unbooked == ()
    assert portfolio.total_exposure() == 0


def test_contracts_told_sold_close_what_is_held_before_a_resting_ask_does() -> None:
    """10 YES held ($4.00), an ask of 10 at 0.60 told filled and not read, and another ask of 10
    resting at 0.10. The fill told sold the 10 held: the resting ask can only open 10 NO
    ($9.00), and the view counts it so, beside the $4.00 paid until the fill is read. Counted
    first, the resting ask would close the 10 and leave the ask that already filled opening
    10 NO at 0.40: $8.00 in all, less than the $9.00 at risk once the fill is read."""

    def ask(order_id: str, price: str) -> OpenOrder:
        return open_order(
            order_id=order_id,
            client_order_id=f"c-{order_id}",
            ticker=A,
            book_side=BookSide.ASK,
            yes_price=Decimal(price),
            side=Side.YES,
            remaining=Decimal(10),
            strategy="maker",
        )

    portfolio = Portfolio([Market(ticker=A)])
    _fill(portfolio, "o1", "10")
    portfolio.set_unbooked(ask("sold", "0.60"), Decimal(10), reads_sent=0)
    portfolio.add_order(ask("resting", "0.10"))
    assert portfolio.view(A).exposure() == Decimal("13.00")
    assert portfolio.total_exposure() == Decimal("13.00")


def test_one_contract_told_counts_and_each_orders_fills_take_back_only_its_own() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    portfolio.set_unbooked(_bid("o1", count="1"), Decimal(1), reads_sent=0)
    portfolio.set_unbooked(_bid("o2"), Decimal(10), reads_sent=0)
    assert portfolio.view(A).worst_case(BookSide.BID) == 11
    _fill(portfolio, "o1", "1")
    view = portfolio.view(A)
    assert (view.position, view.worst_case(BookSide.BID)) == (1, 11)
    assert [o.order_id for o in portfolio.unbooked_orders(A)] == ["o2"]


def test_a_fill_read_takes_back_in_every_market_only_what_was_told_before_it_was_sent() -> None:
    """Told after the fifth read was sent, A's 10 and one of B's orders stay counted when the
    fourth is applied; B's other order, told before it, is in its positions now. An order
    partly applied keeps the read it was told as of."""
    portfolio = Portfolio([Market(ticker=A), Market(ticker=B)])
    portfolio.set_unbooked(_bid("a-after"), Decimal(10), reads_sent=5)
    portfolio.set_unbooked(_bid("b-before", B), Decimal(5), reads_sent=3)
    portfolio.set_unbooked(_bid("b-after", B), Decimal(2), reads_sent=5)
    _fill(portfolio, "a-after", "6")
    portfolio.fills_read(4)
    assert portfolio.unbooked(A, "a-after") == 4
    assert (portfolio.unbooked(B, "b-before"), portfolio.unbooked(B, "b-after")) == (0, 2)
    assert portfolio.view(B).worst_case(BookSide.BID) == 2
    assert portfolio.total_exposure() == _full_sum(portfolio) == Decimal("4.80")
    portfolio.fills_read(6)
    assert portfolio.unbooked_orders() == []
