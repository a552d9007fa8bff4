"""What the exchange told filled of an order is held only while it is more than the fills applied
(`AppliedFills.told_filled`): a market maker's every order is told filled and then read, and a
told figure kept for each beside the applied counts would be a third record as long as the
orders remembered (10,000). Measured by `tracemalloc` after a full collection, against the same
fills applied with nothing told."""

from __future__ import annotations

import gc
import tracemalloc
from decimal import Decimal

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.execution.fills import AppliedFills
from kalshi_cli.vocabulary.models import Market
from tests.runner.execution.test_a_filled_count_only_grows import A, _bid
from tests.runner.fakes import listed_fill

ORDERS = 4_000
# bytes held an order beyond the applied counts: a told figure kept costs some 75 here (its
# slot and node; the figure and the order id are the caller's), in a loop its own id and figure too
HELD_PER_ORDER = 20


def held() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def grown(tell: bool) -> int:
    """What an `AppliedFills` holds after ORDERS orders' fills are applied, half of them told
    filled before their fill is read and half after, every figure the fill's count."""
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    fills = [listed_fill(f"{i}", A, "bid", "0.40", i) for i in range(ORDERS)]
    orders = [_bid(fill.order_id, "20") for fill in fills]
    figures = [Decimal("10.00") for _ in fills]
    tracemalloc.start()
    try:
        before = held()
        for i, (fill, order, figure) in enumerate(zip(fills, orders, figures, strict=True)):
            if tell and i % 2:
                applied.told_filled(order, figure)
            applied.note(fill)
            if tell and not i % 2:
                applied.told_filled(order, figure)
        portfolio.fills_read(applied.read_sent())
        return held() - before
    finally:
        tracemalloc.stop()


def test_figures_told_of_orders_whose_fills_are_applied_hold_no_memory() -> None:
    baseline = grown(tell=False)
    told = grown(tell=True)
    assert told - baseline < HELD_PER_ORDER * ORDERS, (
        f"{(told - baseline) / ORDERS:.0f} bytes held an order told filled"
    )


def test_a_figure_below_the_fills_applied_is_older_and_counts_nothing() -> None:
    portfolio = Portfolio([Market(ticker=A)])
    applied = AppliedFills(portfolio)
    fill = listed_fill("f1", A, "bid", "0.40", 0)  # 10 contracts
    applied.told_filled(_bid(fill.order_id, "20"), Decimal(10))
    applied.note(fill)
    portfolio.fills_read(applied.read_sent())
    applied.may_have_filled(_bid(fill.order_id, "10"), Decimal(4))  # a cancel found less
    applied.told_filled(_bid(fill.order_id, "20"), Decimal(6))  # sent before the 10
    assert portfolio.unbooked(A, fill.order_id) == 4
