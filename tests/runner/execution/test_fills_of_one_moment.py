"""Fills made at one moment (one order of another trader's taking two of the loop's bids) are
booked by the loop in the order they were made, as a reconcile books them from the exchange's
listing (newest first): average cost is path dependent, so the other order gives another
realized P&L and another cost to what is held."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import rebuild
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import FakeClient, another_trader_places, swap_decide
from tests.runner.test_strategy_scenarios import TICKER, on_the_scenario


def _quote(side: Side, price: str, count: int) -> Intent:
    return Intent(
        TICKER, side, Action.BUY, Decimal(price), Decimal(count), Decimal(price) + Decimal("0.05"),
        "a quote",
        strategy="market-maker", post_only=True,
    )  # fmt: skip


def test_two_fills_of_one_moment_are_booked_in_the_order_they_were_made(tmp_path: Path) -> None:
    """The loop holds 3 NO bought at 0.50 and bids 5 YES at 0.45 and 5 at 0.44; one sale of 10
    YES takes the 0.45 bid first, which closes the 3 NO (realized 3 x 0.55 - 1.50 = $0.15),
    then the 0.44 bid. The exchange lists both fills at one time, newest first. Booked newest
    first, the 0.44 fill closed the NO ($0.18) and the 7 YES held cost $3.13 instead of $3.10:
    the state file's day, which the circuit breaker reads, then differed from the one a
    reconcile (a restart, `kalshi pnl`) writes from the same fills."""
    rig, mover = on_the_scenario(tmp_path, "market-maker")
    swap_decide(rig.loop, lambda *_: [])
    mover.quote("0.30", "0.70")
    rig.step(0.1)
    assert rig.loop.executor.execute(_quote(Side.NO, "0.50", 3), last_data_at=rig.clock.wall())
    another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.50"), Decimal(3))
    rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == -3
    for price in ("0.45", "0.44"):
        assert rig.loop.executor.execute(_quote(Side.YES, price, 5), last_data_at=rig.clock.wall())
    rig.step(1.0)
    another_trader_places(rig.exchange, TICKER, BookSide.ASK, Decimal("0.44"), Decimal(10))
    swept = rig.exchange.history.fills(rig.client.account_id)[:2]
    assert [f.price for f in swept] == [Decimal("0.44"), Decimal("0.45")]  # newest first
    assert swept[0].ts == swept[1].ts
    rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == 7
    today = utc_day(rig.clock.wall())

    # the same fills as a reconcile copies them into a state file of their own
    with Store.open(tmp_path / "reconciled.db", clock=rig.clock) as copied:
        client = FakeClient(rig.exchange, rig.client.account_id, clock=rig.clock)
        reconcile(client, copied, clock=rig.clock, read_lag_s=0.0)
        from_the_exchange = copied.trading.daily_realized_pnl(today)
        again = Portfolio(list(rig.loop.portfolio.markets.values()))
        rebuild(copied, again)
    assert from_the_exchange == Decimal("0.15")  # a maker pays no fee on this market
    assert rig.store.trading.daily_realized_pnl(today) == from_the_exchange
    held = rig.loop.portfolio.pnl.markets[TICKER]
    assert (held.position, held.basis) == (Decimal(7), Decimal("3.10"))
    assert held.basis == again.pnl.markets[TICKER].basis
