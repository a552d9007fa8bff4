"""A batch cancel the exchange fails every time (a 5xx for that one request) is retried only
within its share of what is left of the deadline: the batches after it still go out and their
orders are cancelled, and the run is NOT PROVEN naming the orders of the failing batch. Retried
until the deadline, it held back every later batch and left all their orders resting."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError
from kalshi_cli.vocabulary.models import Order
from tests.services.killswitch_fakes import UnexpectedCalls, resting_order

TICKER = "KXBTC-26JAN01-A"
DEADLINE_S = 30.0
BATCH = 20  # the kill switch's batch size


class FirstBatchFails(UnexpectedCalls):
    """Lists what rests; answers every batch cancel naming the first order listed with a 500,
    and cancels the orders of any other."""

    def __init__(self, clock: ManualClock, count: int) -> None:
        self.clock = clock
        self.listed = [resting_order(f"o-{n:02d}", TICKER) for n in range(count)]
        self.failing = self.listed[0].order_id
        self.batches: list[tuple[float, list[str]]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield from list(self.listed)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        ids = [order_id for order_id, _ in orders]
        self.batches.append((self.clock.monotonic(), ids))
        if self.failing in ids:
            raise ApiError.from_response(500, {"code": "internal_error", "message": "timed out"})
        self.listed = [o for o in self.listed if o.order_id not in ids]
        return [CancelResult(order_id, Decimal(2)) for order_id in ids]


def test_a_batch_the_exchange_keeps_failing_does_not_hold_back_the_others(store: Store) -> None:
    clock = ManualClock()
    exchange = FirstBatchFails(clock, BATCH + 5)
    first, rest = exchange.listed[:BATCH], exchange.listed[BATCH:]

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(ticker=TICKER)

    assert sorted(report.cancelled) == sorted(o.order_id for o in rest)
    assert report.contracts_cancelled == Decimal(2 * len(rest))
    assert exchange.listed == first
    # the truth of what stays: not proven, each order of the failing batch named left
    assert not report.proven
    assert sorted(report.left) == sorted(o.order_id for o in first)
    # the later batch went out early, not at the deadline
    later = [at for at, ids in exchange.batches if exchange.failing not in ids]
    assert later and later[0] <= DEADLINE_S / 2
    # and the failing batch kept being tried until the deadline, in later rounds too
    tried = [at for at, ids in exchange.batches if exchange.failing in ids]
    assert max(tried) > later[0]
