"""The exchange's cancel-all answered with a 5xx every time (one request "across every exchange
shard": a shard's engine that fails it fails the whole request) is retried only within its
share of the deadline; then the rounds cancel what rests order by order, each cancel routed to
its market's shard, and prove it. Retried until the deadline, it left every order resting and
the run NOT PROVEN, while the batched cancels would have been answered."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.cancel import CANCEL_ALL_SHARE
from kalshi_cli.services.killswitch.pull import UNREACHABLE_GIVE_UP_S
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError, KalshiError, TransportError
from kalshi_cli.vocabulary.models import Fill, Order
from tests.services.killswitch_fakes import UnexpectedCalls, resting_order

# a market on shard 0 and one on shard 2 (the shard is the exchange's routing by market_ticker)
ON_0, ON_2 = "KXZERO-26JAN01-A", "KXBTC-26JAN01-A"
DEADLINE_S = 30.0


class CancelAllFails(UnexpectedCalls):
    """Answers every cancel-all with `failure`; lists its orders until a batch cancel names
    each with its market; records when each cancel-all and batch was asked."""

    def __init__(self, clock: ManualClock, failure: KalshiError) -> None:
        self.clock = clock
        self.failure = failure
        self.listed = [resting_order("on-0", ON_0), resting_order("on-2", ON_2)]
        self.cancel_alls: list[float] = []
        self.batches: list[tuple[float, list[tuple[str, str | None]]]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield from list(self.listed)

    def cancel_all_orders(self) -> None:
        self.cancel_alls.append(self.clock.monotonic())
        raise self.failure

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.batches.append((self.clock.monotonic(), orders))
        tickers = {o.order_id: o.ticker for o in self.listed}
        # routed by its market: an item without its market_ticker goes to shard 0 alone
        routed = [
            oid for oid, ticker in orders if ticker is not None and tickers.get(oid) == ticker
        ]
        self.listed = [o for o in self.listed if o.order_id not in routed]
        return [CancelResult(oid, Decimal(2)) for oid in routed]


@pytest.mark.parametrize(
    "failure",
    [
        ApiError.from_response(500, {"code": "internal_error", "message": "shard 2 timed out"}),
        TransportError("read timed out"),
    ],
    ids=["5xx", "no answer"],
)
def test_a_cancel_all_failing_past_its_share_is_followed_by_cancels_order_by_order(
    store: Store, failure: KalshiError
) -> None:
    clock = ManualClock()
    exchange = CancelAllFails(clock, failure)
    said: list[str] = []

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(on_progress=said.append)

    assert report.proven, report.errors
    assert exchange.listed == []
    assert sorted(report.cancelled) == ["on-0", "on-2"]
    assert report.contracts_cancelled == Decimal(4)
    # the cancel-all was tried again and again, but only within its share of the deadline
    assert len(exchange.cancel_alls) > 1
    assert max(exchange.cancel_alls) <= CANCEL_ALL_SHARE * DEADLINE_S
    first_batch_at = exchange.batches[0][0]
    assert first_batch_at >= max(exchange.cancel_alls)
    # each cancel names its market, which routes it to its shard
    assert sorted(pair for _, pairs in exchange.batches for pair in pairs) == [
        ("on-0", ON_0),
        ("on-2", ON_2),
    ]
    assert any(failure.one_line() in error for error in report.errors)
    assert (
        f"the exchange's cancel-all failed for {CANCEL_ALL_SHARE * DEADLINE_S:g}s: "
        "cancelling order by order"
    ) in said
    # it may have acted (an answer lost): what it took is counted as a cancel-all's is, and
    # the minute after it may sweep a new order too
    assert report.exchange_cancel_all
    assert report.uncounted is False  # every order it may have taken was listed before it


def _refused() -> TransportError:
    """A connection refused: the request never reached the exchange."""
    request = httpx.Request("DELETE", "http://127.0.0.1/trade-api/v2/portfolio/orders")
    try:
        raise httpx.ConnectError("connection refused", request=request)
    except httpx.ConnectError as exc:
        try:
            raise TransportError("connection refused") from exc
        except TransportError as refused:
            return refused


def test_a_cancel_all_unreachable_for_less_than_the_give_up_time_is_followed_by_cancels(
    store: Store,
) -> None:
    """The cancel-all finds no connection for its whole share, a share shorter than
    `UNREACHABLE_GIVE_UP_S`, on a clock that has run for a while: the time without a connection
    is counted from its first refusal, so the run is not given up and the rounds cancel order by
    order and prove it."""
    deadline_s = 16.0
    assert CANCEL_ALL_SHARE * deadline_s < UNREACHABLE_GIVE_UP_S
    clock = ManualClock()
    clock.advance(1_000.0)
    exchange = CancelAllFails(clock, _refused())

    report = KillSwitch(exchange, store, clock, deadline_s=deadline_s).run()

    assert len(exchange.cancel_alls) > 1
    assert report.proven, report.errors
    assert sorted(report.cancelled) == ["on-0", "on-2"]
    assert not report.exchange_cancel_all  # never sent: it took nothing


class CancelAllFailsAWhile(CancelAllFails):
    """Answers the cancel-all with `failure` until `until` on its clock, then takes every
    order off the book."""

    def __init__(self, clock: ManualClock, failure: KalshiError, until: float) -> None:
        super().__init__(clock, failure)
        self.until = until

    def cancel_all_orders(self) -> None:
        if self.clock.monotonic() < self.until:
            super().cancel_all_orders()
        self.cancel_alls.append(self.clock.monotonic())
        self.listed = []

    def iter_fills(self, **filters: object) -> Iterator[Fill]:
        return iter([])  # none filled: each order it took is counted cancelled


def test_a_cancel_all_failing_for_less_than_a_quarter_of_the_deadline_is_still_sent(
    store: Store,
) -> None:
    """5xx answers for 5 s of a 30 s deadline (its share is a quarter, docs/kill-switch.md):
    the cancel-all is tried until it is answered and takes every order, with no cancel sent
    order by order."""
    clock = ManualClock()
    exchange = CancelAllFailsAWhile(
        clock,
        ApiError.from_response(500, {"code": "internal_error", "message": "shard 2 timed out"}),
        until=clock.monotonic() + 5.0,
    )

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run()

    assert report.proven and report.exchange_cancel_all, report.errors
    assert exchange.batches == []
    assert sorted(report.cancelled) == ["on-0", "on-2"]
