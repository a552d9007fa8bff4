"""A market where the account holds nothing (no position, no order resting nor told filled) hands
the account's view to the visit's first strategy call as that strategy's own, with no part worked
out (runner/loop/market_pass.py `MarketPass.trade`): there a strategy's own view, built, is the
account's in every field (`TurnViews.member`). What the shortcut must not cost: a later call
of the same visit, after an earlier one's order filled at once, sees what it holds now; a stopped
strategy holding a part of its own is still asked for its exits; and a market whose fees are
waived until a time is never at rest while the account holds nothing there."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import PositionView
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START, scenario_rig, swap_decide
from tests.runner.test_strategies_share_a_loop import (
    MM,
    MR,
    Recorder,
    _hand_buy,
    buyer_then_idle,
)
from tests.runner.test_strategy_scenarios import TICKER


def test_a_later_call_of_the_visit_sees_what_an_earlier_calls_fill_holds(tmp_path: Path) -> None:
    rig, _, buyer, idle = buyer_then_idle(tmp_path)
    # one visit: market-maker was called flat, bought; mean-reversion's call came after the fill
    (first,) = buyer.views
    assert first.position == 0 and first.whole.position == 0
    assert rig.loop.portfolio.view(TICKER).position == Decimal("4")
    (second,) = idle.views
    # none of it is mean-reversion's own, but the account's whole position is shown to it
    assert second.position == 0 and second.own.position == 0
    assert second.whole.position == Decimal("4")
    assert second.whole.avg_entry_price == Decimal("0.45")


def test_a_stopped_strategy_holding_its_own_part_is_asked_for_its_exits(tmp_path: Path) -> None:
    rig, mover, buyer, _ = buyer_then_idle(tmp_path)
    stops = rig.loop.questions.stops
    buyer.failing = True
    bid = 30
    while MM not in stops.stopped and bid < 40:
        mover.quote(f"0.{bid}", "0.45")  # a new book: each strategy is asked again
        rig.step(1.0)
        bid += 1
    assert MM in stops.stopped
    buyer.failing = False
    asked = len(buyer.views)
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    # stopped, its own 4 contracts held: asked again, on its own part, for its exits alone
    assert len(buyer.views) == asked + 1
    assert buyer.views[-1].position == Decimal("4")


FEE_WAIVER = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXWAIVE
    title: Fees waived for the first minute
    events:
      - event_ticker: KXWAIVE-1
        title: One
        markets:
          - {ticker: KXWAIVE-1-A, path: {kind: flat, price: "0.50"}, fee_waiver_seconds: 60}
"""
WAIVED = "KXWAIVE-1-A"


class FeeReader:
    """A decide that records the taker fee rate of each call and decides nothing."""

    def __init__(self) -> None:
        self.rates: list[tuple[float, Decimal]] = []

    def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        self.rates.append((snap.ts, snap.fee_rate))
        return []


def test_a_flat_market_whose_fee_waiver_ends_is_asked_again_when_it_ends(tmp_path: Path) -> None:
    """Nothing held, nothing resting, one book shown once: the strategy's calls decide
    nothing, and its market would rest but for the waiver, whose end changes the fees with the
    time alone. The strategy is asked again once the waiver has ended, at the fees then due."""
    rig = scenario_rig(tmp_path, FEE_WAIVER, strategy="arbitrage")
    reader = FeeReader()
    swap_decide(rig.loop, reader)
    bid = ((Decimal("0.45"), Decimal(10)),)
    rig.feed.show(Orderbook(WAIVED, bid, bid))
    while rig.clock.wall() < START + 70:
        rig.feed.last_at = rig.clock.monotonic()  # fresh data, and no event
        rig.step(1.0)
    assert rig.loop.portfolio.view(WAIVED).position == 0 and rig.client.requests == []
    assert reader.rates and reader.rates[0][1] == 0  # waived
    after = [rate for ts, rate in reader.rates if ts >= START + 60]
    assert after and after[-1] > 0


def test_on_a_flat_account_each_strategys_own_view_is_the_accounts(tmp_path: Path) -> None:
    """The shortcut's premise: where the account holds nothing, the view a strategy's own is
    built as (`TurnViews.member`, the visit's later calls) is the account's (the first call's),
    in every field, for a strategy whose fills were there and for one whose never were."""
    rig, mover, _, _ = buyer_then_idle(tmp_path)
    _hand_buy(rig, "0.40", "4", BookSide.ASK)  # 4 NO against market-maker's 4 YES: flat
    first, second = Recorder(), Recorder()
    swap_decide(rig.loop, first, MM)
    swap_decide(rig.loop, second, MR)
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    account = rig.loop.portfolio.view(TICKER)
    assert (account.position, account.resting, account.unbooked) == (0, (), ())
    assert first.views[-1] == account  # the account's view, handed to the first call
    assert second.views[-1] == account  # built as mean-reversion's own
