"""What the risk engine holds back for a while holds across a restart, read from the orders in the
state file: the stop-loss pause (`risk.stop_loss_cooldown_s`, docs/risk.md "Stop-loss floor") of
a market stopped out before it, and the orders of the last minute that `max_orders_per_minute`
counts. A loop restarted right after a stop-out does not buy back at once what was just sold at
a loss, and one restarted every few seconds (systemd after a crash) does not send a minute's
cap of orders each time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.risk.rules import Code
from kalshi_cli.store import Store
from kalshi_cli.store.records import IntentRecord
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.owners import STOP_LOSS
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.fakes import loop_context
from tests.runner.fakes import START, make_rig

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
GSW = "KXNBAGAME-SIM-LALGSW-GSW"


def _stopped_out(
    state: Path, ticker: str, at: float, subaccount: int = 0, strategy: str = STOP_LOSS
) -> None:
    """A close of 10 YES of `ticker` at 0.20 (by default the stop-loss's), made at `at` by an
    earlier run."""
    with Store.open(state, clock=ManualClock(at)) as store:
        store.orders.record_intent(
            IntentRecord(
                f"{strategy}-{ticker}-{subaccount}-{at}",
                ticker,
                BookSide.ASK,
                Decimal("0.20"),
                Decimal(10),
                Side.YES,
                Action.SELL,
                strategy=strategy,
                time_in_force=TimeInForce.IOC.value,
                reduce_only=True,
                subaccount=subaccount,
            )
        )


def _held_back(
    state: Path, ticker: str, at: float, *, running_s: float = 0, **risk: object
) -> set[Code]:
    """What a loop started at `at` on `state` holds a buy in `ticker` back for, `running_s`
    later, on a clock whose monotonic seconds are not its wall seconds, as no real clock's are."""
    clock = ManualClock(at - 1000)
    clock.advance(1000)
    rig = make_rig(state, clock=clock, risk=risk)
    clock.advance(running_s)
    engine = rig.loop.questions.risk
    buy = Intent(ticker, Side.YES, Action.BUY, Decimal("0.40"), Decimal(1), Decimal("0.90"), "t")
    now = clock.wall()
    ctx = loop_context(engine, PositionView(ticker), total_exposure=Decimal(0), last_data_at=now)
    codes = {v.code for v in engine.evaluate(buy, ctx)}
    rig.store.close()
    return codes


def _pauses(state: Path, ticker: str, at: float) -> bool:
    """Whether a loop started at `at` on `state` holds a buy in `ticker` for the pause."""
    return Code.STOP_LOSS_COOLDOWN in _held_back(state, ticker, at, stop_loss_cooldown_s=300)


def test_a_market_stopped_out_before_a_restart_stays_paused_after_it(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    _stopped_out(state, LAL, START - 60)
    _stopped_out(state, GSW, START - 60, subaccount=1)  # another subaccount's book: not ours
    assert _pauses(state, LAL, START)
    assert not _pauses(state, GSW, START)
    assert not _pauses(state, LAL, START + 240)  # 300 s after the stop-loss: over


def test_the_orders_of_the_minute_before_a_restart_count_toward_the_order_rate_after_it(
    tmp_path: Path,
) -> None:
    """Three orders sent in the minute before the restart fill a cap of 3 a minute: the loop
    that starts sends no more until the first of them is a minute old. Another subaccount's
    are not counted."""
    state = tmp_path / "s.db"
    for n in range(3):
        _stopped_out(state, LAL, START - 50 + n, strategy="market-maker")
    _stopped_out(state, GSW, START - 40, subaccount=1, strategy="market-maker")
    rate = {"max_orders_per_minute": 3}
    assert Code.ORDER_RATE in _held_back(state, GSW, START, **rate)
    assert Code.ORDER_RATE not in _held_back(state, GSW, START, max_orders_per_minute=4)
    assert Code.ORDER_RATE in _held_back(state, GSW, START, running_s=9, **rate)
    assert Code.ORDER_RATE not in _held_back(state, GSW, START, running_s=10, **rate)
