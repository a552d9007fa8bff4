"""The loop's total exposure is kept as a running sum, brought up to date by the markets that
changed, so an order costs the same however many markets the loop holds: the sum always equals
every market's exposure added up afresh, through orders placed, partly filled and cancelled,
fills that open, close and flip positions, and settlements."""

from __future__ import annotations

import random
from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.services.pretrade.books import OpenOrder, open_order
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import ZERO, BookSide, Side

D = Decimal
TICKERS = [f"KXTEST-26JAN01-M{i}" for i in range(6)]


def full_sum(portfolio: Portfolio) -> Decimal:
    return sum((portfolio.view(t).exposure() for t in TICKERS), ZERO)


def test_the_kept_total_exposure_equals_the_full_sum_after_every_change() -> None:
    rng = random.Random(11)
    portfolio = Portfolio([Market(ticker=t) for t in TICKERS])
    settled: set[str] = set()
    ids = 0
    seen = {"orders": 0, "partial": 0, "cancels": 0, "fills": 0, "settlements": 0}
    for step in range(600):
        ticker = rng.choice([t for t in TICKERS if t not in settled])
        kind = rng.random()
        resting = portfolio.resting(ticker)
        if kind < 0.35:
            ids += 1
            portfolio.add_order(
                open_order(
                    order_id=f"o{ids}",
                    client_order_id=f"c{ids}",
                    ticker=ticker,
                    book_side=rng.choice([BookSide.BID, BookSide.ASK]),
                    yes_price=D(rng.randint(1, 99)) / 100,
                    side=rng.choice([Side.YES, Side.NO, None]),
                    remaining=D(rng.randint(1, 20)),
                    strategy=None,
                )
            )
            seen["orders"] += 1
        elif kind < 0.55 and resting:
            order = rng.choice(resting)
            if rng.random() < 0.5 and order.remaining > 1:
                left = order.remaining - 1
                portfolio.update_order(order.order_id, remaining=left, status="resting")
                seen["partial"] += 1
            else:
                portfolio.update_order(order.order_id, remaining=ZERO, status="canceled")
                seen["cancels"] += 1
        elif kind < 0.985 or len(settled) == len(TICKERS) - 2:
            portfolio.apply_fill(
                ticker,
                rng.choice([BookSide.BID, BookSide.ASK]),
                D(rng.randint(1, 99)) / 100,
                D(rng.randint(1, 15)),
                D("0.01"),
                ts=1_767_225_600.0 + step,
                strategy=None,
            )
            seen["fills"] += 1
        else:
            for order in resting:  # a settled market's orders are gone
                portfolio.update_order(order.order_id, remaining=ZERO, status="canceled")
            portfolio.apply_settlement(ticker, rng.choice(["yes", "no"]), ts=0.0, fee=ZERO)
            settled.add(ticker)
            seen["settlements"] += 1
        if rng.random() < 0.7:  # the total is read after some changes, not all
            assert portfolio.total_exposure() == full_sum(portfolio), step
    assert portfolio.total_exposure() == full_sum(portfolio)
    assert all(n > 0 for n in seen.values()), seen  # every kind of change was exercised
    assert portfolio.total_exposure() > 0


def test_a_market_emptied_counts_nothing() -> None:
    ticker = TICKERS[0]
    portfolio = Portfolio([Market(ticker=ticker)])
    order = open_order(
        order_id="o1",
        client_order_id="c1",
        ticker=ticker,
        book_side=BookSide.BID,
        yes_price=D("0.40"),
        side=Side.YES,
        remaining=D(10),
        strategy=None,
    )
    portfolio.add_order(order)
    assert portfolio.total_exposure() == D("4.00")
    assert [o.order_id for o in portfolio.resting(ticker)] == ["o1"]
    portfolio.update_order("o1", remaining=ZERO, status="canceled")
    assert portfolio.total_exposure() == ZERO
    assert portfolio.resting(ticker) == []


def test_the_kept_total_follows_fills_told_before_they_are_read() -> None:
    """Contracts told filled and not read count toward the exposure (`PositionView.unbooked`):
    the kept total moves when they are told, when their fill is read (they leave the told ones
    and enter the position) and when a fill read sent after them is applied without them, each
    read at once, so a total left from before any of these would differ from the full sum. A
    strategy taking the held position (`assign`) moves the parts, not the account's total."""
    first, second = TICKERS[0], TICKERS[1]
    portfolio = Portfolio([Market(ticker=t) for t in TICKERS])

    def order(order_id: str, ticker: str, price: str, count: int) -> OpenOrder:
        return open_order(
            order_id=order_id,
            client_order_id=f"c-{order_id}",
            ticker=ticker,
            book_side=BookSide.BID,
            yes_price=D(price),
            side=Side.YES,
            remaining=D(count),
            strategy="s",
        )

    def kept() -> Decimal:
        total = portfolio.total_exposure()
        assert total == full_sum(portfolio)
        return total

    resting = order("o1", first, "0.40", 10)
    portfolio.add_order(resting)
    assert kept() == D("4.00")
    # six of its ten told filled (an order's answer) before a fill read lists them: the order
    # rests with four, the six count apart until read
    portfolio.update_order("o1", remaining=D(4), status="resting")
    portfolio.set_unbooked(resting, D(6), reads_sent=1)
    assert kept() == D("4.00")
    portfolio.set_unbooked(order("o2", second, "0.30", 5), D(5), reads_sent=1)
    assert kept() == D("5.50")
    # the read lists four of the six: they are held now, two still told apart
    portfolio.apply_fill(
        first, BookSide.BID, D("0.40"), D(4), ZERO, ts=0.0, strategy="s", order_id="o1"
    )
    assert portfolio.unbooked(first, "o1") == D(2)
    assert kept() == D("5.50")
    # the second market's order was told after a read sent later than the one now applied...
    portfolio.fills_read(1, but=(first,))
    assert portfolio.unbooked(second, "o2") == D(5)
    # ...and a read sent after it is applied without listing it: its five are no longer counted
    portfolio.fills_read(2, but=(first,))
    assert portfolio.unbooked(second, "o2") == ZERO
    assert kept() == D("4.00")
    portfolio.fills_read(2)
    assert kept() == D("3.20")  # the first market's two told apart gone as well
    portfolio.assign("s", first, 0.0)
    assert kept() == D("3.20")
    portfolio.update_order("o1", remaining=ZERO, status="canceled")
    assert kept() == D("1.60")  # the four held at 0.40, nothing resting
