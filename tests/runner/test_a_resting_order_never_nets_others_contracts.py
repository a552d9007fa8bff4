"""A strategy's order resting from before the account held contracts that are not its own never
closes them. Kalshi nets YES and NO of one market: a NO bid (a YES ask) resting while the account
was flat sells YES once it fills, and after a person (or another strategy) bought YES, those
are the contracts it sells. Once the account holds such contracts, the loop withdraws what its
strategies' resting orders would take of them beyond each strategy's own part, as it cuts a new
order (`OwnPart`); an order within its strategy's own part stays."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.vocabulary.models import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import another_trader_places, swap_decide
from tests.runner.test_strategies_share_a_loop import (
    MM,
    MR,
    Recorder,
    _hand_buy,
    _moves_then_quotes,
    _order,
    _resting_of,
    _rig,
)
from tests.runner.test_strategy_scenarios import TICKER, Mover


def _sweep_yes(rig: object, price: str) -> None:
    """Another trader buys every YES offered up to `price` (the book's 100 and anything else)."""
    another_trader_places(
        rig.exchange,  # type: ignore[attr-defined]
        TICKER,
        BookSide.BID,
        Decimal(price),
        Decimal("200"),
    )


def test_a_resting_no_bid_is_withdrawn_once_the_account_holds_a_persons_yes(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    # a NO bid at 0.50 is a YES ask at 0.50: it rests above the book's ask
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    _hand_buy(rig, "0.45", "10")
    for _ in range(3):
        rig.step(1.0)
    assert _resting_of(rig, MM) == []
    _sweep_yes(rig, "0.50")
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")  # the person's 10 YES, none sold


def test_a_resting_order_of_one_strategy_never_sells_anothers_contracts(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    buy = _order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    swap_decide(rig.loop, Recorder(buy), MR)  # mean-reversion buys 10 YES
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MR).position == Decimal("10")
    assert _resting_of(rig, MM) == []
    _sweep_yes(rig, "0.50")
    assert rig.loop.portfolio.view_for(TICKER, MR).position == Decimal("10")


def test_a_resting_sale_within_the_strategys_own_part_stays(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    buy = _order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC)
    sale = _order(Side.NO, Action.BUY, "0.50", "4")  # a YES ask of its 4
    swap_decide(rig.loop, _moves_then_quotes([buy], sale), MM)
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == Decimal("4")
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    _hand_buy(rig, "0.45", "6")
    for _ in range(3):
        rig.step(1.0)
    assert [o.remaining_count for o in _resting_of(rig, MM)] == [Decimal("4")]
