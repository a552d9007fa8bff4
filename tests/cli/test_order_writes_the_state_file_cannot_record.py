"""An order, an amend or a decrease the exchange answered is made, and a state file that cannot
record the answer does not unmake it: `kalshi order place|amend|decrease` says it WAS PLACED or
WAS MADE, that the state file did not record it and what to do, and exits 21
(STATE_WRITE_FAILED), as every command whose state file cannot take a write does; never 1 (a
bug), never a bare "locked; try again" that would send it twice. `kalshi reconcile` brings the
state file to what the exchange holds once it can be written."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal as D
from pathlib import Path
from typing import NamedTuple

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.batch_orders import BatchItem
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CancelResult, CreateOrder, CreateOrderResult
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ApiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import BookSide
from tests.cli.test_order_batch import HEADER, creates, ladder
from tests.cli.test_order_cli import place_args
from tests.conftest import SimHarness
from tests.fakes import StateFailsAfterWrite, Swapped
from tests.prime_tier import (
    Kalshi,
    another_accounts_order,
    connect,
    connect_as,
    make_markets,
    state_path,
)


class LockAfterTheAnswer:
    """The state file's write lock taken by another connection (another process writing it)
    once the exchange has answered, and held until the test releases it; the command's wait
    for it (the busy timeout) is cut short so the test does not sit through ten seconds."""

    def __init__(self, prime: SimHarness, path: Path) -> None:
        self.prime, self.path = prime, path
        self.holders: list[sqlite3.Connection] = []

    def take(self) -> None:
        holder = sqlite3.connect(self.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        self.holders.append(holder)

    def client(self) -> Swapped[StateFailsAfterWrite]:
        failing = connect_as(StateFailsAfterWrite, self.prime.account)
        failing.area.fail = self.take
        return failing

    def release(self) -> None:
        for holder in self.holders:
            holder.rollback()
            holder.close()
        self.holders.clear()


@pytest.fixture
def locked(
    prime: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LockAfterTheAnswer]:
    monkeypatch.setattr("kalshi_cli.store.connection.BUSY_TIMEOUT_SECONDS", 0.2)
    lock = LockAfterTheAnswer(prime, state_path(tmp_path))
    yield lock
    lock.release()


def _placed(prime: SimHarness, kalshi: Kalshi) -> str:
    make_markets(prime, 1)
    placed = kalshi(*place_args(side="no", count="10", price="0.30"), "--json")
    assert placed.exit_code == 0, placed.output
    return str(json.loads(placed.stdout)["order"]["order_id"])


class Change(NamedTuple):
    """A change of the order `_placed` rests (NO at 0.30 for 10): the command, its flags, its
    terms as the error states them, and what rests after it."""

    name: str
    flags: tuple[str, ...]
    terms: str
    rests: D


CHANGES = [
    Change("amend", ("--price", "0.32", "--count", "12"), "resting, 12.00 at YES 0.6800", D(12)),
    Change("decrease", ("--by", "4"), "resting, 6.00 at YES 0.7000", D(6)),
    Change("decrease", ("--to", "0"), "canceled", D(0)),
]


@pytest.mark.parametrize("change", CHANGES, ids=["amend", "decrease", "decrease-to-none"])
def test_a_change_made_that_the_state_file_cannot_record_is_reported_made(
    client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer, change: Change
) -> None:
    """Before, the state file's own error escaped: `state file ... is locked by another
    process (another kalshi process is writing it; try again)`, and a trader who tried again
    amended or decreased twice."""
    oid = _placed(locked.prime, kalshi)

    made = kalshi("order", change.name, oid, *change.flags, "--json", client=locked.client)

    assert made.exit_code == ExitCode.STATE_WRITE_FAILED, made.output
    assert made.stdout == ""
    assert made.stderr.startswith(
        f"Error: {change.name} of order {oid} WAS MADE ({change.terms}), but the state file "
        f"could not record it: state file {locked.path} is locked by another process ("
    ), made.stderr
    assert made.stderr.endswith(
        f"(do not {change.name} it again; `kalshi reconcile` records it once the state file can "
        "be written)\n"
    ), made.stderr
    assert "try again" not in made.stderr
    assert len(made.stderr.splitlines()) == 1
    # the exchange made it; the state file says so once it can be written and is reconciled
    order = client.orders.get_order(oid)
    assert order.remaining_count == change.rests
    locked.release()
    assert kalshi("reconcile").exit_code == 0
    with Store.open(locked.path) as store:
        (intent,) = store.orders.intents()
        assert (intent.status, intent.price, intent.remaining) == (
            order.status,
            order.yes_price,
            order.remaining_count,
        )
        assert store.orders.amends_of([intent.client_order_id]) == {}


def test_an_order_placed_that_the_state_file_cannot_record_exits_21_not_1(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """Before: exit 1, which names a bug, for the machine's trouble that every other write
    of the state file exits 21 for."""
    make_markets(prime, 1)
    placed = kalshi(*place_args(client_order_id="c-1"), client=locked.client)
    assert placed.exit_code == ExitCode.STATE_WRITE_FAILED, placed.output
    (order,) = client.orders.iter_orders()
    assert placed.stderr.startswith(
        f"Error: order c-1 WAS PLACED (order id {order.order_id}, resting), but the state file "
        "could not record it: "
    ), placed.stderr


class LostThenLocked(OrdersApi):
    """Two orders a request; the second request's answer is lost after the exchange placed it
    (the simulator drops it), and once a lookup has found an order the state file's write lock
    is taken by another process (`take`) before the order is recorded."""

    harness: SimHarness
    take: Callable[[], None]
    requests = 0

    def batch_size(self) -> int:
        return 2

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        self.requests += 1
        if self.requests != 2:
            return super().batch_create_orders(orders, subaccount=subaccount)
        self.harness.set_faults(drop_response_after_commit_rate=1.0)
        try:
            return super().batch_create_orders(orders, subaccount=subaccount)
        finally:
            self.harness.clear_faults()

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        """One order, its answer lost after the exchange placed it."""
        self.harness.set_faults(drop_response_after_commit_rate=1.0)
        try:
            return super().create_order(request)
        finally:
            self.harness.clear_faults()

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        found = super().find_order_by_client_id(client_order_id, ticker)
        if found is not None:
            self.take()
        return found


def _lost_then_locked(
    area: type[LostThenLocked], prime: SimHarness, locked: LockAfterTheAnswer
) -> Callable[[], Swapped[LostThenLocked]]:
    """A client whose order answers are lost, the state file locked once a lost one is found."""

    def connect() -> Swapped[LostThenLocked]:
        swapped = connect_as(area, prime.account)
        swapped.area.harness, swapped.area.take = prime, locked.take
        return swapped

    return connect


def test_an_order_found_after_a_lost_answer_that_the_state_file_cannot_record_is_placed(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """`order place` takes the same lookup as a batch's row: found, and the state file locked
    before it is booked, the order WAS PLACED, exit 21; `kalshi reconcile` books it later."""
    make_markets(prime, 1)

    def lost_then_locked() -> Swapped[LostThenLocked]:
        swapped = connect_as(LostThenLocked, prime.account)
        swapped.area.harness, swapped.area.take = prime, locked.take
        return swapped

    placed = kalshi(*place_args(client_order_id="c-1"), client=lost_then_locked)

    assert placed.exit_code == ExitCode.STATE_WRITE_FAILED, placed.output
    (order,) = client.orders.iter_orders()
    assert placed.stderr.startswith(
        f"Error: order c-1 WAS PLACED (order id {order.order_id}, resting, found after its "
        "answer was lost), but the state file could not record it: "
    ), placed.stderr
    locked.release()
    assert kalshi("reconcile").exit_code == 0
    with Store.open(locked.path) as store:
        intent = store.orders.get_intent("c-1")
        assert intent is not None and (intent.status, intent.order_id) == (
            "resting",
            order.order_id,
        )


def test_a_batch_row_found_after_a_lost_answer_that_the_state_file_cannot_record_is_reported(
    prime: SimHarness,
    client: KalshiClient,
    kalshi: Kalshi,
    locked: LockAfterTheAnswer,
    tmp_path: Path,
) -> None:
    """Six rows, two a request; the second request's answer lost, and the state file locked
    once the lookup found its first row. The report still lists every row: the two placed
    before, the one found said WAS PLACED with its order id, the next MAY HAVE BEEN PLACED (its
    unknown mark could not be written, so it is not looked up), the last two never sent; exit
    21. Before: the state file's own error escaped (`... is locked by another process (...; try
    again)`), the report lost with the rows already placed."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 6))

    batch = kalshi(
        "order", "batch", "--file", str(path), "--json",
        client=_lost_then_locked(LostThenLocked, prime, locked),
    )  # fmt: skip

    assert batch.exit_code == ExitCode.STATE_WRITE_FAILED, batch.output
    rows = json.loads(batch.stdout)["batch"]["rows"]
    assert [(r["line"], r["status"]) for r in rows] == [
        (2, "resting"),
        (3, "resting"),
        (4, "resting"),
        (5, "unknown"),
        (6, "not_sent"),
        (7, "not_sent"),
    ]
    placed = {o.client_order_id: o.order_id for o in client.orders.iter_orders()}
    assert sorted(placed) == sorted(r["client_order_id"] for r in rows[:4])
    assert [r["order_id"] for r in rows[:3]] == [placed[r["client_order_id"]] for r in rows[:3]]
    found, lost = rows[2], rows[3]
    assert found["note"].startswith(
        f"order {found['client_order_id']} WAS PLACED (order id {found['order_id']}, resting, "
        "found after its answer was lost), but the state file could not record it: state file "
        f"{locked.path} is locked by another process ("
    ), found["note"]
    assert found["note"].endswith(
        " (do not place it again; `kalshi reconcile` records it once the state file can be written)"
    ), found["note"]
    assert lost["order_id"] is None
    assert lost["note"].startswith(f"order {lost['client_order_id']} MAY HAVE BEEN PLACED ("), lost
    assert "try again" not in batch.output
    # once the file can be written, reconcile records both, and the file run again sends the
    # two rows never sent, once each
    locked.release()
    _reconciled_the_file_sends_the_two_never_sent_once(kalshi, client, path)


class LockedOnceLost(LostThenLocked):
    """As `LostThenLocked`, but the state file's write lock is taken as soon as the second
    request's answer is lost, before its rows can be marked unknown."""

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        try:
            return super().batch_create_orders(orders, subaccount=subaccount)
        finally:
            if self.requests == 2:
                self.take()


class LoneLost(NamedTuple):
    area: type[LostThenLocked]
    status: str  # the row's
    said: str  # what its note says of the order


LONE_LOST = [
    LoneLost(LostThenLocked, "resting", "WAS PLACED"),
    LoneLost(LockedOnceLost, "unknown", "MAY HAVE BEEN PLACED"),
]


@pytest.mark.parametrize("case", LONE_LOST, ids=["found", "never marked unknown"])
def test_a_batch_whose_one_lost_row_the_state_file_cannot_record_exits_21(
    prime: SimHarness,
    kalshi: Kalshi,
    locked: LockAfterTheAnswer,
    tmp_path: Path,
    case: LoneLost,
) -> None:
    """Three rows, two a request: the last alone in the second request, which takes one of
    its two contracts from an offer and rests the other; its answer lost, and the state file
    locked once the lookup found the order, or before the row could be marked unknown. That row
    alone is one the state file could not take, and the batch still exits 21: never 0 (the row
    found reads resting) nor 10 (the row unknown). A row found shows what the exchange holds:
    its order id, one contract filled and one resting."""
    m0, m1 = make_markets(prime, 2)
    another_accounts_order(prime, m0, BookSide.ASK, "0.40", 1)
    path = tmp_path / "orders.csv"
    path.write_text(
        f"{HEADER}{m0},yes,buy,1,0.10,gtc,,\n{m1},yes,buy,1,0.11,gtc,,\n{m0},yes,buy,2,0.40,gtc,,\n"
    )

    batch = kalshi(
        "order", "batch", "--file", str(path), "--json",
        client=_lost_then_locked(case.area, prime, locked),
    )  # fmt: skip

    assert batch.exit_code == ExitCode.STATE_WRITE_FAILED, batch.output
    rows = json.loads(batch.stdout)["batch"]["rows"]
    assert [(r["line"], r["status"]) for r in rows] == [
        (2, "resting"),
        (3, "resting"),
        (4, case.status),
    ]
    last = rows[2]
    assert last["note"].startswith(f"order {last['client_order_id']} {case.said} ("), last
    with connect(prime.account) as client:
        [order] = [
            o for o in client.orders.iter_orders() if o.client_order_id == last["client_order_id"]
        ]
    assert (order.fill_count, order.remaining_count) == (D(1), D(1))
    if case.status == "resting":
        assert (last["order_id"], last["filled"], last["remaining"]) == (
            order.order_id,
            "1.00",
            "1.00",
        )
    else:
        assert last["order_id"] is None


class LockedAfterTheSecondAnswer(OrdersApi):
    """Two orders a request; once the exchange has answered the second request, the state
    file's write lock is taken by another process (`take`) before the answer is booked."""

    take: Callable[[], None]
    requests = 0

    def batch_size(self) -> int:
        return 2

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        items = super().batch_create_orders(orders, subaccount=subaccount)
        self.requests += 1
        if self.requests == 2:
            self.take()
        return items


def test_batch_rows_answered_that_the_state_file_cannot_record_are_reported_placed(
    prime: SimHarness,
    client: KalshiClient,
    kalshi: Kalshi,
    locked: LockAfterTheAnswer,
    tmp_path: Path,
) -> None:
    """Six rows, two a request; the state file locked once the second request was answered.
    Every row is printed: the two of that request WAS PLACED with their order ids, the last two
    never sent; exit 21. Before: `order ... WAS PLACED ...` for the first of them alone, the
    other rows placed unreported."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 6))

    def locked_after_the_answer() -> Swapped[LockedAfterTheSecondAnswer]:
        swapped = connect_as(LockedAfterTheSecondAnswer, prime.account)
        swapped.area.take = locked.take
        return swapped

    batch = kalshi("order", "batch", "--file", str(path), "--json", client=locked_after_the_answer)

    assert batch.exit_code == ExitCode.STATE_WRITE_FAILED, batch.output
    rows = json.loads(batch.stdout)["batch"]["rows"]
    assert [(r["line"], r["status"]) for r in rows[:4]] == [(n, "resting") for n in range(2, 6)]
    assert [(r["line"], r["status"]) for r in rows[4:]] == [(6, "not_sent"), (7, "not_sent")]
    assert {r["note"] for r in rows[4:]} == {
        "the state file could not record the rows before it: run the file again"
    }
    placed = {o.client_order_id: o.order_id for o in client.orders.iter_orders()}
    assert [r["order_id"] for r in rows[:4]] == [placed[r["client_order_id"]] for r in rows[:4]]
    for row in rows[2:4]:
        assert row["note"].startswith(
            f"order {row['client_order_id']} WAS PLACED (order id {row['order_id']}, resting), "
            f"but the state file could not record it: state file {locked.path} is locked"
        ), row
    locked.release()
    _reconciled_the_file_sends_the_two_never_sent_once(kalshi, client, path)


class TwoARequest(OrdersApi):
    """Two orders a request, counted."""

    requests = 0

    def batch_size(self) -> int:
        return 2

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        self.requests += 1
        return super().batch_create_orders(orders, subaccount=subaccount)


def test_a_batch_whose_state_file_fails_before_its_next_request_reports_the_rows_placed(
    prime: SimHarness,
    kalshi: Kalshi,
    locked: LockAfterTheAnswer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six rows, two a request; the first request answered and booked, then the state file is
    locked before the next request's intents are written. The two placed are printed, the
    other four not sent (nothing of them written), exit 21, and the file run again sends those
    four once. Before: only the state file's error, the rows placed unreported."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 6))
    swapped = connect_as(TwoARequest, prime.account)
    transaction = Store.transaction

    def locked_once_the_first_is_booked(store: Store) -> AbstractContextManager[None]:
        booked = [i.status for i in store.orders.intents()]
        if swapped.area.requests == 1 and booked == ["resting"] * 2 and not locked.holders:
            locked.take()
        return transaction(store)

    monkeypatch.setattr(Store, "transaction", locked_once_the_first_is_booked)
    batch = kalshi("order", "batch", "--file", str(path), "--json", client=lambda: swapped)
    monkeypatch.undo()

    assert batch.exit_code == ExitCode.STATE_WRITE_FAILED, batch.output
    rows = json.loads(batch.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting"] * 2 + ["not_sent"] * 4
    assert rows[2]["note"].startswith(
        f"not sent: the state file could not record it (state file {locked.path} is locked"
    ), rows[2]
    assert swapped.area.requests == 1
    assert creates(prime) == 2
    locked.release()
    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert again.exit_code == 0, again.output
    statuses = [r["status"] for r in json.loads(again.stdout)["batch"]["rows"]]
    assert statuses == ["skipped"] * 2 + ["resting"] * 4
    assert creates(prime) == 6


def _reconciled_the_file_sends_the_two_never_sent_once(
    kalshi: Kalshi, client: KalshiClient, path: Path
) -> None:
    """Once the file can be written, reconcile records the four placed, and the file run
    again skips them and sends the two rows never sent, once each."""
    assert kalshi("reconcile").exit_code == 0
    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert again.exit_code == 0, again.output
    statuses = [r["status"] for r in json.loads(again.stdout)["batch"]["rows"]]
    assert statuses == ["skipped"] * 4 + ["resting"] * 2
    assert len(list(client.orders.iter_orders())) == 6


class LockAfterTheFirstCancel(OrdersApi):
    """A client's orders on the simulator's wire whose cancels are made and answered, and
    which call the test's `fail` once the first cancel is answered, before it is booked."""

    fail: Callable[[], None]
    cancels: int = 0

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        result = super().cancel_order(order_id, ticker=ticker, subaccount=subaccount)
        self.cancels += 1
        if self.cancels == 1:
            self.fail()
        return result


def _three_placed(kalshi: Kalshi, locked: LockAfterTheAnswer) -> tuple[str, list[str]]:
    """A market and three NO orders of 2 placed in it by `kalshi order place`, their ids."""
    (ticker,) = make_markets(locked.prime, 1)
    ids = []
    for price in ("0.30", "0.31", "0.32"):
        placed = kalshi(*place_args(side="no", count="2", price=price), "--json")
        assert placed.exit_code == 0, placed.output
        ids.append(str(json.loads(placed.stdout)["order"]["order_id"]))
    return ticker, ids


def test_a_markets_cancel_all_whose_state_file_fails_midway_still_cancels_every_order(
    client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """`kalshi order cancel-all --ticker T` with three of T's orders resting, the state file
    locked by another writer once the first cancel is answered: the other two are cancelled
    all the same, the command names the state file's failure and each cancel it did not
    record, and exits 21. The state file's error ended the command after the first cancel,
    the other two orders left resting. `kalshi reconcile` records them once it can write."""
    ticker, ids = _three_placed(kalshi, locked)
    cancelling = connect_as(LockAfterTheFirstCancel, locked.prime.account)
    cancelling.area.fail = locked.take

    done = kalshi(
        "order", "cancel-all", "--ticker", ticker, "--json", client=lambda: cancelling
    )  # fmt: skip

    assert done.exit_code == ExitCode.STATE_WRITE_FAILED, done.output
    assert {o.status for o in map(client.orders.get_order, ids)} == {"canceled"}
    document = json.loads(done.stdout)
    assert sorted(document["cancelled"]) == sorted(ids), document
    assert document["contracts_cancelled"] == "6.00"
    assert sorted(document["not_recorded"]) == sorted(ids), document
    assert document["state_error"].startswith(f"state file {locked.path} is locked"), document
    (said,) = [line for line in done.stderr.splitlines() if "NOT RECORDED" in line]
    assert said.startswith(f"NOT RECORDED: state file {locked.path} is locked"), said
    assert "3 order(s) cancelled on the exchange" in said and all(i in said for i in ids), said
    assert "Traceback" not in done.stderr
    locked.release()
    assert kalshi("reconcile").exit_code == 0
    with Store.open(locked.path) as store:
        assert {i.status for i in store.orders.intents()} == {"canceled"}


class LockAfterTheFirstCancelAndFailTheLast(LockAfterTheFirstCancel):
    """As `LockAfterTheFirstCancel`, and the exchange fails the third cancel (a 5xx)."""

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        if self.cancels == 2:
            raise ApiError.from_response(500, {"code": "internal_error", "message": "down"})
        return super().cancel_order(order_id, ticker=ticker, subaccount=subaccount)


def test_an_order_not_cancelled_after_the_state_file_failed_is_not_named_not_recorded(
    kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """The state file locked after the first cancel, and the third cancel failed at the
    exchange: the command names the third order not cancelled, and only the two cancelled as
    cancels the state file did not record; the order still resting is not told cancelled."""
    ticker, ids = _three_placed(kalshi, locked)
    cancelling = connect_as(LockAfterTheFirstCancelAndFailTheLast, locked.prime.account)
    cancelling.area.fail = locked.take

    done = kalshi(
        "order", "cancel-all", "--ticker", ticker, "--json", client=lambda: cancelling
    )  # fmt: skip

    assert done.exit_code == ExitCode.STATE_WRITE_FAILED, done.output
    document = json.loads(done.stdout)
    (failed,) = [n["order_id"] for n in document["not_cancelled"]]
    assert failed in ids and failed not in document["cancelled"]
    assert sorted(document["not_recorded"]) == sorted(document["cancelled"]), document
    assert len(document["cancelled"]) == 2
    (said,) = [line for line in done.stderr.splitlines() if "NOT RECORDED" in line]
    assert "2 order(s) cancelled on the exchange" in said and failed not in said, said
    locked.release()


def test_a_cancel_the_state_file_cannot_record_is_reported_made(
    client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """`kalshi order cancel` answered by the exchange, the state file locked before it is
    booked: the line says the order WAS CANCELLED and what to run, exit 21."""
    oid = _placed(locked.prime, kalshi)
    cancelling = connect_as(LockAfterTheFirstCancel, locked.prime.account)
    cancelling.area.fail = locked.take

    done = kalshi("order", "cancel", oid, client=lambda: cancelling)

    assert done.exit_code == ExitCode.STATE_WRITE_FAILED, done.output
    assert done.stderr.startswith(
        f"Error: order {oid} WAS CANCELLED (10.00 taken off the book), but the state file "
        f"could not record it: state file {locked.path} is locked by another process"
    ), done.stderr
    assert client.orders.get_order(oid).status == "canceled"


class EndedElsewhereFirst(OrdersApi):
    """A client's orders on the simulator's wire; before its first cancel goes out, the test's
    `first` runs (the order cancelled by another program, the state file locked), so that
    cancel is refused and the state file fails booking the order as read."""

    first: Callable[[str], None]
    cancels: int = 0

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        self.cancels += 1
        if self.cancels == 1:
            self.first(order_id)
        return super().cancel_order(order_id, ticker=ticker, subaccount=subaccount)


def test_a_markets_cancel_all_whose_state_file_fails_before_a_cancel_is_made_still_cancels(
    client: KalshiClient, kalshi: Kalshi, locked: LockAfterTheAnswer
) -> None:
    """The state file fails on an order whose cancel was refused (another program cancelled
    it first): that order is not named not cancelled, and the others are cancelled without
    the state file, each named not recorded."""
    (ticker,) = make_markets(locked.prime, 1)
    ids = []
    for price in ("0.30", "0.31", "0.32"):
        placed = kalshi(*place_args(side="no", count="2", price=price), "--json")
        assert placed.exit_code == 0, placed.output
        ids.append(str(json.loads(placed.stdout)["order"]["order_id"]))

    def first(order_id: str) -> None:
        client.orders.cancel_order(order_id, ticker=ticker)
        locked.take()

    cancelling = connect_as(EndedElsewhereFirst, locked.prime.account)
    cancelling.area.first = first

    done = kalshi("order", "cancel-all", "--ticker", ticker, "--json", client=lambda: cancelling)

    assert done.exit_code == ExitCode.STATE_WRITE_FAILED, done.output
    assert {o.status for o in map(client.orders.get_order, ids)} == {"canceled"}
    document = json.loads(done.stdout)
    assert document["not_cancelled"] == [], document
    assert sorted(document["not_recorded"]) == sorted(ids), document
    assert document["contracts_cancelled"] == "4.00", document
