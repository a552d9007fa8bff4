"""The daily circuit breaker a hand order meets (`kalshi order place`, `amend`) is the assistant's
and the loop's: the account's fills and settlements brought in first, so a loss no loop booked
counts; today's trip, or today's realized P&L at the limit (which trips it), holds every order
that adds until the last second of that UTC day; from the first second of the next the breaker's
REDUCING is lifted, with or without a loop running (docs/risk.md "Daily circuit breaker")."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.risk.engine import CircuitBreaker, RiskLimits
from kalshi_cli.risk.state import halt
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import CATCH_UP_CURSOR
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, day_start, utc_day
from kalshi_cli.vocabulary.errors import TradingHaltedError, ValidationError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side
from tests.breaker_days import breaker_tripped, lost_two_dollars_by_hand
from tests.conftest import SimHarness


def _buy(ticker: str, count: int = 1, price: str = "0.10") -> OrderRequest:
    return OrderRequest(ticker, Side.YES, Action.BUY, D(count), D(price))


def test_a_days_loss_no_loop_booked_refuses_the_next_hand_order(
    client: KalshiClient, store: Store, ticker: str, prime: SimHarness
) -> None:
    service = OrderService(client, store, limits=RiskLimits(daily_loss_limit=D(1)))
    # past the $1 limit; no loop, reconcile or `kalshi pnl` brought the sale's fills in
    lost_two_dollars_by_hand(prime, service, ticker)
    assert len(store.fills.read()) < 2

    with pytest.raises(ValidationError) as refused:
        service.prepare(_buy(ticker))
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert len(store.fills.read()) == 2
    [trip] = store.trading.risk_trips(rule=CircuitBreaker.RULE)
    assert trip.day in {utc_day(time.time()), utc_day(time.time() - 60)}
    assert store.trading.trading_state().state == "REDUCING"


def test_a_days_loss_no_loop_booked_refuses_a_hand_amend_that_adds(
    client: KalshiClient, store: Store, ticker: str, prime: SimHarness
) -> None:
    """An amend reads the breaker of the state file alone first (an amend that only takes
    risk away never waits on the fills); one that adds still brings the fills in and meets
    the loss they hold."""
    service = OrderService(client, store, limits=RiskLimits(daily_loss_limit=D(1)))
    resting = service.place(service.prepare(_buy(ticker)))
    assert resting.order_id is not None
    lost_two_dollars_by_hand(prime, service, ticker)
    assert len(store.fills.read()) < 2

    with pytest.raises(ValidationError) as refused:
        service.amends.amend(resting.order_id, count=D(3))
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert len(store.fills.read()) == 2
    assert store.trading.trading_state().state == "REDUCING"
    assert client.orders.get_order(resting.order_id).remaining_count == D(1)  # not amended


def test_a_trip_holds_a_hand_order_to_the_last_second_of_its_utc_day(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    resting = OrderService(client, store).place(OrderService(client, store).prepare(_buy(ticker)))
    assert resting.order_id is not None
    day = utc_day(time.time())
    breaker_tripped(store, day)
    last_second = ManualClock(day_start(day) + 86_399.0)
    service = OrderService(client, store, clock=last_second)
    with pytest.raises(ValidationError) as refused:
        service.prepare(_buy(ticker))
    # the breaker's refusal, which says when it ends, not REDUCING's "`kalshi resume` lifts it"
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert f"tripped on {day}" in refused.value.message
    # when it lifts, to the second, and what still goes
    lifts = utc_day(day_start(day) + 86_400.0)
    assert f"until {lifts} 00:00 UTC (the next UTC day)" in refused.value.message
    hint = refused.value.hint or ""
    assert "cancels, `kalshi order decrease` and reduce-only orders still go" in hint
    with pytest.raises(ValidationError) as amend:
        service.amends.amend(resting.order_id, count=D(3))
    assert amend.value.code == "CIRCUIT_BREAKER"
    assert store.trading.trading_state().state == "REDUCING"


def test_the_next_utc_day_lifts_the_breakers_reducing_for_a_hand_order(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    day = utc_day(time.time())
    breaker_tripped(store, day)
    next_day = ManualClock(day_start(day) + 86_400.0)
    service = OrderService(client, store, clock=next_day)
    placed = service.place(service.prepare(_buy(ticker)))
    assert placed.status == "resting"
    state = store.trading.trading_state()
    assert (state.state, state.reason) == ("ACTIVE", "new UTC day")
    resting = service.place(service.prepare(_buy(ticker, 2)))
    assert resting.order_id is not None
    # an amend of the day after goes too (its trading state read after the breaker was asked)
    service.amends.amend(resting.order_id, count=D(4))


def test_before_a_resume_a_trip_day_takes_contracts_off_by_decrease_not_by_amend(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """Until `kalshi resume` the breaker's REDUCING refuses every amend (an amend needs ACTIVE),
    fewer contracts at the same price too, as the breaker's own refusal; `kalshi order decrease`
    takes them off. After a resume such an amend goes
    (tests/services/test_hand_orders_meet_the_days_breaker_trip.py)."""
    placing = OrderService(client, store)
    resting = placing.place(placing.prepare(_buy(ticker, 5, "0.20")))
    assert resting.order_id is not None
    day = utc_day(time.time())
    breaker_tripped(store, day)
    service = OrderService(client, store, clock=ManualClock(day_start(day) + 43_200.0))
    with pytest.raises(ValidationError) as amended:
        service.amends.amend(resting.order_id, count=D(3))
    assert amended.value.code == "CIRCUIT_BREAKER"
    assert "decrease" in (amended.value.hint or "")
    service.cancels.decrease(resting.order_id, to=D(3))
    assert client.orders.get_order(resting.order_id).remaining_count == D(3)
    assert store.trading.trading_state().state == "REDUCING"


def test_a_halt_on_a_trip_day_refuses_a_hand_order_as_halted_asking_the_exchange_nothing(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """HALTED (the kill switch) is stricter than the breaker: its refusal, exit 13 and "`kalshi
    resume` lifts it", comes first, with no fill read of the breaker's on the way."""
    day = utc_day(time.time())
    breaker_tripped(store, day)
    halt(store.trading, reason="kill switch", source="cancel-all")
    service = OrderService(client, store, clock=ManualClock(day_start(day) + 43_200.0))
    with pytest.raises(TradingHaltedError) as refused:
        service.prepare(_buy(ticker))
    assert refused.value.exit_code == ExitCode.HALTED
    assert store.entries.get_kv(CATCH_UP_CURSOR) is None  # the breaker's fills never read
