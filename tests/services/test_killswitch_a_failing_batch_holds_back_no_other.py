"""One batch cancel cannot hold back the others. A batch the exchange fails every time (a 5xx
for that one request), or never answers, is tried only within its share of what is left of the
deadline, each try's request cut to that share: the batches after it still go out and their
orders are cancelled, and the run is NOT PROVEN naming the orders of the failing batch. Retried
until the deadline, or left hanging until it, it held back every later batch and left all their
orders resting. A batch the exchange refuses whole (a 4xx other than 429 and 401: per the spec
a batch answers for each order, so the refusal is of the request) is sent again one order to a
request, and the batches after it go out: it ended the cancels, every later order resting."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Deadline, ManualClock
from kalshi_cli.vocabulary.errors import ApiError, KalshiError, TransportError
from kalshi_cli.vocabulary.models import Order
from tests.services.killswitch_fakes import BATCH_CANCEL_SIZE, UnexpectedCalls, resting_order

TICKER = "KXBTC-26JAN01-A"
DEADLINE_S = 30.0
BATCH = BATCH_CANCEL_SIZE  # the cancels one request of the fake exchange carries


class FirstBatchFails(UnexpectedCalls):
    """Lists what rests; fails every batch cancel naming the first order listed (`fail`), and
    cancels the orders of any other."""

    def __init__(self, clock: ManualClock, count: int) -> None:
        self.clock = clock
        self.listed = [resting_order(f"o-{n:02d}", TICKER) for n in range(count)]
        self.failing = self.listed[0].order_id
        self.batches: list[tuple[float, list[str]]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield from list(self.listed)

    def fail(self, ids: list[str]) -> KalshiError:
        return ApiError.from_response(500, {"code": "internal_error", "message": "timed out"})

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        ids = [order_id for order_id, _ in orders]
        self.batches.append((self.clock.monotonic(), ids))
        if self.failing in ids:
            raise self.fail(ids)
        self.listed = [o for o in self.listed if o.order_id not in ids]
        return [CancelResult(order_id, Decimal(2)) for order_id in ids]


class FirstBatchHangs(FirstBatchFails):
    """Never answers a batch cancel naming the first order listed: the request runs out the time
    of the deadline it runs under, as the client cuts every read to it (client/deadline.py)."""

    def fail(self, ids: list[str]) -> KalshiError:
        cut = Deadline.current()
        assert cut is not None, "a request with no deadline would hang for ever"
        self.clock.advance(max(0.0, cut.at - self.clock.monotonic()))
        return TransportError("read timed out")


class FirstBatchRefused(FirstBatchFails):
    """Refuses whole, with `status`, every batch cancel naming the first order listed."""

    def __init__(self, clock: ManualClock, count: int, status: int) -> None:
        super().__init__(clock, count)
        self.status = status

    def fail(self, ids: list[str]) -> KalshiError:
        return ApiError.from_response(self.status, {"code": "refused", "message": "not this"})


def test_a_batch_the_exchange_keeps_failing_does_not_hold_back_the_others(store: Store) -> None:
    clock = ManualClock()
    exchange = FirstBatchFails(clock, BATCH + 5)
    first, rest = exchange.listed[:BATCH], exchange.listed[BATCH:]
    said: list[str] = []

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(
        ticker=TICKER, on_progress=said.append
    )

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
    # the operator is told the batch was given up for its share, and how long that was
    assert f"a batch of {BATCH} cancel(s) failed for {DEADLINE_S / 2:g}s: going on" in said


class LastBatchFailsAWhile(FirstBatchFails):
    """Fails every batch cancel naming the last order listed until `until` on the clock, then
    cancels it as any other."""

    def __init__(self, clock: ManualClock, count: int, until: float) -> None:
        super().__init__(clock, count)
        self.failing = self.listed[-1].order_id
        self.until = until

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        if self.clock.monotonic() >= self.until:
            self.failing = ""
        return super().batch_cancel(orders, subaccounts=subaccounts)


def test_the_last_batch_is_tried_for_all_that_is_left_of_the_deadline(store: Store) -> None:
    """The last batch's share is all that is left: one failing for more than an even share of
    the time left but less than all of it is tried until it is cancelled, never given up in
    between for the next listing."""
    clock = ManualClock()
    exchange = LastBatchFailsAWhile(clock, BATCH + 5, until=DEADLINE_S * 0.6)
    said: list[str] = []

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(
        ticker=TICKER, on_progress=said.append
    )

    assert report.proven and exchange.listed == []
    assert report.contracts_cancelled == Decimal(2 * (BATCH + 5))
    assert not [line for line in said if "failed for" in line]


def test_a_batch_the_exchange_never_answers_does_not_hold_back_the_others(store: Store) -> None:
    """Each try of a batch runs under its share of the deadline, not the run's: a request that
    hangs is cut at the end of the share, and the next batch goes out then."""
    clock = ManualClock()
    exchange = FirstBatchHangs(clock, BATCH + 5)
    first, rest = exchange.listed[:BATCH], exchange.listed[BATCH:]

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(ticker=TICKER)

    assert sorted(report.cancelled) == sorted(o.order_id for o in rest)
    assert exchange.listed == first
    assert not report.proven
    assert sorted(report.left) == sorted(o.order_id for o in first)
    # the later batch went out once the hanging one's share (half of the deadline) was spent
    later = [at for at, ids in exchange.batches if exchange.failing not in ids]
    assert later and later[0] <= DEADLINE_S / 2
    assert any("read timed out" in error for error in report.errors)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_batch_the_exchange_refuses_whole_is_sent_order_by_order_and_the_others_go_out(
    store: Store, status: int
) -> None:
    """A 4xx refusing the request (an item the exchange cannot take, a batch larger than the
    tier allows) says nothing of the other orders in it: each is sent in a batch of its own,
    and the batches after it go out. Only the order the exchange refuses is left."""
    clock = ManualClock()
    exchange = FirstBatchRefused(clock, BATCH + 5, status)
    said: list[str] = []

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(
        ticker=TICKER, on_progress=said.append
    )

    failing = exchange.failing
    assert [o.order_id for o in exchange.listed] == [failing]
    assert sorted(report.cancelled) == sorted(f"o-{n:02d}" for n in range(1, BATCH + 5))
    assert report.contracts_cancelled == Decimal(2 * (BATCH + 4))
    assert not report.proven and report.left == [failing]
    assert any(str(status) in error for error in report.errors)
    # the refused batch's other orders each went in a request of its own, in the first round
    singles = [ids for _, ids in exchange.batches if len(ids) == 1]
    assert [failing] in singles and len(singles) >= BATCH
    assert f"a batch of {BATCH} cancel(s) was refused: cancelling its orders one by one" in said


class FirstBatchRefusedThenHangs(FirstBatchHangs):
    """Refuses whole (400) every batch of the first batch's orders larger than one, and never
    answers one of them sent alone."""

    def fail(self, ids: list[str]) -> KalshiError:
        if len(ids) > 1:
            return ApiError.from_response(400, {"code": "bad_request", "message": "too many"})
        return super().fail(ids)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        first = {o.order_id for o in self.listed[:BATCH]}
        ids = [order_id for order_id, _ in orders]
        if first.issuperset(ids):
            self.batches.append((self.clock.monotonic(), ids))
            raise self.fail(ids)
        return super().batch_cancel(orders, subaccounts=subaccounts)


def test_the_orders_of_a_refused_batch_sent_alone_keep_to_its_share(store: Store) -> None:
    """Sent alone, the refused batch's orders share what was left of its share: were each
    never answered, the batch after it still goes out when that share ends."""
    clock = ManualClock()
    exchange = FirstBatchRefusedThenHangs(clock, BATCH + 5)
    rest = exchange.listed[BATCH:]

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(ticker=TICKER)

    assert sorted(report.cancelled) == sorted(o.order_id for o in rest)
    later = [at for at, ids in exchange.batches if ids[0] in report.cancelled]
    assert later and later[0] <= DEADLINE_S / 2


def test_a_refused_key_still_ends_the_cancels_at_once(store: Store) -> None:
    """A 401 refuses the key, not the batch: every other request would be refused too, so
    nothing more is sent, one by one or otherwise."""
    clock = ManualClock()
    exchange = FirstBatchRefused(clock, BATCH + 5, 401)

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(ticker=TICKER)

    assert [len(ids) for _, ids in exchange.batches] == [BATCH]
    assert not report.proven and report.cancelled == []


class ListedAtTheDeadline(UnexpectedCalls):
    """Lists one resting order, its answer coming just as the run's deadline ends (the listing's
    request cut to it, answered at the last moment); takes no cancel."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.listed = [resting_order("o-late", TICKER)]

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        cut = Deadline.current()
        assert cut is not None, "a listing with no deadline would hang for ever"
        self.clock.advance(max(0.0, cut.at - self.clock.monotonic()))
        yield from list(self.listed)


def test_a_listing_answered_as_the_deadline_ends_leaves_its_orders_named_not_a_crash(
    store: Store,
) -> None:
    """A batch whose share is already spent when it would go out is never sent: the run ends
    NOT PROVEN naming what the listing showed resting, not with an error of its own."""
    clock = ManualClock()
    exchange = ListedAtTheDeadline(clock)

    report = KillSwitch(exchange, store, clock, deadline_s=DEADLINE_S).run(ticker=TICKER)

    assert not report.proven
    assert report.left == ["o-late"] and report.cancelled == []
