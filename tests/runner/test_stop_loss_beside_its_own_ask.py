"""A stop-loss close is reduce-only: the exchange fills it only against the contracts held, so
it never opens a position, and closing is never the riskier choice. The exposure rule counted it
as an order resting behind the account's own ask in the market (which already counted as closing
what is held), so as opening the other side: with the account near its exposure limit, the close
was refused on every tick while the position fell."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import Rig, another_trader_places, quiet_market_maker, swap_decide

FED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario: YES bids 0.60 x 100, 0.59 x 200; ask 0.62


def _yes(action: Action, price: str, count: int, reason: str, tif: TimeInForce) -> Intent:
    """An order of YES in FED, with an edge over its price either way."""
    fair = Decimal("0.90") if action is Action.BUY else Decimal("0.50")
    terms = (FED, Side.YES, action, Decimal(price), Decimal(count), fair, reason)
    return Intent(*terms, time_in_force=tif)


def _ten_yes_held_beside(
    tmp_path: Path, resting: Intent, risk: dict[str, Any] | None = None, **kw: Any
) -> Rig:
    """The market maker buys 10 YES at 0.62 ($6.20 at risk), then rests `resting` in FED on its
    next turn; `risk` adds to the limits every test here runs under, `kw` are the rig's. The rig
    once both are booked."""
    limits = {"min_edge": "0", "max_orders_per_minute": 1000, **(risk or {})}
    rig = quiet_market_maker(tmp_path, risk=limits, **kw)
    turns = [_yes(Action.BUY, "0.62", 10, "buy", TimeInForce.IOC), resting]

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker != FED or not turns:
            return []
        return [turns.pop(0)]

    swap_decide(rig.loop, decide)
    rig.step(0.5)
    rig.step(0.5)
    assert rig.loop.portfolio.position(FED) == 10
    assert [o.price for o in rig.loop.portfolio.resting(FED)] == [resting.price]
    return rig


def _bids_fall_under_the_floor(rig: Rig) -> None:
    """The bids are taken, and a new one rests at 0.30: the mark (0.30 x 10) is under the
    stop-loss floor (0.5 x 6.20), and the next step closes."""
    another_trader_places(rig.exchange, FED, BookSide.ASK, Decimal("0.59"), Decimal(300))
    another_trader_places(
        rig.exchange, FED, BookSide.BID, Decimal("0.30"), Decimal(50), time_in_force=TimeInForce.GTC
    )
    rig.step(0.5)


def test_a_stop_loss_beside_the_accounts_own_ask_is_not_refused_for_exposure(
    tmp_path: Path,
) -> None:
    """10 YES bought at 0.62 ($6.20 at risk, against a limit of $7) and a take-profit ask of 10
    at 0.70 resting. The bids fall to 0.30, under the stop-loss floor: the close sells 10 at
    0.30. Filled, it leaves the ask alone to open 10 NO ($3.00): less at risk than before. The
    rule counted it behind the ask as opening 10 NO at 0.70 ($13.20 in all) and refused it."""
    ask = _yes(Action.SELL, "0.70", 10, "ask", TimeInForce.GTC)
    rig = _ten_yes_held_beside(tmp_path, ask, risk={"max_total_exposure": "7"})
    _bids_fall_under_the_floor(rig)
    closes = [r for r in rig.client.requests if r.reduce_only]
    assert [(r.price, r.count) for r in closes] == [(Decimal("0.30"), Decimal(10))]
    assert rig.loop.portfolio.position(FED) == 0
    assert rig.loop.log.counts.get("risk_denied") is None


def test_a_stop_loss_that_replaces_the_strategys_own_bid_goes_out_once_the_bid_is_cancelled(
    tmp_path: Path,
) -> None:
    """10 YES bought at 0.62 and a bid of 5 at 0.25 resting, which would add to them. The bids
    fall to 0.30: the close cancels the bid first, then sells the 10. The close is the account's
    (the stop-loss is no strategy of the loop's), so nothing cuts it to a strategy's part once
    the bid's cancel is booked."""
    bid = _yes(Action.BUY, "0.25", 5, "bid", TimeInForce.GTC)
    rig = _ten_yes_held_beside(tmp_path, bid, trade={"amend_requotes": False})
    _bids_fall_under_the_floor(rig)
    closes = [r for r in rig.client.requests if r.reduce_only]
    assert [(r.price, r.count) for r in closes] == [(Decimal("0.30"), Decimal(10))]
    assert rig.loop.portfolio.resting(FED) == []
    assert rig.loop.portfolio.position(FED) == 0
