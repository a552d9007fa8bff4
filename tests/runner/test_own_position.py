"""A strategy's take-profit sells what its own orders bought, never contracts bought by hand:
`PositionView.own` is built from the fills of the strategy's own orders, beside the
account's whole position."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.vocabulary.units import BookSide
from tests.runner.test_strategy_scenarios import TICKER, on_the_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"
# YES bought at 0.51 (0.60 - 0.51 - fee > 0.02); after the move to 0.55 / 0.57 the bid pays
# the take-profit (0.55 >= 0.51 + 0.03) and the ask no longer has the edge to buy again
PARAMS = {"fair": "0.60", "edge": "0.02", "take_profit": "0.03", "order_count": "5"}


def test_the_take_profit_leaves_a_hand_opened_position_alone(tmp_path: Path) -> None:
    rig, mover = on_the_scenario(tmp_path, str(EXAMPLE), params=PARAMS)
    # the person buys 10 YES by hand, on the account the loop trades
    rig.hand_buy_yes(TICKER, "0.51", "10")
    for _ in range(3):
        rig.step(1.0)
    owner = rig.loop.reloads.lineup.names[0]
    view = rig.loop.portfolio.view_for(TICKER, owner)
    assert view.whole.position == Decimal("15")  # 10 by hand, 5 by the strategy
    assert view.position == view.own.position == Decimal("5")  # what it decides on: its own
    assert view.avg_entry_price == view.own.avg_entry_price == Decimal("0.51")
    mover.quote("0.55", "0.57")
    for _ in range(3):
        rig.step(1.0)
    sells = [r for r in rig.client.requests if r.book_side is BookSide.ASK]
    assert [(r.count, r.reduce_only) for r in sells] == [(Decimal("5"), True)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")  # what the person bought is still held
    assert rig.loop.portfolio.view_for(TICKER, owner).held_side is None
