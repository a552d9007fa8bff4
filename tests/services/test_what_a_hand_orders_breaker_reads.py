"""What the daily circuit breaker of a hand order that adds reads of the exchange
(docs/pnl.md "Read commands catch up first", docs/risk.md "Daily circuit breaker"): after the
first look, the fills and the settlements since the last one (less the overlap) alone, so a
settlement made by hand since still trips it; and on a day the state file holds tripped
already, nothing: the order is refused before the catch-up. The catch-up's listings go out
beside the order's own reads (its market, position, balance), not before them."""

from __future__ import annotations

import threading
import time
from decimal import Decimal as D

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.risk.engine import CircuitBreaker, RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import CATCH_UP_CURSOR, CATCH_UP_OVERLAP_S
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.breaker_days import breaker_tripped, lost_two_dollars_by_hand
from tests.conftest import SimHarness
from tests.prime_tier import RequestsSeen, another_accounts_order, connect, make_markets

FILLS = "/portfolio/fills"
SETTLEMENTS = "/portfolio/settlements"


def _buy(ticker: str, count: int = 1, price: str = "0.10") -> OrderRequest:
    return OrderRequest(ticker, Side.YES, Action.BUY, D(count), D(price))


def test_after_the_first_look_the_fills_and_settlements_are_listed_since_the_last_one(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    seen = RequestsSeen()

    def listings() -> list[tuple[str, str | None]]:
        asked = zip(seen.paths, seen.queries, strict=True)
        return sorted((p, q.get("min_ts")) for p, q in asked if p in (FILLS, SETTLEMENTS))

    with connect(prime.account, transport=seen) as client:
        service = OrderService(client, store)
        service.place(service.prepare(_buy(ticker)))
        first = listings()
        cursor = float(store.entries.get_kv(CATCH_UP_CURSOR) or "nan")
        seen.clear()
        service.place(service.prepare(_buy(ticker)))
    # a state file with no cursor reads every fill and settlement once
    assert first == [(FILLS, None), (SETTLEMENTS, None)]
    since = str(int(cursor - CATCH_UP_OVERLAP_S))
    assert listings() == [(FILLS, since), (SETTLEMENTS, since)]


def test_a_settlement_lost_by_hand_after_the_last_look_trips_the_breaker(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    service = OrderService(client, store, limits=RiskLimits(daily_loss_limit=D(1)))
    held, other = make_markets(prime, 2)
    # 10 YES bought at 0.60 by hand, then the market settles NO: $6.00 lost, past the $1 limit
    another_accounts_order(prime, held, BookSide.ASK, "0.60", 10)
    service.place(service.prepare(_buy(held, 10, "0.60")))
    service.place(service.prepare(_buy(other)))  # the last look, before the settlement
    prime.settle(held, "no")
    with pytest.raises(ValidationError) as refused:
        service.prepare(_buy(other))
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert [s.ticker for s in store.settlements.read()] == [held]


def test_a_settlement_new_since_the_last_look_is_listed_on_each_subaccount_since_it_too(
    prime: SimHarness, store: Store
) -> None:
    """A settlement the state file lacks has the subaccounts asked and each listed on its own:
    those listings too are of the settlements since the last look, not every one since the
    account opened."""
    held, other = make_markets(prime, 2)
    seen = RequestsSeen()
    with connect(prime.account, transport=seen) as client:
        service = OrderService(client, store)
        another_accounts_order(prime, held, BookSide.ASK, "0.60", 2)
        service.place(service.prepare(_buy(held, 2, "0.60")))
        service.place(service.prepare(_buy(other)))  # the last look, before the settlement
        cursor = float(store.entries.get_kv(CATCH_UP_CURSOR) or "nan")
        prime.settle(held, "no")
        seen.clear()
        service.place(service.prepare(_buy(other)))
    asked = list(zip(seen.paths, seen.queries, strict=True))
    on_each = [q for p, q in asked if p == SETTLEMENTS and "subaccount" in q]
    assert on_each, asked  # the subaccounts were asked, and each listed
    assert {q.get("min_ts") for q in on_each} == {str(int(cursor - CATCH_UP_OVERLAP_S))}
    assert [s.ticker for s in store.settlements.read()] == [held]


def test_a_day_the_state_file_holds_tripped_refuses_an_order_that_adds_with_no_read(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    clock = ManualClock(time.time())
    day = utc_day(clock.wall())
    breaker_tripped(store, day, reducing=False)
    seen = RequestsSeen()
    with connect(prime.account, transport=seen) as client:
        service = OrderService(client, store, clock=clock)
        with pytest.raises(ValidationError) as refused:
            service.prepare(_buy(ticker))
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert seen.paths == []
    assert store.entries.get_kv(CATCH_UP_CURSOR) is None  # no catch-up made


class _FillsWaitForTheMarket(RequestsSeen):
    """Holds each fills listing until the order's market is asked for (5 s at most), noting
    whether it was by then."""

    def __init__(self, ticker: str) -> None:
        super().__init__()
        self.market = f"/trade-api/v2/markets/{ticker}"
        self.market_asked = threading.Event()
        self.met: list[bool] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.market:
            self.market_asked.set()
        elif request.url.path.endswith("/portfolio/fills"):
            self.met.append(self.market_asked.wait(5.0))
        return super().handle_request(request)


def test_the_catch_up_goes_out_beside_the_orders_market_read_and_is_booked(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    seen = _FillsWaitForTheMarket(ticker)
    with connect(prime.account, transport=seen) as client:
        service = OrderService(client, store)
        service.place(service.prepare(_buy(ticker)))
        seen.market_asked.clear()
        seen.met.clear()
        before = store.entries.get_kv(CATCH_UP_CURSOR)
        placed = service.place(service.prepare(_buy(ticker)))
    assert seen.met == [True]  # the market was asked while the fills listing was out
    assert placed.order_id is not None
    assert store.entries.get_kv(CATCH_UP_CURSOR) != before  # booked: the cursor moved


def test_a_loss_the_catch_up_finds_refuses_as_the_breaker_before_the_orders_own_limit(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store, limits=RiskLimits(daily_loss_limit=D(1)))
    lost_two_dollars_by_hand(prime, service, ticker)
    # an order its own limit refuses too (more than `max_order_count`, 50), read as the
    # catch-up's listings are out: the breaker's refusal comes first, as when it was asked first
    with pytest.raises(ValidationError) as refused:
        service.prepare(_buy(ticker, 60))
    assert refused.value.code == "CIRCUIT_BREAKER"
    assert store.trading.risk_trips(rule=CircuitBreaker.RULE)
