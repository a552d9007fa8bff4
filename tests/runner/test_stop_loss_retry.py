"""A stop-loss whose close does not fill, on the fakes: the close is the trader's own best bid,
so self-trade prevention kills each reduce-only IOC unfilled. It must not go out again on
every tick (each one a slot of the shared order-rate cap, a `stop_loss` event and an alert),
only when that bid changes or the retry interval has passed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from msgspec.structs import replace as struct_replace

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

T60 = "KXHIGHNY-SIM-D1-T60"  # quiet scenario: YES bid 0.452 x 50, YES ask 0.469 x 50
FED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario: YES bid 0.60, YES ask 0.62


def _own_bid(rig: Rig, price: str) -> str:
    """A resting YES bid placed by hand, above everyone else's: the best bid."""
    result = place_on_desk(rig.exchange, rig.client.account_id, T60, BookSide.BID, price, "5")
    return result.order.order_id


def _stopped_rig(tmp_path: Path, **risk: Any) -> tuple[Rig, str]:
    """Long 10 YES bought at 0.469, the best bid the trader's own 0.46, and a stop-loss floor
    (0.99 x 4.69) above the mark (0.46 x 10): every tick wants to close, no close can fill."""
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    me = trader(exchange)
    rig = make_rig(tmp_path / "s.db", exchange=exchange, clock=clock, account_id=me, risk=risk)
    rig.step(0.1)
    place_on_desk(exchange, me, T60, BookSide.BID, "0.469", "10", time_in_force=TimeInForce.IOC)
    bid = _own_bid(rig, "0.46")
    rig.step(0.1)
    assert rig.loop.portfolio.position(T60) == 10
    assert rig.client.requests == []
    rig.loop.questions.risk.limits = struct_replace(
        rig.loop.questions.risk.limits, stop_loss_share=Decimal("0.99")
    )
    return rig, bid


def _closes(rig: Rig) -> list[Any]:
    return [r for r in rig.client.requests if r.ticker == T60 and r.reduce_only]


def _ticks(rig: Rig, n: int, seconds: float = 0.01) -> None:
    for _ in range(n):
        rig.step(seconds)


def test_an_unfilled_stop_loss_goes_out_once_while_the_book_stands_still(tmp_path: Path) -> None:
    rig, _ = _stopped_rig(tmp_path, max_orders_per_minute=3)
    rig.step(0.01)
    (close,) = _closes(rig)  # the first firing is in the tick that sees the trigger
    assert close.book_side is BookSide.ASK and close.price == Decimal("0.46")
    assert close.time_in_force is TimeInForce.IOC
    assert rig.loop.portfolio.position(T60) == 10, "self-trade prevention killed the close"
    _ticks(rig, 150)  # 1.5 s of ticks, the book unchanged
    assert len(_closes(rig)) == 1
    assert rig.loop.log.counts["stop_loss"] == 1
    assert rig.loop.questions.risk.rate_cap.count() == 1

    # the order-rate cap (3 a minute) still has room for another market's strategy order
    def buy_fed(snapshot: MarketSnapshot, view: PositionView, params: Any) -> Sequence[Intent]:
        if snapshot.ticker != FED or view.resting:
            return []
        return [
            Intent(
                ticker=FED,
                side=Side.YES,
                action=Action.BUY,
                price=Decimal("0.55"),
                count=Decimal("1"),
                model_fair=Decimal("0.90"),
                reason="test",
                strategy=rig.loop.reloads.lineup.names[0],
            )
        ]

    swap_decide(rig.loop, buy_fed)
    rig.step(0.01)
    assert [r.ticker for r in rig.client.requests if not r.reduce_only] == [FED]
    assert rig.loop.log.counts.get("risk_denied", 0) == 0


def test_an_unfilled_stop_loss_goes_out_again_when_the_bid_changes(tmp_path: Path) -> None:
    rig, bid = _stopped_rig(tmp_path)
    _ticks(rig, 10)
    assert len(_closes(rig)) == 1
    rig.exchange.desk.cancel_order(rig.client.account_id, bid)
    _own_bid(rig, "0.458")
    rig.step(0.01)
    first, second = _closes(rig)
    assert (first.price, second.price) == (Decimal("0.46"), Decimal("0.458"))
    _ticks(rig, 10)
    assert len(_closes(rig)) == 2


def test_an_unfilled_stop_loss_goes_out_again_after_the_retry_interval(tmp_path: Path) -> None:
    rig, _ = _stopped_rig(tmp_path)
    retry_s = rig.loop.settings.stop_loss_retry_s
    assert 0 < retry_s <= 5
    rig.step(0.01)
    _ticks(rig, int(retry_s / 0.1) - 1, seconds=0.1)
    assert len(_closes(rig)) == 1
    _ticks(rig, 2, seconds=0.1)
    assert len(_closes(rig)) == 2
    assert rig.loop.log.counts["stop_loss"] == 2


def test_a_stop_loss_held_by_the_backoff_goes_out_when_it_ends(tmp_path: Path) -> None:
    rig, _ = _stopped_rig(tmp_path)
    rig.loop.executor.guard.backoff_until = rig.clock.monotonic() + 0.5
    _ticks(rig, 20)  # 0.2 s, still backing off
    assert _closes(rig) == []
    assert rig.loop.log.counts["stop_loss"] == 1, "signalled once, not on every held tick"
    _ticks(rig, 31)
    assert len(_closes(rig)) == 1, "sent once the backoff is over, not a retry interval later"
    assert rig.loop.log.counts["stop_loss"] == 1
    _ticks(rig, 20)
    assert len(_closes(rig)) == 1
