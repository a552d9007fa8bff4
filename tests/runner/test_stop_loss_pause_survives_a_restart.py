"""The stop-loss pause (`risk.stop_loss_cooldown_s`, docs/risk.md "Stop-loss floor") of a market
stopped out before a restart holds in the loop that starts after it, as the stop-loss's order
is a row in the state file: a restart right after a stop-out does not let a strategy buy back at
once what was just sold at a loss."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.risk import Code
from kalshi_cli.store import Store
from kalshi_cli.store.records import IntentRecord
from kalshi_cli.strategies import Intent, PositionView
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Action, BookSide, Side, TimeInForce
from kalshi_cli.vocabulary.owners import STOP_LOSS
from tests.runner.fakes import START, make_rig

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
GSW = "KXNBAGAME-SIM-LALGSW-GSW"


def _stopped_out(state: Path, ticker: str, at: float, subaccount: int = 0) -> None:
    """The stop-loss's close of 10 YES of `ticker` at 0.20, made at `at` by an earlier run."""
    with Store.open(state, clock=ManualClock(at)) as store:
        store.orders.record_intent(
            IntentRecord(
                f"stop-{ticker}-{subaccount}",
                ticker,
                BookSide.ASK,
                Decimal("0.20"),
                Decimal(10),
                Side.YES,
                Action.SELL,
                strategy=STOP_LOSS,
                time_in_force=TimeInForce.IOC.value,
                reduce_only=True,
                subaccount=subaccount,
            )
        )


def _pauses(state: Path, ticker: str, at: float) -> bool:
    """Whether a loop started at `at` on `state` holds a buy in `ticker` for the pause."""
    rig = make_rig(state, clock=ManualClock(at), risk={"stop_loss_cooldown_s": 300})
    risk = rig.loop.risk
    buy = Intent(ticker, Side.YES, Action.BUY, Decimal("0.40"), Decimal(1), Decimal("0.90"), "t")
    ctx = risk.context(PositionView(ticker), total_exposure=Decimal(0), last_data_at=at)
    paused = Code.STOP_LOSS_COOLDOWN in [v.code for v in risk.evaluate(buy, ctx)]
    rig.store.close()
    return paused


def test_a_market_stopped_out_before_a_restart_stays_paused_after_it(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    _stopped_out(state, LAL, START - 60)
    _stopped_out(state, GSW, START - 60, subaccount=1)  # another subaccount's book: not ours
    assert _pauses(state, LAL, START)
    assert not _pauses(state, GSW, START)
    assert not _pauses(state, LAL, START + 240)  # 300 s after the stop-loss: over
