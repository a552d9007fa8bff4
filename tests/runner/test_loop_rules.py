"""Deterministic checks of the loop's safety behaviour on the fakes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.clock import ManualClock
from kalshi_cli.errors import UsageError
from kalshi_cli.models import BookSide, SelfTradePrevention, TimeInForce
from kalshi_cli.risk import RiskLimits
from kalshi_cli.runner import TradeOptions
from kalshi_cli.runner.session import check_live
from kalshi_cli.store import FillRecord
from tests.runner.fakes import START, make_rig, new_exchange, trader

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def test_prod_refuses_without_live() -> None:
    with pytest.raises(UsageError, match="--live"):
        check_live("prod", TradeOptions(strategy="spike"))
    check_live("prod", TradeOptions(strategy="spike", live=True))
    check_live("sim", TradeOptions(strategy="spike"))


def test_spike_scenario_places_and_fills_an_order_within_a_minute(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db")
    for _ in range(120):
        rig.step(0.5)
    placed = [r for r in rig.client.requests if r.ticker == LAL]
    assert placed, "the default scenario's spike must trigger the spike strategy"
    assert rig.loop.executor.counters.fills >= 1


def test_quiet_scenario_does_not_trigger_spike(tmp_path: Path) -> None:
    clock = ManualClock(START)
    rig = make_rig(tmp_path / "s.db", exchange=new_exchange("quiet", clock), clock=clock)
    for _ in range(240):
        rig.step(0.5)
    assert rig.client.requests == []


def test_stop_loss_fires_on_the_next_tick(tmp_path: Path) -> None:
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    me = trader(exchange)
    rig = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, account_id=me, params={"spike_share": 5}
    )
    rig.step(0.1)
    exchange.place_order(
        me,
        ticker=LAL,
        book_side=BookSide.BID,
        price=Decimal("0.99"),
        count=Decimal("10"),
        time_in_force=TimeInForce.IOC,
        self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
    )
    rig.step(0.1)  # the loop learns the position from its fills
    assert rig.loop.portfolio.position(LAL) > 0
    # the mark (the YES bid) is well above half the entry cost: no stop yet
    sent = len(rig.client.requests)
    rig.step(0.1)
    assert len(rig.client.requests) == sent
    # the trigger: the floor rises above the mark (as if the bid had collapsed)
    rig.loop.risk.limits = RiskLimits(stop_loss_share=Decimal("0.99"))
    rig.step(0.1)
    closes = [r for r in rig.client.requests[sent:] if r.reduce_only]
    assert closes and closes[0].book_side is BookSide.ASK


def test_circuit_breaker_trips_at_threshold_and_holds_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    rig = make_rig(state, risk={"daily_loss_limit": 5})
    rig.step()
    rig.store.record_fill(
        FillRecord(
            "f-loss",
            "o-1",
            None,
            LAL,
            BookSide.BID,
            Decimal("0.5"),
            Decimal("1"),
            Decimal("0"),
            True,
            START + 1,
            "spike",
            Decimal("-5"),
        )
    )
    rig.step()
    assert rig.store.trading_state().state == "REDUCING"
    assert rig.store.risk_trips(rule="circuit_breaker")
    rig.store.close()
    again = make_rig(state, risk={"daily_loss_limit": 5}, clock=ManualClock(START + 10))
    assert again.loop.risk.check_circuit_breaker()
    for _ in range(120):
        again.step(0.5)
    assert [r for r in again.client.requests if not r.reduce_only] == []
