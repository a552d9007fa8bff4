"""A loop's markets wait for a read of their resting orders once the feed's `user_orders`
subscription carries them (runner/loop/orders_read_again.py), on the fakes: a few markets are
read one at a time, more than five in one listing of every resting order; either books what
rests by hand in the loop's markets and records nothing of a market it does not trade nor of
an order no longer resting. A market waiting for that read keeps its stop-loss.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from msgspec.structs import replace as struct_replace

from kalshi_cli.feed.session import CarriedMarkets
from kalshi_cli.runner.loop.orders_read_again import PER_MARKET_READS
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import START, Rig, make_rig, new_exchange, place_on_desk, trader


def _rest(rig: Rig, ticker: str, price: str, tif: TimeInForce = TimeInForce.GTC) -> str:
    """An order placed by hand on the exchange (a bid of YES for 5): its id."""
    placed = place_on_desk(
        rig.exchange, rig.client.account_id, ticker, BookSide.BID, price, 5, time_in_force=tif
    )
    return placed.order.order_id


@pytest.mark.parametrize("count", [2, PER_MARKET_READS + 1], ids=["one by one", "in one listing"])
def test_the_markets_resting_orders_are_read_and_booked_alone(tmp_path: Path, count: int) -> None:
    clock = ManualClock(START)
    exchange = new_exchange("default", clock)
    markets = list(exchange.reference.markets)
    traded, other = markets[:count], markets[count]
    rig = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, strategy="market-maker",
        params={}, tickers=traded, carried=CarriedMarkets(),
    )  # fmt: skip
    rig.step(0.1)
    assert not rig.client.requests, "no market takes a turn before its orders are read"
    # by hand, after the start's reads: one resting in a traded market, one in a market the
    # loop does not trade, one placed and cancelled
    resting = _rest(rig, traded[0], "0.05")
    elsewhere = _rest(rig, other, "0.05")
    cancelled = _rest(rig, traded[1], "0.04")
    rig.exchange.desk.cancel_order(rig.client.account_id, cancelled)
    assert rig.feed.orders_carried is not None
    rig.feed.orders_carried.granted(traded)
    rig.step(0.1)
    assert resting in {o.order_id for o in rig.loop.portfolio.view(traded[0]).resting}
    assert rig.store.orders.intent_by_order_id(elsewhere) is None
    assert rig.store.orders.intent_by_order_id(cancelled) is None
    assert not any(rig.loop.dispatch.busy(t) for t in traded)
    rig.step(0.1)
    assert {r.ticker for r in rig.client.requests} <= set(traded)
    assert rig.client.requests, "the markets read take their turns"


def test_a_market_waiting_for_its_orders_read_keeps_its_stop_loss(tmp_path: Path) -> None:
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    ticker = "KXHIGHNY-SIM-D1-T60"  # YES bid 0.452 x 50, YES ask 0.469 x 50
    rig = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, account_id=trader(exchange),
        strategy="market-maker", params={}, tickers=[ticker], carried=CarriedMarkets(),
    )  # fmt: skip
    _rest(rig, ticker, "0.469", TimeInForce.IOC)  # long 5 YES, by hand
    rig.step(0.1)
    assert rig.loop.portfolio.position(ticker) == 5
    risk = rig.loop.questions.risk
    risk.limits = struct_replace(risk.limits, stop_loss_share=Decimal("0.99"))
    rig.step(0.1)
    assert rig.loop.dispatch.busy(ticker), "the feed carries no market: it waits for its read"
    sent = [(r.ticker, r.reduce_only) for r in rig.client.requests]
    assert sent and all(reduce_only for _, reduce_only in sent), sent
