"""A hand order (`kalshi order place`, `batch`, `amend`) after `kalshi resume` on a day the daily
circuit breaker tripped: the state reads ACTIVE, but the trip holds every order that is not
reduce-only until the next UTC day on every path of the pre-trade account, the loop's and the
assistant's as the hand's (docs/risk.md "Daily circuit breaker"); a decrease still goes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side
from tests.breaker_days import tripped_today_and_resumed


def test_a_hand_order_after_resume_on_a_breaker_day_is_refused(
    client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    resting = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(5), D("0.20")))
    )
    assert resting.order_id is not None
    tripped_today_and_resumed(store)
    assert store.trading.trading_state().state == "ACTIVE"
    with pytest.raises(ValidationError) as refused:
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(5), D("0.20")))
    assert refused.value.code == "CIRCUIT_BREAKER"
    with pytest.raises(ValidationError) as grown:
        service.amends.amend(resting.order_id, count=D(8))
    assert grown.value.code == "CIRCUIT_BREAKER"
    # a decrease adds nothing: it goes
    service.amends.amend(resting.order_id, count=D(3))
    assert client.orders.get_order(resting.order_id).remaining_count == D(3)


def test_a_hand_amend_that_reprices_on_a_breaker_day_is_refused(
    client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """A new price is a new commitment (a buy moved up may cross the book and open a position
    at once), as the loop's and the assistant's amends are held; the same price and fewer
    contracts is a decrease, and goes."""
    resting = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(5), D("0.20")))
    )
    assert resting.order_id is not None
    tripped_today_and_resumed(store)
    with pytest.raises(ValidationError) as repriced:
        service.amends.amend(resting.order_id, price=D("0.30"))
    assert repriced.value.code == "CIRCUIT_BREAKER"
    assert client.orders.get_order(resting.order_id).yes_price == D("0.20")
