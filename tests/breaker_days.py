"""The daily circuit breaker's rigs: its trip written into a state file as the breaker writes it
(risk/engine.py `CircuitBreaker`: its row, then REDUCING), for the tests of what a trip holds
and when it ends, and a day's loss made by hand that no state file booked yet."""

from __future__ import annotations

import time
from decimal import Decimal

from kalshi_cli.risk.engine import CircuitBreaker
from kalshi_cli.risk.state import resume
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order


def breaker_tripped(store: Store, *days: str, reducing: bool = True) -> None:
    """The breaker's trip of each of `days` (a loss of $150 against a $100 limit) and, with
    `reducing`, its REDUCING; no loop runs since."""
    for day in days:
        store.trading.record_risk_trip(
            rule=CircuitBreaker.RULE,
            code="CIRCUIT_BREAKER",
            detail=f"realized P&L -$150.00 on {day} reached the daily loss limit of -$100.00",
            day=day,
        )
    if reducing:
        store.trading.set_trading_state("REDUCING", reason="tripped", source=CircuitBreaker.RULE)


def tripped_today(store: Store, now: float | None = None) -> None:
    """Today's trip (UTC), and tomorrow's should the test run past midnight, with REDUCING."""
    now = time.time() if now is None else now
    breaker_tripped(store, *{utc_day(now), utc_day(now + 120)})


def tripped_today_and_resumed(store: Store) -> None:
    """Today's trip, then `kalshi resume`: ACTIVE, the trip still holding the day."""
    tripped_today(store)
    resume(store.trading)


def lost_two_dollars_by_hand(prime: SimHarness, service: OrderService, ticker: str) -> None:
    """Bought 10 at 0.60 and sold them at 0.40 by hand through `service`: $2.00 lost. An
    order's answer carries no fill, so the state file has booked neither until a catch-up."""
    another_accounts_order(prime, ticker, BookSide.ASK, "0.60", 10)
    bought = OrderRequest(ticker, Side.YES, Action.BUY, Decimal(10), Decimal("0.60"))
    service.place(service.prepare(bought))
    another_accounts_order(prime, ticker, BookSide.BID, "0.40", 10)
    sold = OrderRequest(ticker, Side.YES, Action.SELL, Decimal(10), Decimal("0.40"))
    service.place(service.prepare(sold))
