"""The trading state is checked in the same state-file transaction that records an order's
intent, so an intent can only be recorded (and so sent) while the state allows it: an order
prepared just before the kill switch's HALTED is never sent after the kill switch's proof."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import TradingHaltedError, ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.conftest import SimHarness
from tests.prime_tier import resting_count
from tests.wire import order_body

T = "KXHALT-26JAN01-A"


def _bid(**extra: Any) -> OrderRequest:
    return OrderRequest(T, Side.YES, Action.BUY, Decimal(1), Decimal("0.40"), **extra)


@pytest.mark.parametrize("state", ["HALTED", "SAFE_MODE"])
def test_an_order_prepared_before_halted_is_neither_recorded_nor_sent(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path, state: str
) -> None:
    prime.create_market(T)
    service = OrderService(client, store)
    prepared = service.prepare(_bid())
    # the kill switch (another process, another connection) halts between prepare and submit
    with Store.open(tmp_path / "state.db") as other:
        other.trading.set_trading_state(state, reason="kill switch", source="cancel-all")

    with pytest.raises(TradingHaltedError):
        service.place(prepared)

    assert store.orders.intents() == []
    assert resting_count(client) == 0
    assert prime.stats()["accounts"][prime.account.key_id]["order_create_requests"] == 0


def test_a_halted_file_refuses_as_halted_before_the_callers_check_is_asked(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path
) -> None:
    """The caller's check (the assistant's day budget) is asked after the trading state, in
    the same transaction: a halted file refuses the order as halted, whatever the check would
    say, and the check is not asked."""
    prime.create_market(T)
    service = OrderService(client, store)
    prepared = service.prepare(_bid())
    with Store.open(tmp_path / "state.db") as other:
        other.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
    asked: list[str] = []

    def over_budget() -> None:
        asked.append(prepared.request.ticker)
        raise ValidationError("over the day's budget", code="AGENT_BUDGET")

    with pytest.raises(TradingHaltedError):
        service.place(prepared, check=over_budget)

    assert asked == []
    assert store.orders.intents() == []


def test_reducing_allows_a_reduce_only_order_and_refuses_another(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path
) -> None:
    prime.create_market(T)
    other = prime.new_account()
    service = OrderService(client, store)
    service.place(service.prepare(_bid()))
    sell = order_body(T, side="ask", count="1", time_in_force="immediate_or_cancel")
    prime.placed(other, sell)
    buy = order_body(T, price="0.35", count="1")
    prime.placed(other, buy)
    opening = service.prepare(_bid())
    reducing = service.prepare(
        OrderRequest(
            T,
            Side.YES,
            Action.SELL,
            Decimal(1),
            Decimal("0.30"),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
        )
    )
    with Store.open(tmp_path / "state.db") as second:
        second.trading.set_trading_state("REDUCING", reason="circuit breaker", source="risk")

    with pytest.raises(TradingHaltedError):
        service.place(opening)
    outcome = service.place(reducing)

    assert outcome.status == "executed"
    recorded = [i.client_order_id for i in store.orders.intents()]
    assert opening.create.client_order_id not in recorded
    assert reducing.create.client_order_id in recorded


def test_an_amend_checked_before_reducing_is_neither_recorded_nor_sent(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path
) -> None:
    """A new price can cross the book: an amend adds as a new order does, and the circuit
    breaker's REDUCING, set by another process after the amend's checks, keeps it off the
    exchange and out of the state file's amends in flight."""
    prime.create_market(T)
    service = OrderService(client, store)
    order_id = service.place(service.prepare(_bid())).order_id
    assert order_id is not None
    prepared = service.amends.prepare(order_id, price=Decimal("0.41"))
    with Store.open(tmp_path / "state.db") as other:
        other.trading.set_trading_state("REDUCING", reason="circuit breaker", source="risk")

    with pytest.raises(TradingHaltedError) as refused:
        service.amends.submit(prepared)

    assert refused.value.message == "trading is REDUCING (circuit breaker); not sent"
    assert store.orders.amends_in_doubt() == []
    assert client.orders.get_order(order_id).yes_price == Decimal("0.40")


def test_an_amend_of_an_order_the_state_file_does_not_hold_checked_before_halted_is_not_sent(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path
) -> None:
    """An order placed from another machine has no row here to record the amend on: the
    trading state is read again just before the amend leaves all the same, so a halt written
    after its checks (`kalshi halt` in another terminal) keeps a bigger order off the book."""
    prime.create_market(T)
    with Store.open(tmp_path / "elsewhere.db") as elsewhere:
        order_id = (
            OrderService(client, elsewhere)
            .place(OrderService(client, elsewhere).prepare(_bid()))
            .order_id
        )
    assert order_id is not None and store.orders.intent_by_order_id(order_id) is None
    service = OrderService(client, store)
    prepared = service.amends.prepare(order_id, count=Decimal(5))
    with Store.open(tmp_path / "state.db") as other:
        other.trading.set_trading_state("HALTED", reason="kill switch", source="halt")

    with pytest.raises(TradingHaltedError):
        service.amends.submit(prepared)

    assert client.orders.get_order(order_id).remaining_count == 1
