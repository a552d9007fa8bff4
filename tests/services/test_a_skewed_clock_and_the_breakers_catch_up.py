"""The catch-up a hand order makes before the daily circuit breaker (docs/risk.md "Daily circuit
breaker") keeps its cursor in this machine's time, while fills carry the exchange's, and reads
again `CATCH_UP_OVERLAP_S` (300 s) back of it. The same clock signs every request, and the
exchange refuses a signature whose time is off by more than a few seconds (the simulator: 30 s),
so no catch-up reads with a clock off by more than that: ahead by 10 minutes nothing is read or
placed and the cursor does not move, and at the widest skew signed for a loss made in between
still trips the breaker."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import CATCH_UP_CURSOR, CATCH_UP_OVERLAP_S
from kalshi_cli.sim.server.auth import DEFAULT_WINDOW_S
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import AuthError, ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order, connect

LIMITS = RiskLimits(daily_loss_limit=D(1))


class Ahead(SystemClock):
    """This machine's clock, `seconds` ahead of the exchange's."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def wall(self) -> float:
        return super().wall() + self.seconds


def _buy(ticker: str) -> OrderRequest:
    return OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.10"))


def _lose_two_dollars_elsewhere(prime: SimHarness, client: KalshiClient, ticker: str) -> None:
    """Bought at 0.60 and sold at 0.40, 10 contracts, on the account by a right clock (the
    website, another machine): $2.00 lost, past the $1 limit, no state file told."""
    another_accounts_order(prime, ticker, BookSide.ASK, "0.60", 10)
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(10)))
    another_accounts_order(prime, ticker, BookSide.BID, "0.40", 10)
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(10)))


def test_a_clock_ten_minutes_ahead_reads_and_places_nothing_and_misses_no_loss(
    client: KalshiClient, store: Store, ticker: str, prime: SimHarness
) -> None:
    ahead = Ahead(600.0)
    with connect(prime.account, clock=ahead) as skewed:
        service = OrderService(skewed, store, limits=LIMITS, clock=ahead)
        with pytest.raises(AuthError) as refused:
            service.prepare(_buy(ticker))
        assert refused.value.code == "header_timestamp_expired"
        assert store.entries.get_kv(CATCH_UP_CURSOR) is None  # no cursor 10 minutes ahead
        _lose_two_dollars_elsewhere(prime, client, ticker)
        with pytest.raises(AuthError):
            service.prepare(_buy(ticker))
    assert store.orders.intents() == []
    set_right = OrderService(client, store, limits=LIMITS)
    with pytest.raises(ValidationError) as tripped:
        set_right.prepare(_buy(ticker))
    assert tripped.value.code == "CIRCUIT_BREAKER"


def test_at_the_widest_skew_signed_for_a_loss_made_after_a_catch_up_trips_the_breaker(
    client: KalshiClient, store: Store, ticker: str, prime: SimHarness
) -> None:
    """The cursor written by a clock as far ahead as a signature is taken: the next catch-up
    reads from `CATCH_UP_OVERLAP_S` back of it, before the loss made just after."""
    skew = DEFAULT_WINDOW_S - 5.0
    assert skew < CATCH_UP_OVERLAP_S
    ahead = Ahead(skew)
    with connect(prime.account, clock=ahead) as skewed:
        service = OrderService(skewed, store, limits=LIMITS, clock=ahead)
        placed = service.place(service.prepare(_buy(ticker)))
        assert placed.status == "resting"
        cursor = store.entries.get_kv(CATCH_UP_CURSOR)
        assert cursor is not None and float(cursor) > SystemClock().wall()  # ahead of the fills
        _lose_two_dollars_elsewhere(prime, client, ticker)
        with pytest.raises(ValidationError) as tripped:
            service.prepare(_buy(ticker))
    assert tripped.value.code == "CIRCUIT_BREAKER"
    assert len(store.fills.read()) == 2
