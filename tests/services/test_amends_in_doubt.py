"""An amend is in doubt (`OrderRepository.amends_in_doubt`, what reconcile's step 5 reads at
every start) from when it is written, before it leaves, until something settles it: its answer
booked, whatever that answer changed of the order's row (a size lowered alone, or nothing the
row did not already show); its refusal; its drop before it was sent; a read of the order that
shows its terms. An order has at most one amend out: a second is not recorded until the first
is settled. On the simulator."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import LANDING_WINDOW_S
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import AMEND_READ, amend_not_made
from kalshi_cli.store import Store
from kalshi_cli.store.errors import StoreError
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import AmendOutcomeUnknown, BadRequestError
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.services.amend_steps import bid_of_ten, recorded_amend


def _doubted(store: Store) -> list[str | None]:
    """The order ids of the amends in doubt."""
    return [intent.order_id for intent, *_ in store.orders.amends_in_doubt()]


def _doubts(store: Store) -> list[tuple[str | None, D, D]]:
    """The amends in doubt: each one's order id, YES price and total."""
    return [(i.order_id, a.price, a.total) for i, a in store.orders.amends_in_doubt()]


def _notes(store: Store, order_id: str) -> list[str]:
    row = store.orders.intent_by_order_id(order_id)
    assert row is not None
    return [h.note or "" for h in store.orders.order_history(row.client_order_id)]


def test_an_amend_is_in_doubt_with_its_terms_from_when_it_is_written(
    store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)
    assert _doubted(store) == []
    recorded_amend(service, order_id, ticker, "0.21", 12)
    assert _doubts(store) == [(order_id, D("0.21"), D(12))]


def test_an_amend_lowering_only_the_size_is_settled_once_its_answer_is_booked(
    store: Store, ticker: str, service: OrderService
) -> None:
    """Its answer, booked, lowers the row's total and what rests and leaves the price: a
    history row named for a decrease, not an amend. The amend is settled all the same."""
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.20", 7)
    sent = service.amends.send(amend)
    assert sent.result is not None

    service.amends.book(amend, sent.result)

    row = store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.price, row.count) == (D("0.20"), D(7))
    assert _doubted(store) == []


def test_an_amend_whose_booking_fails_half_way_stays_in_doubt_and_its_order_as_it_was(
    store: Store, ticker: str, service: OrderService
) -> None:
    """The state file refuses a write of the booking after the record's settling (the
    history row the new price writes; a trigger stands in for the failing file): the booking
    is undone whole, so the amend is still in doubt for the next start to settle by a read,
    and the row keeps the terms the exchange last showed."""
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.21", 10)
    sent = service.amends.send(amend)
    assert sent.result is not None
    conn = store._conn
    conn.execute(
        "CREATE TEMP TRIGGER refused AFTER INSERT ON order_history "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    with pytest.raises(StoreError, match="disk I/O error"):
        service.amends.book(amend, sent.result)
    conn.execute("DROP TRIGGER refused")

    row = store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.price, row.count) == (D("0.20"), D(10))
    assert _doubts(store) == [(order_id, D("0.21"), D(10))]


def test_an_amends_booking_is_one_transaction_with_no_savepoint_per_write(
    store: Store, ticker: str, service: OrderService
) -> None:
    """The record's settling and the row's update are plain statements of the booking's one
    transaction: a savepoint and its release for each was two statements more for every write
    of every amend a joining replay books. So on a row still resting and on one cancelled while
    the answer was out alike, and the amend is settled and the row updated all the same."""
    for cancelled in (False, True):
        order_id = bid_of_ten(service, ticker)
        amend = recorded_amend(service, order_id, ticker, "0.21", 10)
        sent = service.amends.send(amend)
        assert sent.result is not None
        if cancelled:
            store.orders.update_order(order_id=order_id, status="canceled")
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        try:
            service.amends.book(amend, sent.result)
        finally:
            store._conn.set_trace_callback(None)
        verbs = [s.split()[0] for s in statements]
        assert verbs.count("BEGIN") == verbs.count("COMMIT") == 1, statements
        assert not {"SAVEPOINT", "RELEASE"} & set(verbs), statements
        row = store.orders.intent_by_order_id(order_id)
        assert row is not None and row.price == D("0.21"), cancelled
        assert order_id not in _doubted(store)


def test_an_amend_whose_answer_changes_nothing_the_row_shows_is_settled_once_booked(
    store: Store, ticker: str, service: OrderService
) -> None:
    """A read copied the amend's terms into the row before its answer was booked (a fill
    read, a listing): booking the answer changes nothing and writes no history row. The
    amend is settled all the same."""
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.20", 7)
    sent = service.amends.send(amend)
    assert sent.result is not None
    store.orders.update_order(order_id=order_id, count=D(7), remaining_count=D(7))
    rows = len(_notes(store, order_id))

    service.amends.book(amend, sent.result)

    assert len(_notes(store, order_id)) == rows
    assert _doubted(store) == []


def test_an_amend_answered_and_booked_is_never_called_not_made_after_a_decrease(
    client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """A size-only amend answered and booked, then the order decreased by hand: a reconcile
    (as a start runs) neither waits on the amend nor, once it could no longer land, writes
    that it was not made."""
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.20", 7)
    sent = service.amends.send(amend)
    assert sent.result is not None
    service.amends.book(amend, sent.result)
    service.cancels.decrease(order_id, by=D(2))

    assert service.reconcile().still_unknown == []
    later = OrderService(client, store, clock=ManualClock(time.time() + 3_600))
    assert later.reconcile().still_unknown == []
    assert not [n for n in _notes(store, order_id) if n.startswith("amend not made")]


def test_a_second_amend_of_an_order_is_not_recorded_while_one_is_out(
    store: Store, ticker: str, service: OrderService
) -> None:
    """A requote's amend and one by hand (`kalshi order amend` while the loop runs) are never
    out together: the exchange applies amends as they reach it, so the one sent second could be
    overtaken. The second is not recorded (nothing to send) until the first's answer settles it."""
    order_id = bid_of_ten(service, ticker)
    first = recorded_amend(service, order_id, ticker, "0.21", 10)
    assert (
        service.amends.record(
            order_id,
            ticker=ticker,
            book_side=BookSide.BID,
            yes_price=D("0.22"),
            rest=D(10),
            post_only=None,
        )
        is None
    )
    sent = service.amends.send(first)
    assert sent.result is not None

    service.amends.book(first, sent.result)

    assert _doubted(store) == []
    recorded_amend(service, order_id, ticker, "0.22", 10)
    assert _doubts(store) == [(order_id, D("0.22"), D(10))]


def test_an_amend_refused_or_dropped_unsent_is_settled(
    store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)
    refused = recorded_amend(service, order_id, ticker, "0.21", 10)
    service.amends.book_refused(refused, BadRequestError("HTTP 400 post only cross", status=400))
    assert _doubted(store) == []

    unsent = recorded_amend(service, order_id, ticker, "0.22", 10)
    assert _doubts(store) == [(order_id, D("0.22"), D(10))]
    service.amends.book_unsent(unsent, "the loop was stopping")
    assert _doubted(store) == []
    assert _notes(store, order_id)[-4:] == [
        "amend sent: YES price 0.21, total 10",
        "amend refused: HTTP 400 post only cross",
        "amend sent: YES price 0.22, total 10",
        "amend not sent: the loop was stopping",
    ]


def test_an_amend_by_hand_lowering_only_the_size_is_settled_by_its_answer(
    store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)

    service.amends.amend(order_id, count=D(7))

    row = store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.count, row.remaining) == (D(7), D(7))
    assert _doubted(store) == []


def test_an_amend_by_hand_answered_503_stays_in_doubt_until_a_read_shows_it(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    """Refused with a 503 before it acted: the read after shows the old size, so the amend
    stays in doubt with its terms (a read may lag the write). Done and answered 503: the read
    shows the new size, and the amend is settled, its order's history saying how."""
    order_id = bid_of_ten(service, ticker)
    prime.set_faults(write_503_rate=1.0)
    with pytest.raises(AmendOutcomeUnknown):
        service.amends.amend(order_id, count=D(7))
    prime.clear_faults()
    assert _doubts(store) == [(order_id, D("0.20"), D(7))]

    # another order's amend: this one's would wait for the first to be settled
    other = bid_of_ten(service, ticker)
    prime.set_faults(write_503_after_commit_rate=1.0)
    service.amends.amend(other, count=D(6))
    prime.clear_faults()

    assert _doubts(store) == [(order_id, D("0.20"), D(7))], "the first is still unanswered"
    assert _notes(store, other)[-1] == AMEND_READ, "the history says the read settled it"


def test_an_amend_a_start_finds_done_is_settled_by_its_read_and_its_history_says_so(
    store: Store, ticker: str, service: OrderService
) -> None:
    """Sent and done, its answer never booked (the process killed while it was out): the
    reconcile a start runs reads the order, sees the amend's terms, and settles it, the
    order's history saying how."""
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.21", 10)
    assert service.amends.send(amend).result is not None

    assert service.reconcile().still_unknown == []

    assert _doubted(store) == []
    assert _notes(store, order_id)[-1] == AMEND_READ


@pytest.mark.parametrize(("grace_s", "read_lag_s"), [(0.0, 5.0), (60.0, 0.0)])
def test_an_amend_never_shown_is_called_not_made_only_once_it_can_no_longer_land(
    client: KalshiClient, store: Store, ticker: str, grace_s: float, read_lag_s: float
) -> None:
    """Recorded, and never done (its process died before it left): until the signature
    window or the grace given, whichever is longer, and then the read lag, have passed since
    it was written, it may still land, so its order's terms are unknown; after, it is called
    not made."""
    service = OrderService(client, store, read_lag_s=read_lag_s)
    order_id = bid_of_ten(service, ticker)
    recorded_amend(service, order_id, ticker, "0.21", 10)
    ((_, amend),) = store.orders.amends_in_doubt()
    wait = max(grace_s, LANDING_WINDOW_S) + read_lag_s

    def reconcile_at(at: float) -> list[str]:
        later = OrderService(client, store, clock=ManualClock(at), read_lag_s=read_lag_s)
        return later.reconcile(grace_s=grace_s).still_unknown

    assert reconcile_at(amend.at + wait - 1) == [amend.client_order_id]
    assert _doubted(store) == [order_id]
    assert reconcile_at(amend.at + wait) == []
    assert _doubted(store) == []
    assert _notes(store, order_id)[-1] == amend_not_made(wait)
