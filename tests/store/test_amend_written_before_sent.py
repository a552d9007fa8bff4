"""An amend of a resting order is written in the order's history before it is sent, naming the
new total (what the row says filled plus what is to rest), inside the caller's transaction; a
price outside (0, 1) or nothing left to rest is refused before anything is written, and one
contract left to rest is an amend like any other."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.store import AmendRecord, IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side

D = Decimal
ORDER = "order-1"


def rest_one_order(s: Store) -> Store:
    """`s` with one resting order: 10 to buy YES at 0.40, 3 of them filled."""
    s.orders.record_intent(
        IntentRecord("c1", "KXTEST-1", BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY)
    )
    s.orders.mark_sent(
        "c1", order_id=ORDER, status="resting", fill_count=D(3), remaining_count=D(7)
    )
    return s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A state file with one resting order (`rest_one_order`)."""
    s = rest_one_order(Store.open(tmp_path / "state.db", clock=ManualClock(1_700_000_000.0)))
    yield s
    s.close()


def _amend(store: Store, price: Decimal, rest: Decimal) -> AmendRecord | None:
    with store.transaction():
        return store.orders.write_amend(ORDER, price=price, rest=rest, post_only=None)


def test_an_amend_leaving_one_contract_to_rest_is_written_with_its_new_total(
    store: Store,
) -> None:
    amend = _amend(store, D("0.41"), D(1))
    assert amend is not None and (amend.price, amend.total) == (D("0.41"), D(4))
    assert store.orders.order_history("c1")[-1].note == "amend sent: YES price 0.41, total 4"
    ((intent, doubted),) = store.orders.amends_in_doubt()
    assert (intent.client_order_id, doubted) == ("c1", amend)


@pytest.mark.parametrize(
    ("price", "rest", "refusal"),
    [
        (D(0), D(5), "YES price 0 is outside"),
        (D(1), D(5), "YES price 1 is outside"),
        (D("0.41"), D(0), "count 0 to rest must be positive"),
    ],
)
def test_an_amend_to_no_price_or_nothing_to_rest_is_refused_before_it_is_written(
    store: Store, price: Decimal, rest: Decimal, refusal: str
) -> None:
    before = store.orders.order_history("c1")
    with pytest.raises(ValueError, match=refusal):
        _amend(store, price, rest)
    assert store.orders.order_history("c1") == before
    assert store.orders.amends_in_doubt() == []


def test_an_amend_outside_a_transaction_is_refused(store: Store) -> None:
    with pytest.raises(RuntimeError, match="write_amend runs inside a transaction"):
        store.orders.write_amend(ORDER, price=D("0.41"), rest=D(5), post_only=None)


def test_a_write_without_a_savepoint_of_its_own_outside_a_transaction_is_refused(
    store: Store,
) -> None:
    """Without a savepoint, a settling or an update is a plain statement of its caller's
    transaction: with none open it would commit alone, so it is refused, writing nothing."""
    amend = _amend(store, D("0.41"), D(5))
    assert amend is not None
    rows = store.orders.order_history("c1")
    with pytest.raises(RuntimeError, match="settle_amend without a savepoint runs inside"):
        store.orders.settle_amend(amend.id, savepoint=False)
    with pytest.raises(RuntimeError, match="update_order without a savepoint runs inside"):
        store.orders.update_order(order_id=ORDER, price=D("0.41"), savepoint=False)
    assert [a.id for _, a in store.orders.amends_in_doubt()] == [amend.id]
    assert store.orders.order_history("c1") == rows


def test_an_amend_settled_with_a_note_is_a_row_of_its_history_and_changes_nothing_else(
    store: Store,
) -> None:
    """What an amend that changed nothing leaves (refused, or never sent): its record in
    flight gone, and a history row with the order's status and counts as they are; a record
    id none has (settled already) writes nothing."""
    before = store.orders.get_intent("c1")
    with store.transaction():
        amend = store.orders.write_amend(ORDER, price=D("0.41"), rest=D(5), post_only=None)
    assert amend is not None and (amend.client_order_id, amend.total) == ("c1", D(8))
    note = "amend refused: HTTP 400 invalid_order: post only cross"
    assert store.orders.settle_amend(amend.id, note)
    last = store.orders.order_history("c1")[-1]
    assert (last.note, last.status, last.filled, last.remaining) == (note, "resting", D(3), D(7))
    assert store.orders.get_intent("c1") == before
    assert store.orders.amends_in_doubt() == []
    rows = len(store.orders.order_history("c1"))
    assert not store.orders.settle_amend(amend.id, "amend not sent: the loop stopped")
    assert len(store.orders.order_history("c1")) == rows


def test_an_amend_settled_by_its_booked_answer_leaves_no_row_of_its_own(store: Store) -> None:
    """An answer booked (`book_amend`: the order's row took its terms, with the history row that
    change writes) settles its record without a note; settled once, it is not again."""
    rows = len(store.orders.order_history("c1"))
    with store.transaction():
        amend = store.orders.write_amend(ORDER, price=D("0.41"), rest=D(5), post_only=None)
    assert amend is not None
    assert [a.id for _, a in store.orders.amends_in_doubt()] == [amend.id]
    assert store.orders.settle_amend(amend.id)
    assert store.orders.amends_in_doubt() == []
    assert len(store.orders.order_history("c1")) == rows + 1  # the "amend sent" row alone
    assert not store.orders.settle_amend(amend.id)


def test_an_orders_row_is_read_by_its_order_id_and_handed_back_to_its_update(
    store: Store,
) -> None:
    """A booking reads the row once and hands it to `update_order`, which takes it only for
    that order, inside a transaction (where nothing else wrote it since)."""
    row = store.orders.row(ORDER)
    assert row is not None and (row.status, row.filled_count) == ("resting", D(3))
    assert store.orders.row("order-nobody-has") is None
    with pytest.raises(ValueError, match="another row, or none read here"):
        store.orders.update_order(order_id=ORDER, price=D("0.45"), row=row)
    with store.transaction(), pytest.raises(ValueError, match="another row"):
        store.orders.update_order(order_id="order-2", price=D("0.45"), row=row)
    with store.transaction():
        assert store.orders.update_order(order_id=ORDER, price=D("0.45"), row=row)
    assert store.orders.order_history("c1")[-1].note == "amend"
    assert store.orders.get_intent("c1").price == D("0.45")  # type: ignore[union-attr]


def test_the_amends_in_flight_of_orders_are_read_by_order_whatever_their_status(
    store: Store,
) -> None:
    """What the assistant's budget counts an order at besides its row (agent/ledger.py): the
    amend not settled, kept after the order ended (it may have been made first)."""
    settled = _amend(store, D("0.50"), D(1))
    assert settled is not None
    store.orders.settle_amend(settled.id)
    out = _amend(store, D("0.45"), D(2))
    assert out is not None
    assert store.orders.amends_of(["c1", "not-an-order"]) == {"c1": [out]}
    store.orders.mark_cancelled(ORDER)
    assert store.orders.amends_of(["c1"]) == {"c1": [out]}
    assert store.orders.amends_of([]) == {}


def test_a_second_amend_is_not_written_while_one_of_the_order_is_in_flight(
    store: Store,
) -> None:
    """Checked inside the write transaction: two processes past their wait at once cannot both
    record an amend, so at most one is ever sent."""
    first = _amend(store, D("0.41"), D(5))
    assert first is not None
    assert _amend(store, D("0.45"), D(2)) is None
    assert [a for _, a in store.orders.amends_in_doubt()] == [first]
    store.orders.settle_amend(first.id)
    assert _amend(store, D("0.45"), D(2)) is not None
