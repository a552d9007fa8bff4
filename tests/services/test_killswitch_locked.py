"""The kill switch when another writer holds the state file's lock for the whole run.

A writer exists, and it may be a trade loop blocked on that lock: the moment the lock is
released it records its next intent (the trading state still ACTIVE, HALTED never written) and
places the order, after any listing the switch took. So an empty listing is no proof while
HALTED is not recorded because of a lock; it still is when the file cannot take a write from
anyone (read-only, garbled), since then no loop can record an intent either, and a loop sends
nothing whose intent it could not record (tests/runner/lifecycle/test_state_write_faults.py::
test_an_intent_that_cannot_be_recorded_is_never_sent)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.communications import Rfq
from kalshi_cli.services.killswitch.switch import KillSwitch, run_kill_switch
from kalshi_cli.services.orders.context import check_trading_state
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.connection import wrap_error
from kalshi_cli.store.records import IN_FLIGHT_S
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import TransportError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.services.test_killswitch_cancels_and_wiring import TICKER, Listings
from tests.services.test_killswitch_rfqs import _Comms, _rfq

HELD = (
    "HALTED is not recorded: another process held the state file's lock for the whole run, and "
    "a trade loop waiting for that lock places its next order as soon as it gets it "
    "(find the process holding the state file and stop it, then run `kalshi cancel-all` again)"
)


@contextmanager
def lock_held(path: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holding the state file's lock (e.g. a long `kalshi reconcile`
    transaction) until it rolls back or the block ends."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with closing(holder):
        yield holder


def test_readable_intents_without_halted_recorded_are_no_proof(tmp_path: Path) -> None:
    """The reviewer's find: the intents read fine, but HALTED never made it past the lock."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        with lock_held(path):
            switch = KillSwitch(
                Listings(),
                store,
                clock,
                deadline_s=IN_FLIGHT_S + 30,
                read_lag_s=0,
                halt_wait_s=0,
                record_wait_s=0,
            )
            report = switch.run(ticker=TICKER)
        assert not report.halted
        assert store.trading.trading_state().state == "ACTIVE"  # what a loop reads next: it places
        assert not report.proven, "nothing stops a running loop placing after this listing"


def test_the_report_says_what_holds_the_proof_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store, Store.open(path) as other, other.transaction():
        switch = KillSwitch(
            Listings(), store, ManualClock(), deadline_s=30, halt_wait_s=0, record_wait_s=0
        )
        report = switch.run(ticker=TICKER)

    assert not report.proven and report.left == []
    # the last error is the line `kalshi cancel-all` prints after NOT PROVEN
    assert report.errors == [HELD]
    assert report.state_error is not None and "locked by another process" in report.state_error


def test_a_state_file_that_cannot_be_opened_for_its_lock_is_no_proof(tmp_path: Path) -> None:
    """The lock can stop the state file opening at all (its migrations, its journal mode): the
    writer that holds it is there all the same."""
    locked = wrap_error(sqlite3.OperationalError("database is locked"), tmp_path / "state.db")

    def cannot_open() -> Store:
        raise locked

    report = run_kill_switch(Listings(), cannot_open, ManualClock(), ticker=TICKER)

    assert not report.proven and report.errors == [HELD]
    assert report.state_error == locked.one_line()


def test_a_state_file_that_cannot_be_opened_otherwise_still_proves(tmp_path: Path) -> None:
    """Garbled: no loop can record an intent in it either, so none can place."""
    garbled = wrap_error(sqlite3.DatabaseError("file is not a database"), tmp_path / "state.db")

    def cannot_open() -> Store:
        raise garbled

    report = run_kill_switch(Listings(), cannot_open, ManualClock(), ticker=TICKER)

    assert report.proven and report.errors == []


def test_a_lock_released_before_the_end_records_halted_late_and_proves(tmp_path: Path) -> None:
    """The run's last HALTED attempt waits for the lock: recorded then, the listing is proof
    (a loop that records an intent after HALTED is refused in that very transaction)."""
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        with lock_held(path) as holder:

            def release(n: int) -> None:
                if holder.in_transaction:  # as the first listing is taken
                    holder.execute("ROLLBACK")

            switch = KillSwitch(
                Listings(release), store, ManualClock(), deadline_s=30, halt_wait_s=0
            )
            report = switch.run(ticker=TICKER)

        assert report.proven and report.halted and report.errors == []
        assert store.trading.trading_state().state == "HALTED"


def a_loop_recording_once_released(
    holder: sqlite3.Connection, loop: Store, ticker: str
) -> Callable[[], None]:
    """What the switch runs after its proof: the lock is released and a loop records its
    intent (a bid of 2 at $0.20 on `ticker`) before the switch records HALTED."""

    def loop_wins_the_lock() -> None:
        holder.execute("ROLLBACK")
        loop.orders.record_intent(
            IntentRecord(
                "loop-1", ticker, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES, Action.BUY
            )
        )

    return loop_wins_the_lock


class RfqsThenHook(_Comms):
    """One open RFQ of ours; `after_proof()` runs as the RFQs are listed again, which the
    switch does after the proof's listing of orders and before its last HALTED attempt."""

    def __init__(self, after_proof: Callable[[], object]) -> None:
        super().__init__([_rfq("rfq-1", TICKER)], [])
        self.after_proof = after_proof

    def iter_rfqs(self, **filters: Any) -> Iterator[Rfq]:
        if self.rfq_asks:
            self.after_proof()
        return super().iter_rfqs(**filters)


AWAITING = "an order of this state file is still awaiting its answer"
LOST = "1 order(s) whose answer was lost may still land (up to 40s after the answer was lost)"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("none yet", AWAITING),
        ("resting", AWAITING),
        ("lost", LOST),
        ("intents unreadable", "the state file's order intents cannot be read ("),
    ],
)
def test_a_loop_that_gets_the_lock_before_the_late_halted_leaves_no_proof(
    tmp_path: Path, answer: str, why: str
) -> None:
    """The lock is released after the proof's listing, and a loop that waited for it records
    its intent (and sends the order) before the switch records HALTED: that order was not in
    the listing, so the listing proves nothing, whatever the loop has heard back by then (or
    when the intents can no longer be read to tell)."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store, Store.open(path, clock=clock) as loop:
        with lock_held(path) as holder:

            def loop_wins_the_lock() -> None:
                holder.execute("ROLLBACK")
                clock.advance(0.01)  # the loop's intent comes after the proof's listing
                loop.record_intent_if_allowed(
                    IntentRecord(
                        "loop-1", TICKER, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES,
                        Action.BUY,
                    ),
                    # what the loop's OrderService checks as it records an intent
                    lambda state: check_trading_state(
                        state.state, state.reason, reduce_only=False, what="not sent"
                    ),
                )  # fmt: skip
                if answer == "resting":
                    loop.orders.mark_sent(
                        "loop-1", order_id="o-1", status="resting", fill_count=Decimal(0),
                        remaining_count=Decimal(2),
                    )  # fmt: skip
                elif answer == "lost":
                    loop.orders.mark_unknown("loop-1", reason="read timeout")
                elif answer == "intents unreadable":
                    holder.execute("ALTER TABLE orders RENAME TO orders_gone")

            switch = KillSwitch(
                Listings(),
                store,
                clock,
                deadline_s=30,
                read_lag_s=0,
                halt_wait_s=0,
                communications=RfqsThenHook(loop_wins_the_lock),
            )
            report = switch.run(ticker=TICKER)

        assert report.halted and store.trading.trading_state().state == "HALTED"
        assert report.proven is False  # `"proven": false` in --json
        assert report.errors[-1].startswith(
            f"HALTED was recorded only after the last listing, and {why}"
        )
        assert report.errors[-1].endswith("(run `kalshi cancel-all` again)")


def test_a_loop_placing_in_another_market_leaves_a_scoped_proof_standing(tmp_path: Path) -> None:
    """`--ticker`: an order the loop recorded in another market before the late HALTED is
    outside what this run cancels and proves."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store, Store.open(path, clock=clock) as loop:
        with lock_held(path) as holder:
            loop_wins_the_lock = a_loop_recording_once_released(holder, loop, "KXOTHER-M")
            switch = KillSwitch(
                Listings(), store, clock, deadline_s=30, read_lag_s=0, halt_wait_s=0,
                communications=RfqsThenHook(loop_wins_the_lock),
            )  # fmt: skip
            report = switch.run(ticker=TICKER)

        assert report.halted and report.proven and report.errors == []


def test_a_late_halted_with_no_intent_recorded_meanwhile_still_proves(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        with lock_held(path) as holder:
            switch = KillSwitch(
                Listings(),
                store,
                ManualClock(),
                deadline_s=30,
                read_lag_s=0,
                halt_wait_s=0,
                communications=RfqsThenHook(lambda: holder.execute("ROLLBACK")),
            )
            report = switch.run(ticker=TICKER)

        assert report.halted and report.proven and report.rfqs_closed == ["rfq-1"]


class Unreachable(Listings):
    def iter_orders(self, **filters: object) -> Iterator[Order]:
        raise TransportError("connection refused")


def test_a_run_not_proven_for_another_reason_keeps_that_reason_last(tmp_path: Path) -> None:
    """The lock's reason takes a proof back; with no proof to take back, the run's own reason
    stays the last error, which `kalshi cancel-all` prints after `NOT PROVEN: the exchange
    could not be reached:`."""
    path = tmp_path / "state.db"
    with Store.open(path) as store, Store.open(path) as other, other.transaction():
        switch = KillSwitch(
            Unreachable(), store, ManualClock(), deadline_s=5, halt_wait_s=0, record_wait_s=0
        )
        report = switch.run(ticker=TICKER)

    assert not report.proven and report.unreachable
    assert report.errors[-1] == "connection refused"
    assert HELD not in report.errors


def test_a_loop_placing_before_the_late_halted_is_named_when_the_rfq_side_took_the_proof(
    tmp_path: Path,
) -> None:
    """The RFQ still open after its delete takes the proof back; the order the loop recorded
    before the late HALTED is named too, so the person knows a run again is needed for it."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store, Store.open(path, clock=clock) as loop:
        with lock_held(path) as holder:
            comms = RfqsThenHook(a_loop_recording_once_released(holder, loop, TICKER))
            comms.stuck = frozenset({"rfq-1"})  # its delete answered yes, and it stays open
            switch = KillSwitch(
                Listings(), store, clock, deadline_s=30, read_lag_s=0, halt_wait_s=0,
                communications=comms,
            )  # fmt: skip
            report = switch.run(ticker=TICKER)

        assert report.halted and not report.proven
        assert report.communications_left == ["rfq-1"]
        assert report.errors[-1].startswith("HALTED was recorded only after the last listing")
