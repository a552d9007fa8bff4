"""A change that only takes risk away (an amend to fewer contracts at the same price, a
reduce-only order, a cancel, `kalshi order decrease`) never waits on or fails by the read of the
account's fills the daily circuit breaker needs: a trader cutting risk while the exchange's fills
endpoint fails still gets through. The breaker reads them only for an order it can refuse, one
that adds (docs/risk.md "Daily circuit breaker")."""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.portfolio import PortfolioApi
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, day_start, parse_iso, utc_day
from kalshi_cli.vocabulary.errors import ServerError, ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.breaker_days import breaker_tripped, tripped_today_and_resumed


def _fills_fail(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every read of the account's fills answered 500; how many were asked."""
    asked: list[int] = []

    def failing(self: PortfolioApi, **_: Any) -> Any:
        asked.append(1)
        raise ServerError("request failed: HTTP 500", status=500)

    monkeypatch.setattr(PortfolioApi, "iter_fills", failing)
    return asked


def _resting(service: OrderService, ticker: str, count: int = 5) -> str:
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(count), D("0.20")))
    )
    assert placed.order_id is not None
    return placed.order_id


def test_a_shrinking_amend_goes_while_the_fills_read_fails(
    client: KalshiClient, store: Store, ticker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = OrderService(client, store, limits=RiskLimits(daily_loss_limit=D(1)))
    order_id = _resting(service, ticker)
    asked = _fills_fail(monkeypatch)
    # the failing read is the breaker's: an order that adds meets it
    with pytest.raises(ServerError):
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.10")))
    assert asked
    asked.clear()
    service.amends.amend(order_id, count=D(3))
    assert client.orders.get_order(order_id).remaining_count == D(3)
    sell = OrderRequest(
        ticker,
        Side.YES,
        Action.SELL,
        D(1),
        D("0.90"),
        time_in_force=TimeInForce.IOC,
        reduce_only=True,
    )
    service.prepare(sell)
    service.cancels.decrease(order_id, to=D(2))
    service.cancels.cancel(order_id)
    assert asked == []  # none of them asked for the fills


def test_a_shrinking_amend_on_the_day_after_a_trip_lifts_its_reducing_without_the_fills(
    client: KalshiClient, store: Store, ticker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The breaker's REDUCING of a day that is over is lifted by the state file alone."""
    order_id = _resting(OrderService(client, store), ticker)
    day = utc_day(time.time())
    breaker_tripped(store, day)
    asked = _fills_fail(monkeypatch)
    service = OrderService(client, store, clock=ManualClock(day_start(day) + 86_400.0))
    service.amends.amend(order_id, count=D(3))
    assert client.orders.get_order(order_id).remaining_count == D(3)
    assert asked == []


def test_after_resume_on_a_trip_day_an_amend_that_keeps_an_order_resting_longer_is_refused(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """A later expiry, or none, keeps the order at risk longer: it adds, and the breaker holds
    it; an earlier expiry takes time at risk away, and goes."""
    service = OrderService(client, store)
    now = int(time.time())
    placed = service.place(
        service.prepare(
            OrderRequest(
                ticker,
                Side.YES,
                Action.BUY,
                D(5),
                D("0.20"),
                expiration_time=now + 7200,
            )
        )
    )
    order_id = placed.order_id
    assert order_id is not None
    tripped_today_and_resumed(store)
    for later in (now + 14_400, 0):
        with pytest.raises(ValidationError) as refused:
            service.amends.amend(order_id, expiration_time=later)
        assert refused.value.code == "CIRCUIT_BREAKER"
    service.amends.amend(order_id, expiration_time=now + 3600)
    shown = client.orders.get_order(order_id).expiration_time
    assert shown is not None
    assert parse_iso(shown).timestamp() == now + 3600
