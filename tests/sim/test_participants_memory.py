"""The simulator's memory over a long run is bounded by count, not by time.

A scenario's liquidity provider replaces its quotes as prices move: before this bound every
replaced quote stayed in the exchange for good (62 -> 124 MB over ten minutes of 200 quoted
markets). A participant now keeps at most `FINISHED_KEPT` finished orders; no client can read a
participant's orders (it has no key), and every account with a key keeps all of its orders.
"""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from kalshi_cli.sim.core.participants import FINISHED_KEPT
from kalshi_cli.sim.core.records import PlaceRequest
from kalshi_cli.sim.core.scenarios import LP_KEY, build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import generate_private_key, public_key_pem
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce

from .test_core import Env


def _finished(orders: list) -> int:  # type: ignore[type-arg]
    return sum(order.status != "resting" for order in orders)


def test_the_liquidity_providers_finished_orders_stay_bounded_by_count() -> None:
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock)
    lp_account = exchange.subaccounts.account_by_key(LP_KEY)
    assert lp_account is not None
    finished_by_minute = []
    for _minute in range(10):
        for _ in range(600):
            clock.advance(0.1)
            exchange.tick()
        finished_by_minute.append(_finished(exchange.history.orders(lp_account.account_id)))
    # the provider replaces ~200 quotes a minute here: unbounded, ten minutes held ~2,000
    assert max(finished_by_minute) == FINISHED_KEPT
    assert finished_by_minute[-3:] == [FINISHED_KEPT] * 3
    # and it still quotes: its resting orders are untouched
    assert exchange.accounts.resting_orders(lp_account.account_id)


def test_forgetting_keeps_resting_expiring_and_the_newest_finished_orders() -> None:
    env = Env(cash=1_000_000_00)
    bid = PlaceRequest(
        ticker="M",
        book_side=BookSide.BID,
        price=D("0.10"),
        count=D(1),
        time_in_force=TimeInForce.GTC,
        self_trade_prevention=SelfTradePrevention.MAKER,
    )
    placed = []
    for i in range(30):
        result = env.ex.desk.place_order(env.a, bid)
        placed.append(result.order.order_id)
        if i < 25:
            env.ex.desk.cancel_order(env.a, result.order.order_id)
    later = msgspec.structs.replace(bid, expiration_time=int(env.clock.wall()) + 60)
    expiring = env.ex.desk.place_order(env.a, later).order.order_id
    env.ex.desk.cancel_order(env.a, expiring)

    dropped = env.ex.history.forget_finished_orders(env.a, keep=10)

    left = [order.order_id for order in env.ex.history.orders(env.a)][::-1]  # oldest first
    # 26 finished, 10 kept: the expiring one (never dropped: the expiry index names it) and the
    # nine newest canceled; the five resting are untouched
    assert dropped == 16
    assert left == placed[16:25] + placed[25:30] + [expiring]
    assert env.ex.history.forget_finished_orders(env.a, keep=10) == 0


def test_forgetting_keeps_the_newest_fills_and_the_position() -> None:
    env = Env(cash=1_000_000_00)
    for _ in range(30):
        env.place(env.a, BookSide.BID, "0.40", 1)
        env.place(env.b, BookSide.ASK, "0.40", 1)
    newest = [fill.trade_id for fill in env.ex.history.fills(env.a)][:10]
    env.ex.history.forget_finished_orders(env.a, keep=10)
    assert [fill.trade_id for fill in env.ex.history.fills(env.a)] == newest
    assert env.pos(env.a) == D(30)
    assert len(env.ex.history.fills(env.b)) == 30  # another account's are untouched


def test_an_account_with_a_key_keeps_every_order() -> None:
    env = Env()
    keyed = env.ex.accounts.create_account(
        key_id="user", public_key_pem=public_key_pem(generate_private_key("ed25519")), cash_cents=0
    )
    with pytest.raises(ValueError, match="has a key"):
        env.ex.history.forget_finished_orders(keyed.account_id, keep=0)
