"""A blocking state (SAFE_MODE, HALTED, REDUCING, a strategy stopped) withdraws the loop's quotes
that would add to a position and keeps those that only reduce it, judged against the position as
the risk limits count it: with the contracts the exchange told filled whose fills are not read
yet (`PositionView.unbooked`). The outage that trips SAFE_MODE is the one that keeps those fills
unread: judged against the position read so far, an exit whose contracts another exit already
sold stayed resting through it (filled, it opens the opposite position), and the other side of a
quote whose bid had filled, which now only sells what that bid bought, was cancelled."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.sim.core.records import SimOrder
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import (
    Rig,
    another_trader_places,
    quiet_market_maker,
    swap_decide,
)

# the quiet scenario's books stand still: HOLD's YES bid 0.60 and ask 0.62
HOLD = "KXFEDDECISION-SIM-DEC-H0"
# one error trips SAFE_MODE, whose backoff then outlasts every test here by far
RISK = {
    "max_orders_per_minute": 1000,
    "min_edge": "0",
    "max_consecutive_errors": 1,
    "backoff_max_s": 600.0,
}


def _rig(tmp_path: Path, **risk: Any) -> Rig:
    """A loop whose strategy decides nothing: its orders are the test's, placed as a
    strategy's are (`executor.execute`, through the risk engine)."""
    rig = quiet_market_maker(tmp_path, risk={**RISK, **risk})
    swap_decide(rig.loop, lambda *_: [])
    rig.step(0.1)
    return rig


def _place(rig: Rig, action: Action, price: str, count: int) -> str:
    """An order of the loop's strategy in HOLD, resting; its order id."""
    fair = Decimal("0.90") if action is Action.BUY else Decimal("0.30")  # an edge either way
    intent = Intent(
        HOLD, Side.YES, action, Decimal(price), Decimal(count), fair, "test",
        strategy="market-maker", post_only=True,
    )  # fmt: skip
    assert rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
    coid = rig.client.requests[-1].client_order_id
    (order,) = [o for o in _resting(rig) if o.client_order_id == coid]
    return order.order_id


def _resting(rig: Rig) -> list[SimOrder]:
    return rig.exchange.accounts.resting_orders(rig.client.account_id, HOLD)


def _filled_and_told_while_fill_reads_fail(rig: Rig, book_side: BookSide, price: str) -> None:
    """Another trader takes 10 of the loop's order at `price`; the `user_orders` message tells
    the loop, and the fill read it calls for is answered 503: SAFE_MODE, in that same tick."""
    rig.client.fills_error = ServerError("request failed: HTTP 503", status=503)
    another_trader_places(rig.exchange, HOLD, book_side, Decimal(price), Decimal(10))
    rig.step(0.01)
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    assert sum(o.remaining for o in rig.loop.portfolio.unbooked_orders(HOLD)) == 10


def test_an_exit_another_exit_already_sold_the_position_for_is_withdrawn(tmp_path: Path) -> None:
    """10 YES held, two exits of 10 resting (a strategy's, and its quote's ask). The first fills;
    its fills are not read. The second would now open 10 NO: it adds, so SAFE_MODE withdraws
    it. On the old code it stayed resting through the outage, the position read still 10 YES."""
    rig = _rig(tmp_path)
    rig.buy_yes(HOLD, Decimal("0.62"), Decimal(10))
    assert rig.loop.portfolio.position(HOLD) == 10
    _place(rig, Action.SELL, "0.61", 10)
    second = _place(rig, Action.SELL, "0.62", 10)
    _filled_and_told_while_fill_reads_fail(rig, BookSide.BID, "0.61")
    assert rig.loop.portfolio.position(HOLD) == 10, "the fill is not read"
    assert second not in {o.order_id for o in _resting(rig)}
    rig.step(1.0)  # a full pass, fills still unread: nothing comes back
    assert _resting(rig) == []


def test_the_other_side_of_a_quote_whose_bid_filled_stays_as_an_exit(tmp_path: Path) -> None:
    """Flat, a quote of a bid and an ask of 10. The bid fills; its fills are not read. The ask
    now only sells the 10 YES the bid bought: it reduces, so SAFE_MODE keeps it. On the old
    code it was cancelled as an order opening a NO position, the read position being flat, and
    the 10 YES were left without their exit."""
    rig = _rig(tmp_path)
    _place(rig, Action.BUY, "0.61", 10)
    ask = _place(rig, Action.SELL, "0.62", 10)
    _filled_and_told_while_fill_reads_fail(rig, BookSide.ASK, "0.61")
    assert rig.loop.portfolio.position(HOLD) == 0, "the fill is not read"
    assert [o.order_id for o in _resting(rig)] == [ask]
    rig.step(1.0)
    assert [o.order_id for o in _resting(rig)] == [ask]
    rig.client.fills_error = None
    rig.clock.advance(600.0)  # past the backoff: the fills are read
    rig.step(1.0)
    assert rig.loop.portfolio.position(HOLD) == 10
    assert [o.order_id for o in _resting(rig)] == [ask], "the exit of the 10 YES held"


def test_a_strategys_own_withdrawal_counts_its_own_fills_told_and_not_read(
    tmp_path: Path,
) -> None:
    """A strategy withdrawn alone (stopped for the day, or failing in a market) is judged on its
    own part of the position, as its budget counts it: with what its own orders were told
    filled. 10 YES its own bid bought, two exits of its own; the first fills, its fill read
    fails (the API error guard backs off, no SAFE_MODE). Its second exit would open 10 NO of
    its own: it goes. On the old code its part read 10 YES and the exit stayed."""
    rig = _rig(tmp_path, max_consecutive_errors=5)
    _place(rig, Action.BUY, "0.61", 10)
    another_trader_places(rig.exchange, HOLD, BookSide.ASK, Decimal("0.61"), Decimal(10))
    rig.step(0.01)
    assert rig.loop.portfolio.view_for(HOLD, "market-maker").position == 10
    _place(rig, Action.SELL, "0.61", 10)
    second = _place(rig, Action.SELL, "0.62", 10)
    rig.client.fills_error = ServerError("request failed: HTTP 503", status=503)
    another_trader_places(rig.exchange, HOLD, BookSide.BID, Decimal("0.61"), Decimal(10))
    rig.step(0.01)
    assert rig.store.trading.trading_state().state == "ACTIVE"
    assert [o.order_id for o in _resting(rig)] == [second]
    rig.loop.stop.own.cancel_adding(
        "strategy market-maker stopped", lambda _: True, owner="market-maker"
    )
    assert _resting(rig) == []
