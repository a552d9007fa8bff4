"""The MAINTENANCE rule: no adding order from the lead time before an announced window, and no
order at all inside it; nothing held once it is over."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.risk.rules import Code
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.fakes import loop_context
from tests.risk.fakes import START, make
from tests.risk.test_risk_engine import buy

START_W, END_W = START + 600, START + 900


def _codes(engine, intent) -> list[Code]:
    ctx = loop_context(
        engine,
        PositionView("T", position=D(10), avg_entry_price=D("0.40"), entry_cost=D(4)),
        total_exposure=D(0),
        last_data_at=engine.clock.wall(),
    )
    return [v.code for v in engine.evaluate(intent, ctx)]


def _sell() -> Intent:
    return Intent(
        "T", Side.YES, Action.SELL, D("0.40"), D(5), D("0.40"), "exit", reduce_only=True,
        time_in_force=TimeInForce.IOC,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("at", "adding_held", "reducing_held"),
    [
        (START_W - 61, False, False),  # before the lead time
        (START_W - 60, True, False),  # the lead time: nothing new that adds
        (START_W, True, True),  # inside: the exchange refuses creates
        (END_W - 1, True, True),
        (END_W, False, False),  # over: trading again
    ],
)
def test_the_window_and_its_lead_time(at: float, adding_held: bool, reducing_held: bool) -> None:
    engine, _, clock, _ = make(RiskLimits(maintenance_lead_s=60.0))
    engine.maintenance.set([(START_W, END_W)])
    clock.advance(at - START)
    assert (Code.MAINTENANCE in _codes(engine, buy())) is adding_held
    assert (Code.MAINTENANCE in _codes(engine, _sell())) is reducing_held


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"maintenance_lead_s": -1}, "maintenance_lead_s"),
        ({"maintenance_withdraw": "some"}, "maintenance_withdraw"),
    ],
)
def test_the_maintenance_settings_are_checked(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        RiskLimits.from_config(raw)


def test_a_maintenance_denial_says_when_and_why() -> None:
    engine, _, clock, events = make(RiskLimits(maintenance_lead_s=60.0))
    engine.maintenance.set([(START_W, END_W)])
    clock.advance(START_W - START)
    ctx = loop_context(engine, PositionView("T"), total_exposure=D(0), last_data_at=clock.wall())
    (denial,) = engine.evaluate(buy(), ctx)
    assert denial.code is Code.MAINTENANCE
    start = datetime.fromtimestamp(START_W, tz=UTC)
    end = datetime.fromtimestamp(END_W, tz=UTC)
    assert denial.detail == (
        f"exchange maintenance from {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC: "
        "no new orders from 60s before it until it ends"
    )
    assert [d["detail"] for k, d in events.seen if k == "risk_denied"] == [denial.detail]


def test_the_windows_say_whether_the_schedule_changed() -> None:
    engine, _, _, _ = make()
    assert engine.maintenance.set([(START_W, END_W)]) is True  # the loop logs it
    assert engine.maintenance.set([(START_W, END_W)]) is False  # the same schedule read again
    assert engine.maintenance.set([(START_W, END_W + 60)]) is True
    assert engine.maintenance.set([]) is True
