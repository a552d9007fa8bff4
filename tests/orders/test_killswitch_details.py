"""The kill switch's details that mutation testing found unpinned (docs/mutation.md): which
subaccount each cancel names, what a refused cancel says, the retry of a batch cancel, and how
`run_kill_switch` wires the state file's failure, the source and the read lag into the switch.
Every exchange here is a fake that states the calls it expects (`UnexpectedCalls`)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.clock import ManualClock
from kalshi_cli.errors import ApiError
from kalshi_cli.killswitch import KillSwitch, run_kill_switch
from kalshi_cli.models import Order
from kalshi_cli.store import Store, StoreError
from tests.orders.exchange_fakes import UnexpectedCalls
from tests.orders.test_killswitch_pins import MaxJitter, RecordingClock

TICKER = "KXT-EV-M00"


def resting(order_id: str, count: str = "2.00", subaccount: int | None = None) -> Order:
    body: dict[str, object] = {
        "order_id": order_id,
        "ticker": TICKER,
        "book_side": "bid",
        "status": "resting",
        "yes_price_dollars": "0.2000",
        "remaining_count_fp": count,
        "created_time": "2026-11-22T10:00:00Z",
    }
    if subaccount is not None:
        body["subaccount_number"] = subaccount
    return Order.from_api(body)


class Cancels(UnexpectedCalls):
    """Lists `orders` until each is cancelled; answers each batch cancel with `answers` (one
    list of results per call, or an error to raise), then cancels whatever it is asked."""

    def __init__(self, *orders: Order, answers: list[object] | None = None) -> None:
        self.orders = list(orders)
        self.answers = list(answers or [])
        self.calls: list[tuple[list[tuple[str, str | None]], dict[str, int] | None]] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield from list(self.orders)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.calls.append((orders, subaccounts))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, list)
            return answer
        by_id = {o.order_id: o for o in self.orders}
        self.orders = [o for o in self.orders if o.order_id not in dict(orders)]
        return [CancelResult(oid, by_id[oid].remaining_count) for oid, _ in orders]


def test_each_cancel_names_the_subaccount_of_an_order_listed_on_another(store: Store) -> None:
    exchange = Cancels(resting("main-1"), resting("sub-1", subaccount=2))

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.proven
    ((pairs, subaccounts),) = exchange.calls
    assert pairs == [("main-1", TICKER), ("sub-1", TICKER)]
    # subaccount 0's order needs no name; the other one is cancelled where it rests
    assert subaccounts == {"sub-1": 2}


def test_orders_all_on_the_primary_account_are_cancelled_without_subaccounts(
    store: Store,
) -> None:
    exchange = Cancels(resting("main-1"), resting("main-2"))

    KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    ((_, subaccounts),) = exchange.calls
    assert subaccounts is None


def test_a_refused_cancel_names_the_order_and_the_reason(store: Store) -> None:
    refused = [CancelResult("main-1", Decimal(0), error="order is not cancellable")]
    exchange = Cancels(resting("main-1"), answers=[refused])

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30).run(ticker=TICKER)

    assert report.proven  # the next round cancelled it
    assert report.errors[0] == "main-1: order is not cancellable"
    assert report.cancelled == ["main-1"] and report.contracts_cancelled == Decimal(2)


def test_a_batch_cancel_answered_503_is_retried_after_a_pause(store: Store) -> None:
    clock = RecordingClock()
    busy = ApiError.from_response(503, {})
    exchange = Cancels(resting("main-1"), answers=[busy])

    report = KillSwitch(exchange, store, clock, deadline_s=30, rng=MaxJitter(), read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven and report.cancelled == ["main-1"]
    assert len(exchange.calls) == 2  # the same batch, again
    assert report.errors == [busy.one_line()]
    assert clock.sleeps == pytest.approx([0.1])  # the first retry's backoff ceiling


def test_a_state_file_that_cannot_be_opened_is_named_and_the_cancels_go_out() -> None:
    exchange = Cancels(resting("main-1"))

    def cannot_open() -> Store:
        raise StoreError("state file is locked by another writer")

    report = run_kill_switch(exchange, cannot_open, ManualClock(), ticker=TICKER)

    assert report.proven and report.cancelled == ["main-1"]
    assert report.state_error == "state file is locked by another writer"
    assert not report.halted and not report.result_recorded


def test_the_command_records_its_source_and_closes_the_state_file(tmp_path: Path) -> None:
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(Store.open(tmp_path / "state.db"))
        return opened[-1]

    report = run_kill_switch(Cancels(), open_store, ManualClock(), ticker=TICKER)

    assert report.proven and report.halted and report.state_error is None
    with Store.open(tmp_path / "state.db") as store:
        state = store.trading_state()
        assert (state.state, state.source) == ("HALTED", "cancel-all")
        assert state.reason == f"kill switch ({TICKER})"
    with pytest.raises(StoreError):
        opened[0].trading_state()  # closed by run_kill_switch


def test_the_read_lag_given_is_the_one_the_proof_waits(tmp_path: Path) -> None:
    clock = RecordingClock()

    report = run_kill_switch(
        Cancels(),
        lambda: Store.open(tmp_path / "state.db", clock=clock),
        clock,
        ticker=TICKER,
        read_lag_s=2.5,
        source="dashboard",
    )

    assert report.proven
    # an empty first listing requested within the read lag of HALTED is taken again after it
    assert clock.sleeps == pytest.approx([2.5])
    with Store.open(tmp_path / "state.db") as store:
        assert store.trading_state().source == "dashboard"


class RecordingJitter(random.Random):
    """Full jitter that remembers each range it drew from, and draws its lower bound."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []  # float-ok: seconds

    def uniform(self, a: float, b: float) -> float:  # float-ok: seconds
        self.ranges.append((a, b))
        return a


def test_each_pause_is_drawn_from_zero_to_its_ceiling(store: Store) -> None:
    """Full jitter: a pause may be anything from nothing to the ceiling, so many switches
    retrying at once spread out instead of hammering together."""
    jitter = RecordingJitter()
    clock = RecordingClock()
    refused = [CancelResult("main-1", Decimal(0), error="not cancellable")]
    exchange = Cancels(resting("main-1"), answers=[refused, refused, refused])

    report = KillSwitch(exchange, store, clock, deadline_s=30, rng=jitter, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven
    # no pause after the first round; then one after each round that cancelled
    assert [low for low, _ in jitter.ranges] == [0, 0, 0]
    assert [high for _, high in jitter.ranges] == pytest.approx([0.1, 0.2, 0.4])
    assert clock.sleeps == [0, 0, 0]


def test_a_locked_state_file_keeps_the_first_reason_and_the_cancels_go_out(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    with Store.open(db) as store, Store.open(db) as holder, ExitStack() as lock:
        lock.enter_context(holder.transaction())  # another writer, for the whole run
        exchange = Cancels(resting("main-1"), resting("main-2"))
        switch = KillSwitch(
            exchange, store, ManualClock(), deadline_s=30, halt_wait_s=0, record_wait_s=0
        )

        report = switch.run(ticker=TICKER)

        assert report.proven and sorted(report.cancelled) == ["main-1", "main-2"]
        assert not report.halted and not report.result_recorded
        assert report.state_error is not None and "locked" in report.state_error
        first = report.state_error
        lock.close()
        # the state file says nothing of the run: no HALTED, no rows marked
        assert store.trading_state().state == "ACTIVE"
        assert store.events(kind="kill_switch") == []
        assert report.state_error == first
