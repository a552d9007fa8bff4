"""A buy the exchange refuses for insufficient balance is not decided and sent again on every
pass: each try would cost a slot of the order-rate cap (which the stop-loss shares) and a write
request, to be refused the same way. Buys wait until a fill or a cancel changes the account, or
the retry interval passes; reducing orders never wait."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.runner.execution.balance_hold import BALANCE_RETRY_S
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import (
    START,
    Rig,
    make_rig,
    new_exchange,
    place_on_desk,
    swap_decide,
    trader,
)

FED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario: YES bid 0.60, YES ask 0.62


def _short_rig(tmp_path: Path, cash_cents: int = 10) -> Rig:
    """A trader with $0.10, whose strategy wants 5 YES at 0.55 on every pass."""
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    me = trader(exchange, cash_cents=cash_cents)
    # the quiet book never moves: no staleness refusal in the minute the test runs
    rig = make_rig(
        tmp_path / "s.db",
        exchange=exchange,
        clock=clock,
        account_id=me,
        risk={"stale_after_s": 600},
    )

    def buy(snapshot: MarketSnapshot, view: PositionView, params: Any) -> Sequence[Intent]:
        if snapshot.ticker != FED or view.resting:
            return []
        return [
            Intent(
                ticker=FED,
                side=Side.YES,
                action=Action.BUY,
                price=Decimal("0.55"),
                count=Decimal("5"),
                model_fair=Decimal("0.90"),
                reason="test",
                strategy=rig.loop.reloads.lineup.names[0],
            )
        ]

    swap_decide(rig.loop, buy)
    return rig


def _take(rig: Rig, book_side: BookSide, price: str) -> None:
    """One YES contract bought (a bid) or sold (an ask) by hand at once, outside the loop."""
    result = place_on_desk(
        rig.exchange,
        rig.client.account_id,
        FED,
        book_side,
        price,
        "1",
        time_in_force=TimeInForce.IOC,
    )
    assert result.order.fill_count == 1


def _creates(rig: Rig) -> int:
    return sum(1 for r in rig.client.requests if r.ticker == FED)


def test_a_buy_refused_for_balance_waits_out_the_retry_interval(tmp_path: Path) -> None:
    rig = _short_rig(tmp_path)
    rig.step(1.0)
    assert _creates(rig) == 1
    assert rig.loop.log.counts["order_rejected"] == 1
    for _ in range(int(BALANCE_RETRY_S) - 2):
        rig.step(1.0)
    assert _creates(rig) == 1  # one refusal, not one a pass
    assert (
        rig.loop.questions.risk.rate_cap.count() <= 1
    )  # no slot of the cap spent on the held ones
    assert rig.loop.log.counts["intent_held"] >= int(BALANCE_RETRY_S) - 2
    rig.step(2.0)
    rig.step(1.0)
    assert _creates(rig) == 2  # tried again once the interval passed


def test_a_fill_lifts_the_wait_at_once(tmp_path: Path) -> None:
    rig = _short_rig(tmp_path, cash_cents=70)
    _take(rig, BookSide.BID, "0.62")  # 1 YES bought by hand: about $0.06 left
    rig.step(1.0)
    assert _creates(rig) == 1  # 5 x 0.55 refused
    rig.step(1.0)
    assert _creates(rig) == 1
    _take(rig, BookSide.ASK, "0.60")  # that YES sold by hand: a fill, cash back
    rig.step(1.0)
    rig.step(1.0)
    assert _creates(rig) == 2  # tried again long before the retry interval
