"""What the exchange did is what the state file ends up saying, and what a person is told:
an order accepted while a concurrent reconcile answered its intent, a state file that cannot
be written after the order was placed, a cancel whose answer was lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CancelResult,
    CreateOrder,
    CreateOrderResult,
)
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import OrderNotRecorded, Store, StoreError
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    BadRequestError,
    NotFoundError,
    OrderOutcomeUnknown,
)
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.fakes import Swapped
from tests.prime_tier import connect, connect_as


class BesideAReconcile(OrdersApi):
    """A client's orders area that is given another process's order service on the same state
    file (`other`), whose reconcile it runs while placing."""

    other: OrderService


R = TypeVar("R", bound=BesideAReconcile)


@contextmanager
def beside_a_reconcile(
    area_type: type[R],
    prime: SimHarness,
    client: KalshiClient,
    db: Path,
    *,
    clock: ManualClock | None = None,
) -> Iterator[tuple[Store, Swapped[R]]]:
    """The state file `db` and a client of the prime account whose orders area is
    `area_type`, given an order service on `db` opened a second time (on `clock`, if given)."""
    with (
        Store.open(db) as store,
        Store.open(db) as second,
        connect_as(area_type, prime.account) as in_flight,
    ):
        in_flight.area.other = OrderService(client, second, clock=clock)
        yield store, in_flight


class ReconcileInFlight(BesideAReconcile):
    """A client during whose create request another process runs `kalshi reconcile --grace 0`,
    before the order reaches the exchange."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        self.other.reconcile(grace_s=0.0)
        return super().create_order(request)


def test_an_intent_answered_by_a_concurrent_reconcile_is_corrected_not_lost(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    with beside_a_reconcile(ReconcileInFlight, prime, client, tmp_path / "state.db") as (
        store,
        in_flight,
    ):
        service = OrderService(in_flight, store)
        request = OrderRequest(ticker, Side.YES, Action.BUY, D(3), D("0.20"))
        outcome = service.place(service.prepare(request))
        assert outcome.status == "resting"
        intent = store.orders.get_intent(outcome.client_order_id)
        assert intent is not None
        assert (intent.status, intent.order_id) == ("resting", outcome.order_id)


def test_a_row_marked_rejected_but_resting_on_the_exchange_is_brought_back_by_reconcile(
    store: Store, ticker: str, service: OrderService
) -> None:
    outcome = service.place(
        service.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(2), D("0.30")))
    )
    # the kill switch marks the rows it believes cancelled; this one was not
    store.orders.update_order(order_id=outcome.order_id, status="canceled")
    report = service.reconcile()
    assert report.orders_updated == [outcome.order_id]
    intent = store.orders.get_intent(outcome.client_order_id)
    assert intent is not None and intent.status == "resting"
    assert not service.reconcile().changed


class BreaksTheStateFile(OrdersApi):
    """A client's orders area that is given the state file it breaks while placing."""

    store: Store


def _place_through(
    breaking: type[BreaksTheStateFile], prime: SimHarness, store: Store, request: OrderRequest
) -> None:
    """Place `request` through a client of the prime account whose orders area is `breaking`,
    recording in `store`."""
    with connect_as(breaking, prime.account) as losing:
        losing.area.store = store
        service = OrderService(losing, store)
        service.place(service.prepare(request))


class StateFileLostAfterSending(BreaksTheStateFile):
    """A client that closes the state file while the order is on its way: the answer cannot
    be recorded."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        result = super().create_order(request)
        self.store.close()
        return result


def test_a_placed_order_the_state_file_cannot_record_is_reported_as_placed(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    db = tmp_path / "state.db"
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.15"), client_order_id="c-1")
    with pytest.raises(StoreError) as failed:
        _place_through(StateFileLostAfterSending, prime, Store.open(db), request)
    (order,) = client.orders.iter_orders(ticker=ticker)
    assert failed.value.message.startswith(
        f"order c-1 WAS PLACED (order id {order.order_id}, resting), but the state file could "
        "not record it: "
    )
    assert failed.value.hint == (
        "do not place it again; `kalshi reconcile` records it once the state file can be written"
    )
    # the intent was written before sending, so reconcile records the order
    with Store.open(db) as reopened:
        OrderService(client, reopened).reconcile()
        intent = reopened.orders.get_intent("c-1")
        assert intent is not None
        assert (intent.status, intent.order_id) == ("resting", order.order_id)


class CancelAnswerLost(OrdersApi):
    """A client whose cancel is answered, lost, and retried: the retry finds the order no
    longer resting."""

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        super().cancel_order(order_id, ticker=ticker, subaccount=subaccount)
        return super().cancel_order(order_id, ticker=ticker, subaccount=subaccount)


def test_a_cancel_whose_retry_finds_it_already_cancelled_succeeds_and_is_recorded(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.25")))
    )
    assert placed.order_id is not None
    lossy_client = connect_as(CancelAnswerLost, prime.account)
    with lossy_client:
        lossy = OrderService(lossy_client, store)
        lossy.cancels.cancel(placed.order_id)
        intent = store.orders.get_intent(placed.client_order_id)
        assert intent is not None and intent.status == "canceled"
        # an order that filled cannot be cancelled, and says so
        with connect(prime.new_account(balance_cents=100_000)) as other:
            filled = service.place(
                service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.30")))
            )
            assert filled.order_id is not None
            other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.30"), D(1)))
        with pytest.raises((BadRequestError, NotFoundError)):
            lossy.cancels.cancel(filled.order_id)
    intent = store.orders.get_intent(filled.client_order_id)
    assert intent is not None and intent.status == "executed"


class StateFileLostWithTheAnswer(BreaksTheStateFile):
    """A client whose order reaches the exchange while its answer is lost and the state file
    stops taking writes: the intent cannot even be marked unknown."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        super().create_order(request)
        self.store.close()
        raise OrderOutcomeUnknown(
            "no answer from the exchange", client_order_id=request.client_order_id or ""
        )


def test_an_order_of_unknown_outcome_the_state_file_cannot_mark_is_reported_as_maybe_placed(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    db = tmp_path / "state.db"
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.15"), client_order_id="c-2")
    with pytest.raises(OrderNotRecorded) as failed:
        _place_through(StateFileLostWithTheAnswer, prime, Store.open(db), request)
    assert failed.value.message.startswith(
        "order c-2 MAY HAVE BEEN PLACED (no answer from the exchange), and the state file could "
        "not record it: "
    )
    assert failed.value.hint == (
        "do not place it again; `kalshi reconcile` finds it once the state file can be written"
    )
    # the trade loop withdraws it by its client order id: no order id came back
    assert (failed.value.client_order_id, failed.value.order_id) == ("c-2", None)
    (order,) = client.orders.iter_orders(ticker=ticker)
    with Store.open(db) as reopened:
        OrderService(client, reopened).reconcile()
        intent = reopened.orders.get_intent("c-2")
        assert intent is not None
        assert (intent.status, intent.order_id) == ("resting", order.order_id)


def _stop_writes(store: Store) -> None:
    """The state file takes no more writes, as one whose disk filled or turned read-only."""
    store._conn.execute("PRAGMA query_only = 1")


class AnswerLostThenStateFileStops(BreaksTheStateFile):
    """The order lands and its answer is lost; while it is looked up, the state file stops
    taking writes: the intent is marked unknown, the order found cannot be recorded."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        super().create_order(request)
        raise OrderOutcomeUnknown(
            "no answer from the exchange", client_order_id=request.client_order_id or ""
        )

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        found = super().find_order_by_client_id(client_order_id, ticker)
        _stop_writes(self.store)
        return found


def test_an_order_found_after_a_lost_answer_that_cannot_be_recorded_names_its_order(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    with Store.open(tmp_path / "state.db") as store:
        request = OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.15"), client_order_id="c-3")
        with pytest.raises(OrderNotRecorded) as failed:
            _place_through(AnswerLostThenStateFileStops, prime, store, request)
        (order,) = client.orders.iter_orders(ticker=ticker)
        # the trade loop withdraws what the error names: the order id and what rests
        assert (failed.value.order_id, failed.value.remaining) == (order.order_id, D(2))
        assert failed.value.message.startswith(
            f"order c-3 WAS PLACED (order id {order.order_id}, resting, found after its answer "
            "was lost), but the state file could not record it: "
        )
        assert failed.value.hint == (
            "do not place it again; `kalshi reconcile` records it once the state file can be "
            "written"
        )


class AmendAnswerLostThenStateFileStops(BreaksTheStateFile):
    """The amend lands and its answer is lost; the state file stops taking writes before the
    read that finds it made is booked."""

    def amend_order(self, order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        super().amend_order(order_id, terms, **where)
        _stop_writes(self.store)
        raise AmendOutcomeUnknown("no answer from the exchange", order_id=order_id)


def test_an_amend_found_made_after_a_lost_answer_that_cannot_be_recorded_says_it_was_made(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    """The amend's rule when its answer was lost and a read found it made: the state file's
    own error ("open read-only") said nothing of the amend, which a person would send again."""
    with Store.open(tmp_path / "state.db") as store:
        service = OrderService(client, store)
        placed = service.place(
            service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.15")))
        )
        assert placed.order_id is not None
        with connect_as(AmendAnswerLostThenStateFileStops, prime.account) as losing:
            losing.area.store = store
            with pytest.raises(OrderNotRecorded) as failed:
                OrderService(losing, store).amends.amend(
                    placed.order_id, price=D("0.17"), count=D(3)
                )
        assert failed.value.message.startswith(
            f"amend of order {placed.order_id} WAS MADE (resting, 3.00 at YES 0.1700), but the "
            "state file could not record it: "
        ), failed.value.message
        assert failed.value.hint == (
            "do not amend it again; `kalshi reconcile` records it once the state file can be "
            "written"
        )
        assert (failed.value.order_id, failed.value.remaining) == (placed.order_id, D(3))


class AmendLostOrderCancelledThenStateFileStops(BreaksTheStateFile):
    """The amend's answer is lost and it never lands; meanwhile the order is cancelled (another
    session, the exchange), and the state file stops taking writes before the read is booked."""

    def amend_order(self, order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        self.cancel_order(order_id)
        _stop_writes(self.store)
        raise AmendOutcomeUnknown("no answer from the exchange", order_id=order_id)


def test_an_amend_of_unknown_outcome_whose_read_cannot_be_recorded_stays_unknown(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    """Not found made, the amend's outcome stays unknown, and the person is told what the
    exchange shows and that the state file could not record it. The state file's own error
    ("attempt to write a readonly database", exit 1) said nothing of the amend."""
    with Store.open(tmp_path / "state.db") as store:
        service = OrderService(client, store)
        placed = service.place(
            service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.15")))
        )
        assert placed.order_id is not None
        with connect_as(AmendLostOrderCancelledThenStateFileStops, prime.account) as losing:
            losing.area.store = store
            with pytest.raises(AmendOutcomeUnknown) as failed:
                OrderService(losing, store).amends.amend(
                    placed.order_id, price=D("0.17"), count=D(3)
                )
        assert failed.value.message.startswith(
            "no answer from the exchange; the exchange now shows canceled at 0.1500 for 0.00, "
            "and the state file could not record that: "
        ), failed.value.message
        assert failed.value.order_id == placed.order_id
        assert placed.order_id in (failed.value.hint or "")


class ReconcileInFlightThenStateFileStops(BesideAReconcile):
    """A reconcile in another process marks the intent never placed while the request is in
    flight (the exchange does not have the order yet), and the state file stops taking writes
    before the exchange's acceptance is recorded. The write fails as its transaction opens, so
    this reaches the acceptance's own failure, not the correction after a reconcile (that one
    needs the file to fail between two transactions, which no fault here can time)."""

    store: Store

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        self.other.reconcile(grace_s=0.0)
        result = super().create_order(request)
        _stop_writes(self.store)
        return result


def test_an_accepted_order_the_state_file_cannot_record_names_its_order_and_what_rests(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    # the reconcile runs an hour later by its clock: the intent is past every grace
    later = ManualClock(time.time() + 3600)
    with beside_a_reconcile(
        ReconcileInFlightThenStateFileStops, prime, client, tmp_path / "state.db", clock=later
    ) as (store, in_flight):
        in_flight.area.store = store
        service = OrderService(in_flight, store)
        request = OrderRequest(ticker, Side.YES, Action.BUY, D(3), D("0.20"), client_order_id="c-4")
        with pytest.raises(OrderNotRecorded) as failed:
            service.place(service.prepare(request))
        (order,) = client.orders.iter_orders(ticker=ticker)
        assert (failed.value.order_id, failed.value.remaining) == (order.order_id, D(3))


def test_a_cancel_booked_by_a_read_keeps_the_orders_total_as_a_cancel_sent_here_does(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """Two bids of 10, each with 4 filled, cancelled: one by `kalshi order cancel` (its answer
    booked), the other elsewhere (the website, another state file) and found by reconcile's
    read. Both rows say the same: a 10-contract order cancelled, none resting; and once the
    fills are read, 4 of it filled. What filled is not the total of an order cancelled."""

    def row(client_order_id: str) -> tuple[str, D, D, D | None]:
        intent = store.orders.get_intent(client_order_id)
        assert intent is not None
        return (intent.status, intent.count, intent.filled, intent.remaining)

    booked = {}
    placed_ids = {}
    for how in ("sent here", "found by a read"):
        placed = service.place(
            service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(10), D("0.20")))
        )
        assert placed.order_id is not None
        with connect(prime.new_account(balance_cents=100_000)) as other:
            other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.20"), D(4)))
        if how == "sent here":
            assert service.cancels.cancel(placed.order_id) == D(6)
        else:
            client.orders.cancel_order(placed.order_id, ticker=ticker)
            assert placed.order_id in service.reconcile().orders_updated
        placed_ids[how] = placed.client_order_id
        status, count, _, remaining = row(placed.client_order_id)
        booked[how] = (status, count, remaining)
    assert booked["found by a read"] == booked["sent here"] == ("canceled", D(10), D(0)), booked
    service.reconcile()  # the fills, which the cancel's answer does not tell
    rows = {how: row(client_order_id) for how, client_order_id in placed_ids.items()}
    assert rows["found by a read"] == rows["sent here"] == ("canceled", D(10), D(4), D(0)), rows


@pytest.mark.parametrize("how", ["sent here", "found by a read", "its answer lost"])
def test_a_cancelled_order_grown_by_an_amend_not_seen_here_is_at_least_what_filled(
    prime: SimHarness, ticker: str, service: OrderService, how: str
) -> None:
    """A bid of 5 grown to 10 by an amend sent elsewhere (the website, another state file),
    8 of it filled, then cancelled: by `kalshi order cancel` (its answer booked, the fills read
    after), elsewhere and found by reconcile's read, or elsewhere after the answer to placing
    it was lost here (found by reconcile's lookup). The row holds the total of 5 it knew, but
    an order cannot fill more than its total: the row's total is at least the 8 that filled,
    never a cancelled order of 5 with 8 filled. (Its true total, 10, is on no read: a
    cancelled order rests nothing, and its `initial_count` is the 5 it was placed with.)"""
    client, store = service.client, service.store
    create = CreateOrder(ticker, BookSide.BID, D("0.20"), D(5))
    order_id: str | None
    if how == "its answer lost":
        service.record_intent(create, side=Side.YES, action=Action.BUY)
        service.record_unknown(create, "timed out")
        order_id = client.orders.create_order(create).order_id
    else:
        order_id = service.submit(create, side=Side.YES, action=Action.BUY).order_id
    assert order_id is not None
    client.orders.amend_order(
        order_id, AmendOrder(ticker=ticker, book_side=BookSide.BID, price=D("0.20"), count=D(10))
    )
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.20"), D(8)))
    if how == "sent here":
        assert service.cancels.cancel(order_id) == D(2)
    else:
        client.orders.cancel_order(order_id, ticker=ticker)
    service.reconcile()

    intent = store.orders.get_intent(create.client_order_id)
    assert intent is not None
    assert (intent.status, intent.filled, intent.remaining) == ("canceled", D(8), D(0))
    assert intent.count == D(8)


def test_an_order_found_executed_by_a_read_has_what_filled_as_its_total(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """A bid of 10, decreased elsewhere (the website) to 6, and the 6 filled: reconcile's read
    finds it executed. An executed order filled its whole total, so its row says 6, as the
    exchange does, not the 10 it was placed for with 4 of them neither filled nor resting."""
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(10), D("0.20")))
    )
    assert placed.order_id is not None
    client.orders.decrease_order(placed.order_id, reduce_to=D(6))
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.20"), D(6)))

    assert placed.order_id in service.reconcile().orders_updated

    intent = store.orders.get_intent(placed.client_order_id)
    assert intent is not None
    assert (intent.status, intent.count, intent.filled, intent.remaining) == (
        "executed",
        D(6),
        D(6),
        D(0),
    )


def test_an_executed_row_whose_total_alone_differs_from_a_read_takes_the_total_read(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """A bid of 10 lowered to 6 by an amend whose answer was lost, then its 6 filled. The
    trade loop books the `user_orders` messages as they come: 6 resting, then executed with 6
    filled (a message carries no total, so the row still says 10). The read that settles the
    amend differs from the row in the total alone; an executed order filled its whole total,
    so the row takes the 6 read, not 10 with 4 neither filled nor resting."""
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(10), D("0.20")))
    )
    assert placed.order_id is not None
    amend = service.amends.record(
        placed.order_id,
        ticker=ticker,
        book_side=BookSide.BID,
        yes_price=D("0.20"),
        rest=D(6),
        post_only=None,
    )
    assert amend is not None
    assert service.amends.send(amend).result is not None  # applied; its answer never booked
    # the loop's booking of each message (`Fills.order_message`): status and counts, no total
    store.orders.update_order(
        order_id=placed.order_id, status="resting", fill_count=D(0), remaining_count=D(6)
    )
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.20"), D(6)))
    store.orders.update_order(
        order_id=placed.order_id, status="executed", fill_count=D(6), remaining_count=D(0)
    )

    # the trade loop's lookup of the amend whose answer was lost (runner/execution/amends.py)
    service.record_found(client.orders.get_order(placed.order_id))

    intent = store.orders.get_intent(placed.client_order_id)
    assert intent is not None
    assert (intent.status, intent.count, intent.filled, intent.remaining) == (
        "executed",
        D(6),
        D(6),
        D(0),
    )
