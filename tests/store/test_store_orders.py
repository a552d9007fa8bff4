"""Order intents and orders: recording, answers, exchange updates, atomicity."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.store import (
    DuplicateIntentError,
    IntentRecord,
    InvalidTransition,
    OrderNotFound,
    Store,
    StoreError,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side

D = Decimal


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    s = Store.open(tmp_path / "state.db", clock=clock)
    yield s
    s.close()


def intent(coid: str = "c1", **kw: Any) -> IntentRecord:
    base: dict[str, Any] = {
        "client_order_id": coid,
        "ticker": "KXTEST-1",
        "book_side": BookSide.ASK,
        "price": D("0.6050"),  # buy NO at 0.3950 = ask YES at 0.6050
        "count": D("2.50"),
        "side": Side.NO,
        "action": Action.BUY,
        "strategy": "spike",
        "model_fair": D("0.61234"),
        "reason": "edge",
    }
    base.update(kw)
    return IntentRecord(**base)


def test_an_intent_round_trips_exactly(store: Store, tmp_path: Path) -> None:
    stored = store.orders.record_intent(intent())
    assert stored.created_at == 1_700_000_000.0
    got = store.orders.get_intent("c1")
    assert got == stored  # Decimal equality: "0.6050" == "0.605"
    assert got is not None
    assert got.price == D("0.605") and got.count == D("2.5")
    assert got.model_fair == D("0.61234")
    assert (got.side, got.action, got.book_side) == (Side.NO, Action.BUY, BookSide.ASK)
    assert got.status == "pending" and got.is_open
    # stored as canonical TEXT, never REAL
    row = store._conn.execute(
        "SELECT price, count, filled, model_fair, typeof(price) FROM orders"
    ).fetchone()
    assert row == ("0.605", "2.5", "0", "0.61234", "text")


def test_explicit_timestamps_are_kept(store: Store) -> None:
    stored = store.orders.record_intent(intent(created_at=5.0, updated_at=6.0))
    assert (stored.created_at, stored.updated_at) == (5.0, 6.0)


def test_a_duplicate_client_order_id_is_refused(store: Store) -> None:
    store.orders.record_intent(intent())
    with pytest.raises(DuplicateIntentError):
        store.orders.record_intent(intent())
    assert len(store.orders.intents()) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "resting"}, "pending"),
        ({"book_side": BookSide.BID}, "book side"),
        ({"price": D("1")}, "outside"),
        ({"count": D("0")}, "positive"),
    ],
)
def test_bad_intents_are_refused(store: Store, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store.orders.record_intent(intent(**changes))
    assert store.orders.intents() == []


def test_a_float_never_reaches_the_file(store: Store) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        store.orders.record_intent(intent(model_fair=0.61))
    assert store.orders.intents() == []


def test_answer_paths(store: Store, clock: ManualClock) -> None:
    store.orders.record_intent(intent("a"))
    store.orders.record_intent(intent("b"))
    store.orders.record_intent(intent("c"))
    clock.advance(1)
    store.orders.mark_sent(
        "a", order_id="o-a", status="resting", fill_count=D("0.5"), remaining_count=D(2)
    )
    store.orders.mark_rejected("b", reason="insufficient balance")
    store.orders.mark_unknown("c", reason="read timeout")
    a, b, c = (store.orders.get_intent(x) for x in "abc")
    assert a is not None and b is not None and c is not None
    assert (a.status, a.order_id, a.filled, a.remaining) == ("resting", "o-a", D("0.5"), D(2))
    assert a.updated_at == 1_700_000_001.0
    assert (b.status, b.error) == ("rejected", "insufficient balance")
    assert (c.status, c.error) == ("unknown", "read timeout")
    assert [i.client_order_id for i in store.orders.intents(status="unknown")] == ["c"]
    assert {i.client_order_id for i in store.orders.open_orders()} == {"a", "c"}
    # reconciliation: the unknown order turns out to exist
    store.orders.mark_sent(
        "c", order_id="o-c", status="executed", fill_count=D(2), remaining_count=D(0)
    )
    c = store.orders.get_intent("c")
    assert c is not None and (c.status, c.error) == ("executed", None)
    assert [h.note for h in store.orders.order_history("c")] == ["recorded", "read timeout", "sent"]


def _answered(store: Store, status: str) -> None:
    """Order c1 recorded, then answered: resting, or rejected."""
    store.orders.record_intent(intent())
    if status == "resting":
        store.orders.mark_sent(
            "c1", order_id="o", status="resting", fill_count=D(0), remaining_count=D(1)
        )
    else:
        store.orders.mark_rejected("c1", reason="no")


@pytest.mark.parametrize("status", ["resting", "rejected"])
def test_marking_an_order_whose_outcome_is_known_is_refused(store: Store, status: str) -> None:
    _answered(store, status)
    with pytest.raises(InvalidTransition):
        store.orders.mark_sent(
            "c1", order_id="o", status="executed", fill_count=D(1), remaining_count=D(0)
        )
    got = store.orders.get_intent("c1")
    assert got is not None and got.status == status


def test_marks_need_a_known_intent_and_a_sent_status(store: Store) -> None:
    with pytest.raises(OrderNotFound):
        store.orders.mark_rejected("nope", reason="x")
    store.orders.record_intent(intent())
    with pytest.raises(ValueError, match="mark_sent"):
        store.orders.mark_sent(
            "c1", order_id="o", status="unknown", fill_count=D(0), remaining_count=D(1)
        )


def test_update_order_copies_the_exchange(store: Store, clock: ManualClock) -> None:
    store.orders.record_intent(intent())
    store.orders.mark_sent(
        "c1", order_id="o1", status="resting", fill_count=D(0), remaining_count=D("2.5")
    )
    clock.advance(5)
    assert store.orders.update_order(order_id="o1", fill_count=D("1.25"), remaining_count=D("1.25"))
    assert not store.orders.update_order(order_id="o1", fill_count=D("1.2500"))  # nothing changed
    assert store.orders.update_order(order_id="o1", status="canceled", remaining_count=D(0))
    # the exchange is the truth, even after a status we thought final
    assert store.orders.update_order(
        client_order_id="c1", order_id="o1", status="executed", price=D("0.5999"), count=D(3)
    )
    got = store.orders.get_intent("c1")
    assert got is not None
    assert (got.status, got.filled, got.remaining) == ("executed", D("1.25"), D(0))
    assert (got.price, got.count, got.updated_at) == (D("0.5999"), D(3), 1_700_000_005.0)
    assert [h.status for h in store.orders.order_history("c1")] == [
        "pending",
        "resting",
        "resting",
        "canceled",
        "executed",
    ]


def test_an_order_found_by_its_client_order_id_takes_the_exchanges_id_and_subaccount(
    store: Store,
) -> None:
    """A row that knows no order id (booked refused, then listed by the exchange) or the
    wrong subaccount (written before the file kept them) takes what the exchange names, so a
    cancel or amend by the exchange's id finds it, on its subaccount."""
    store.orders.record_intent(intent())
    store.orders.mark_rejected("c1", reason="refused, the answer said")
    assert store.orders.update_order(
        client_order_id="c1", order_id="o9", status="resting", subaccount=2
    )
    found = store.orders.intent_by_order_id("o9")
    assert found is not None
    assert (found.client_order_id, found.status, found.subaccount) == ("c1", "resting", 2)


def test_update_order_on_an_order_it_does_not_know_is_a_no_op(store: Store) -> None:
    assert store.orders.update_order(order_id="placed-elsewhere", status="canceled") is False
    with pytest.raises(ValueError, match="needs"):
        store.orders.update_order(status="canceled")
    with pytest.raises(ValueError, match="pending"):
        store.orders.update_order(order_id="x", status="pending")


def test_an_update_to_a_yes_price_outside_zero_and_one_is_refused(store: Store) -> None:
    """No order rests at a YES price of 0 or 1: a row told so is a bug in the caller, refused
    before anything is written."""
    store.orders.record_intent(intent())
    store.orders.mark_sent(
        "c1", order_id="o1", status="resting", fill_count=D(0), remaining_count=D("2.50")
    )
    for price in (D(0), D(1)):
        with pytest.raises(ValueError, match=f"YES price {price} is outside"):
            store.orders.update_order(order_id="o1", price=price)
    assert store.orders.update_order(order_id="o1", price=D("0.99"))
    row = store.orders.get_intent("c1")
    assert row is not None and row.price == D("0.99")
    assert store.orders.order_history("c1")[-1].note == "amend"


def test_an_order_marked_cancelled_rests_nothing(store: Store) -> None:
    """How every cancel is booked (the loop's, `kalshi order cancel`'s, the kill switch's)."""
    store.orders.record_intent(intent())
    store.orders.mark_sent(
        "c1", order_id="o1", status="resting", fill_count=D(1), remaining_count=D("1.50")
    )
    assert store.orders.mark_cancelled("o1")
    row = store.orders.get_intent("c1")
    assert row is not None and (row.status, row.filled, row.remaining) == ("canceled", 1, 0)
    assert store.orders.order_history("c1")[-1].note == "canceled"
    assert not store.orders.mark_cancelled("o1"), "nothing more to change"
    assert not store.orders.mark_cancelled("placed-elsewhere")


def test_an_order_whose_fills_took_all_it_was_for_is_executed_never_canceled(
    store: Store,
) -> None:
    """The fill wins: a cancel booked before the fills arrive (filled 0), or after the order
    executed, never leaves a row saying canceled for an order its fills took whole. Fills
    short of its total leave it canceled with what filled. The exchange's own read, status and
    counts together, is copied as it says."""
    for coid in ("c1", "c2", "c3"):
        store.orders.record_intent(intent(coid))  # a total of 2.50
        store.orders.mark_sent(
            coid, order_id=f"o{coid}", status="resting", fill_count=D(0), remaining_count=D("2.50")
        )
    assert store.orders.mark_cancelled("oc1")
    assert store.orders.update_order(order_id="oc1", fill_count=D(1))
    row = store.orders.get_intent("c1")
    assert row is not None and (row.status, row.filled) == ("canceled", 1)
    assert store.orders.update_order(order_id="oc1", fill_count=D("2.50"))
    row = store.orders.get_intent("c1")
    assert row is not None and (row.status, row.filled, row.remaining) == ("executed", 2.5, 0)
    store.orders.update_order(
        order_id="oc2", status="executed", fill_count=D("2.50"), remaining_count=D(0)
    )
    assert not store.orders.mark_cancelled("oc2")
    row = store.orders.get_intent("c2")
    assert row is not None and row.status == "executed"
    store.orders.update_order(
        order_id="oc3", status="canceled", fill_count=D("2.50"), remaining_count=D(0)
    )
    row = store.orders.get_intent("c3")
    assert row is not None and row.status == "canceled"


def test_an_orders_total_is_never_left_below_what_filled(store: Store) -> None:
    """An order cannot fill more than its total: a row told more filled than its total holds
    a total out of date (an amend sent elsewhere grew the order) and takes what filled as the
    least it was, whatever the update names, and a lookup's answer likewise."""
    store.orders.record_intent(intent())  # a total of 2.50
    store.orders.mark_sent(
        "c1", order_id="o1", status="resting", fill_count=D(1), remaining_count=D("1.50")
    )
    assert store.orders.update_order(
        order_id="o1", status="canceled", fill_count=D(4), remaining_count=D(0)
    )
    row = store.orders.get_intent("c1")
    assert row is not None and (row.status, row.count, row.filled) == ("canceled", 4, 4)
    assert store.orders.order_history("c1")[-1].note == "canceled"
    assert store.orders.update_order(order_id="o1", fill_count=D(5), count=D(3))
    row = store.orders.get_intent("c1")
    assert row is not None and (row.count, row.filled) == (5, 5)
    assert not store.orders.mark_cancelled("o1"), "nothing more to change"

    store.orders.record_intent(intent("c2"))
    store.orders.mark_unknown("c2", reason="timed out")
    found = _cancelled_with_three_filled("o2", "c2")
    store.orders.mark_shown("c2", found)
    row = store.orders.get_intent("c2")
    assert row is not None and (row.status, row.count, row.filled) == ("canceled", 3, 3)


def test_intent_queries(store: Store, clock: ManualClock) -> None:
    for n in range(5):
        store.orders.record_intent(
            intent(f"c{n}", ticker="A" if n % 2 else "B", strategy=f"s{n % 2}")
        )
        clock.advance(1)
    store.orders.mark_sent(
        "c1", order_id="o1", status="resting", fill_count=D(0), remaining_count=D(1)
    )
    store.orders.mark_sent(
        "c2", order_id="o2", status="executed", fill_count=D(1), remaining_count=D(0)
    )

    def ids(records: list[IntentRecord]) -> list[str]:
        return [r.client_order_id for r in records]

    assert ids(store.orders.intents()) == ["c0", "c1", "c2", "c3", "c4"]
    assert ids(store.orders.intents(limit=2)) == ["c3", "c4"]  # the newest two, oldest first
    assert ids(store.orders.intents(status="resting")) == ["c1"]
    assert ids(store.orders.intents(status=["resting", "executed"])) == ["c1", "c2"]
    assert ids(store.orders.intents(ticker="A")) == ["c1", "c3"]
    assert ids(store.orders.intents(strategy="s0", ticker="B")) == ["c0", "c2", "c4"]
    assert ids(store.orders.open_orders(ticker="A")) == ["c1", "c3"]
    found = store.orders.intent_by_order_id("o2")
    assert found is not None and found.client_order_id == "c2"
    with pytest.raises(ValueError, match="status"):
        store.orders.intents(status="filled")


def test_related_writes_are_one_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.orders.record_intent(intent("a"))
        store.trading.set_trading_state("HALTED", reason="x", source="test")
        raise RuntimeError("boom")
    assert store.orders.intents() == []
    assert store.trading.trading_state().state == "ACTIVE"
    assert not store._conn.in_transaction


def test_a_failed_inner_block_is_undone_alone(store: Store) -> None:
    with store.transaction():
        store.orders.record_intent(intent("a"))
        with pytest.raises(DuplicateIntentError):
            store.orders.record_intent(intent("a"))  # its own savepoint rolls back
        store.orders.record_intent(intent("b"))
    assert [i.client_order_id for i in store.orders.intents()] == ["a", "b"]


def test_sql_errors_inside_a_transaction_become_store_errors(store: Store) -> None:
    with pytest.raises(StoreError), store.transaction():
        store._conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert not store._conn.in_transaction


def test_each_change_of_an_order_is_named_in_its_history(store: Store) -> None:
    # an amend, a fill, a decrease and the cancel read as what they were, not 'update'
    store.orders.record_intent(intent("h1"))
    store.orders.mark_sent(
        "h1", order_id="o-h1", status="resting", fill_count=D(0), remaining_count=D(3)
    )
    store.orders.update_order(client_order_id="h1", price=D("0.6100"), count=D(3))
    store.orders.update_order(client_order_id="h1", fill_count=D(1), remaining_count=D(2))
    store.orders.update_order(client_order_id="h1", remaining_count=D(1))
    store.orders.update_order(client_order_id="h1", status="canceled", remaining_count=D(0))
    notes = [h.note for h in store.orders.order_history("h1")]
    assert notes[-4:] == ["amend", "fill", "decrease", "canceled"]


@pytest.mark.parametrize("status", ["resting", "rejected"])
def test_an_answer_lost_after_the_row_was_answered_leaves_the_row_as_it_is(
    store: Store, status: str
) -> None:
    """A read recorded the order while its request was out (or a reconcile called it never
    placed): its answer lost then tells nothing new. The row stays as it is, and no error
    reads as a state file that could not record it."""
    _answered(store, status)
    before = store.orders.get_intent("c1")
    store.orders.mark_unknown("c1", reason="late")
    assert store.orders.get_intent("c1") == before
    with pytest.raises(OrderNotFound):
        store.orders.mark_unknown("nope", reason="late")


def test_only_pending_intents_are_withdrawn_and_all_or_none(store: Store) -> None:
    store.orders.record_intent(intent("a"))
    store.orders.record_intent(intent("b"))
    store.orders.mark_unknown("b", reason="lost answer")  # may exist on the exchange
    with pytest.raises(InvalidTransition, match="b: it is unknown"):
        store.orders.withdraw(["a", "b"])
    assert [i.client_order_id for i in store.orders.intents()] == ["a", "b"]  # neither went
    with pytest.raises(InvalidTransition, match="not recorded"):
        store.orders.withdraw(["nope"])
    store.orders.withdraw(["a"])
    assert store.orders.get_intent("a") is None and store.orders.order_history("a") == []
    store.orders.record_intent(intent("a"))  # the same id may be recorded, and sent, again
    assert store.orders.get_intent("a") is not None


def test_a_total_named_below_what_the_row_says_filled_is_raised_to_that(store: Store) -> None:
    """An update that names a total but no fills is held to the fills the row holds: a row of
    10 with 5 filled told its total is 3 (an amend's answer read after more filled) keeps 5,
    never 3 with 5 filled, nor its old 10. An update naming nothing changes nothing."""
    store.orders.record_intent(intent(count=D(10)))
    store.orders.mark_sent(
        "c1", order_id="o1", status="resting", fill_count=D(5), remaining_count=D(5)
    )
    assert not store.orders.update_order(client_order_id="c1")
    assert store.orders.update_order(order_id="o1", count=D(3), remaining_count=D(0))
    row = store.orders.get_intent("c1")
    assert row is not None and (row.count, row.filled, row.remaining) == (5, 5, 0)


def test_a_lookups_answer_raises_the_total_in_its_own_transaction_with_no_savepoint_more(
    store: Store,
) -> None:
    """`mark_shown` books the answer and raises the total in one transaction; the raise is a
    plain statement of it, not a savepoint and its release more for every order a reconcile
    or an import shows."""
    store.orders.record_intent(intent())
    store.orders.mark_unknown("c1", reason="timed out")
    found = _cancelled_with_three_filled("o1", "c1")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        store.orders.mark_shown("c1", found)
    finally:
        store._conn.set_trace_callback(None)
    verbs = [s.split()[0] for s in statements]
    assert verbs.count("BEGIN") == verbs.count("COMMIT") == 1, statements
    assert verbs.count("SAVEPOINT") <= 1, statements  # `mark_sent`'s own, if it takes one
    row = store.orders.get_intent("c1")
    assert row is not None and (row.status, row.count, row.filled) == ("canceled", 3, 3)


def _cancelled_with_three_filled(order_id: str, client_order_id: str) -> Order:
    """The exchange's answer for an order a lookup found: cancelled after 3 filled."""
    return Order(
        order_id=order_id,
        client_order_id=client_order_id,
        ticker="KXTEST-1",
        book_side=BookSide.ASK,
        status="canceled",
        yes_price=D("0.6050"),
        fill_count=D(3),
        remaining_count=D(0),
    )
