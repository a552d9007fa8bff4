"""A replay nobody keeps (`Store.in_memory(kept=False)`, a backtest's) holds an amend's record in
flight in the process rather than as a row of `amends_in_flight` that the same action's answer
deletes, and records one with no transaction (nothing is written, and no other connection can
write a trading state between its read and the record): no crash can leave an amend in doubt in
a database that dies with its process. What
the records mean stays the same as in a state file: in doubt from the commit that wrote it until
the commit of what settles it, one at a time for an order, and a booking rolled back leaves it
in doubt."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.store import AmendRecord, IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.store.test_amend_written_before_sent import ORDER, rest_one_order

D = Decimal
NOW = 1_700_000_000.0


@pytest.fixture(params=["state file", "replay nobody keeps"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """One resting order (`rest_one_order`)."""
    clock = ManualClock(NOW)
    if request.param == "state file":
        s = rest_one_order(Store.open(tmp_path / "state.db", clock=clock))
    else:
        s = rest_one_order(Store.in_memory(clock=clock, kept=False))
    yield s
    s.close()


def _amend(store: Store, price: str, rest: int) -> AmendRecord | None:
    with store.transaction():
        return store.orders.write_amend(ORDER, price=D(price), rest=D(rest), post_only=None)


def _in_doubt(store: Store) -> list[tuple[str, AmendRecord]]:
    return [(i.client_order_id, a) for i, a in store.orders.amends_in_doubt()]


def test_an_amend_is_in_doubt_alone_until_what_settles_it(store: Store) -> None:
    amend = _amend(store, "0.41", 5)
    assert amend is not None and (amend.price, amend.total, amend.at) == (D("0.41"), D(8), NOW)
    assert _in_doubt(store) == [("c1", amend)]
    assert store.orders.amends_of(["c1", "c2"]) == {"c1": [amend]}
    assert _amend(store, "0.42", 5) is None, "a second amend of the order raced the first"
    assert store.orders.settle_amend(amend.id) is True
    assert _in_doubt(store) == [] and store.orders.amends_of(["c1"]) == {}
    assert store.orders.settle_amend(amend.id) is False, "settled twice"
    assert _amend(store, "0.42", 5) is not None, "the order takes an amend again once settled"


def test_an_amend_written_in_a_transaction_rolled_back_was_never_in_flight(store: Store) -> None:
    with pytest.raises(KeyError), store.transaction():
        assert store.orders.write_amend(ORDER, price=D("0.41"), rest=D(5), post_only=None)
        raise KeyError("the caller's next step failed")
    assert _in_doubt(store) == []
    assert _amend(store, "0.42", 5) is not None


def test_a_booking_rolled_back_leaves_its_amend_in_doubt(store: Store) -> None:
    amend = _amend(store, "0.41", 5)
    assert amend is not None
    with pytest.raises(KeyError), store.transaction():
        assert store.orders.settle_amend(amend.id, savepoint=False) is True
        raise KeyError("the booking's update failed")
    assert _in_doubt(store) == [("c1", amend)]
    # settled by a read (a note, its own transaction): gone
    assert store.orders.settle_amend(amend.id, "read: resting") is True
    assert _in_doubt(store) == []


def test_a_booking_committed_settles_its_amend_and_the_order_takes_another(store: Store) -> None:
    amend = _amend(store, "0.41", 5)
    assert amend is not None
    with store.transaction():  # the answer booked as `OrderAmends.book` books it
        assert store.orders.settle_amend(amend.id, savepoint=False) is True
    assert _in_doubt(store) == []
    assert _amend(store, "0.42", 5) is not None, "the order takes an amend again once settled"


def test_a_row_written_after_the_amend_was_recorded_is_read_again_for_its_answer(
    store: Store,
) -> None:
    amend = _amend(store, "0.41", 5)
    assert amend is not None
    row = store.orders.row(ORDER, amend=amend.id)
    assert row is not None and (row.status, row.filled, row.price) == ("resting", "3", "0.4")
    store.orders.update_order(order_id=ORDER, fill_count=D(4), remaining_count=D(6))
    row = store.orders.row(ORDER, amend=amend.id)
    assert row is not None and (row.filled, row.remaining) == ("4", "6")


def test_an_amend_the_trading_state_refuses_is_not_in_flight(store: Store) -> None:
    def halted(state: object) -> None:
        raise KeyError("halted")

    with pytest.raises(KeyError):
        store.record_amend_if_allowed(
            ORDER, price=D("0.41"), rest=D(5), post_only=None, allowed=halted
        )
    assert _in_doubt(store) == []
    amend = store.record_amend_if_allowed(
        ORDER, price=D("0.41"), rest=D(5), post_only=None, allowed=lambda state: None
    )
    assert amend is not None and _in_doubt(store) == [("c1", amend)]


def test_an_amend_of_an_order_that_no_longer_rests_is_not_in_doubt(store: Store) -> None:
    amend = _amend(store, "0.41", 5)
    assert amend is not None
    store.orders.mark_cancelled(ORDER)
    assert _in_doubt(store) == []
    assert store.orders.amends_of(["c1"]) == {"c1": [amend]}, "what may have changed its terms"


def test_a_replay_nobody_keeps_records_an_amend_by_one_read_and_books_it_by_one_write() -> None:
    store = Store.in_memory(clock=ManualClock(NOW), kept=False)
    try:
        store.orders.record_intent(
            IntentRecord("c1", "KXTEST-1", BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY)
        )
        store.orders.mark_sent(
            "c1", order_id=ORDER, status="resting", fill_count=D(3), remaining_count=D(7)
        )
        store.trading.trading_state()  # read once, as a running loop has (then kept)
        said: list[str] = []
        store._conn.set_trace_callback(said.append)
        amend = store.record_amend_if_allowed(
            ORDER, price=D("0.41"), rest=D(5), post_only=None, allowed=lambda state: None
        )
        assert amend is not None and (amend.price, amend.total) == (D("0.41"), D(8))
        # recorded by its one read of the order (resting, no amend in flight): no transaction
        assert [
            re.match(r"\s*SELECT client_order_id, .* FROM orders o WHERE order_id", s) is not None
            for s in said
        ] == [True], said
        del said[:]
        with store.transaction():  # the answer booked as `OrderAmends.book` books it
            store.orders.settle_amend(amend.id, savepoint=False)
            row = store.orders.row(ORDER, amend=amend.id)
            store.orders.update_order(order_id=ORDER, price=D("0.41"), savepoint=False, row=row)
        store._conn.set_trace_callback(None)
        # the order's row not read again, nothing written since the record read it; the one
        # row written is the order's new price: no record inserted, none deleted
        assert [s.split(" ")[0] for s in said] == ["BEGIN", "UPDATE", "COMMIT"], said
        assert re.match(r"\s*UPDATE orders SET price = ", said[1]), said
    finally:
        store.close()
