"""Persistence: an exchange rebuilt from its journal has exactly the state it had, including
after a kill -9 in the middle of a burst of orders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.journal import JournalError
from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.sim.core.scenarios import LP_KEY, build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.waiting import poll_until

Journaled = Callable[..., Exchange]


@pytest.fixture
def journaled() -> Iterator[Journaled]:
    """`build_exchange` (or a bare `Exchange` for scenario None) whose journals are closed at
    the end of the test. A test that opens the same journal twice models a process that died
    without closing it: every record is flushed as it is written, so closing changes no byte."""
    built: list[Exchange] = []

    def build(scenario: str | None, **kw: Any) -> Exchange:
        ex = (
            Exchange(fees=STANDARD_FEES, **kw)
            if scenario is None
            else build_exchange(scenario, **kw)
        )
        built.append(ex)
        return ex

    yield build
    for ex in built:
        ex.close()


def state(ex: Exchange) -> str:
    lines = [
        repr(list(ex.reference.markets.values())),
        repr(ex.history.trades()),
        repr(ex.engine.fees_collected),
    ]
    lines += [repr(ex.engine.book(t)) for t in ex.reference.markets]
    for account in ex.accounts.accounts:
        a = account.account_id
        lines += [
            repr(account),
            repr(ex.accounts.cash_dollars(a)),
            repr(ex.accounts.held_dollars(a)),
            repr(ex.history.orders(a)),
            repr(ex.history.fills(a)),
            repr(ex.accounts.positions(a)),
            repr(ex.accounts.settlements(a)),
        ]
    return "\n".join(lines)


def place(ex: Exchange, acct: str, side: BookSide, price: str, count: int, **kw: Any) -> str:
    ticker = kw.pop("ticker", "KXFEDDECISION-SIM-DEC-H0")
    tif = kw.pop("tif", TimeInForce.GTC)
    return place_on_desk(
        ex, acct, ticker, side, price, count, time_in_force=tif, **kw
    ).order.order_id


def test_rebuilt_exchange_has_identical_state(tmp_path: Path, journaled: Journaled) -> None:
    journal = tmp_path / "exchange.jsonl"
    clock = ManualClock()
    ex = journaled("quiet", clock=clock, journal=journal)
    a = ex.accounts.create_account(key_id="a", public_key_pem="PEM", cash_cents=100_00).account_id
    b = ex.accounts.create_account(key_id="b", public_key_pem="", cash_cents=100_00).account_id
    place(ex, a, BookSide.BID, "0.62", 150, tif=TimeInForce.IOC)  # takes the static asks
    resting = place(ex, b, BookSide.ASK, "0.70", 10)
    ex.desk.amend_order(
        b,
        resting,
        ticker="KXFEDDECISION-SIM-DEC-H0",
        book_side=BookSide.ASK,
        price=D("0.69"),
        count=D(8),
    )
    ex.desk.decrease_order(b, resting, reduce_by=D(2), reduce_to=None)
    expiring = place(ex, b, BookSide.BID, "0.30", 5, expiration_time=int(clock.wall()) + 5)
    clock.advance(6)
    ex.tick()
    assert ex.history.order(b, expiring).status == "canceled"
    with pytest.raises(ExchangeError):
        place(ex, a, BookSide.BID, "0.505", 1)  # refused: not journaled
    ex.desk.cancel_all(a)
    ex.settlement.settle("KXFEDDECISION-SIM-DEC-C25", "no")
    ex.settlement.set_market_status("KXHIGHNY-SIM-D1-T60", "closed")
    before = state(ex)

    again = journaled("quiet", clock=ManualClock(start=clock.wall() + 100), journal=journal)
    assert again.restored
    assert state(again) == before
    # ids keep coming from the same sequence: no collision with restored orders
    new = place(again, a, BookSide.BID, "0.10", 1)
    assert new not in {o.order_id for o in ex.history.orders(a)}
    third = journaled("quiet", clock=ManualClock(), journal=journal)
    assert third.history.order(a, new).status == "resting"


def test_restart_does_not_reinstall_the_scenario(tmp_path: Path, journaled: Journaled) -> None:
    journal = tmp_path / "j.jsonl"
    clock = ManualClock()
    first = journaled("default", clock=clock, journal=journal)
    for _ in range(100):
        clock.advance(0.5)
        first.tick()
    markets, accounts = len(first.reference.markets), len(first.accounts.accounts)
    lp = first.subaccounts.account_by_key(LP_KEY)
    assert lp is not None
    quotes = len(first.accounts.resting_orders(lp.account_id))
    second = journaled("default", clock=clock, journal=journal)
    assert (len(second.reference.markets), len(second.accounts.accounts)) == (markets, accounts)
    assert len(second.accounts.resting_orders(lp.account_id)) == quotes
    trades = len(second.history.trades())
    for _ in range(200):  # participants are attached again and keep going
        clock.advance(0.5)
        second.tick()
    assert len(second.history.trades()) > trades


def test_a_torn_last_line_is_dropped_and_a_corrupt_one_refused(
    tmp_path: Path, journaled: Journaled
) -> None:
    journal = tmp_path / "j.jsonl"
    ex = journaled("quiet", clock=ManualClock(), journal=journal)
    ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=5)
    with journal.open("a") as f:
        f.write('{"op":"account","ts":1,"key_id":"b"')  # crash mid-write
    again = journaled("quiet", clock=ManualClock(), journal=journal)
    assert (
        again.subaccounts.account_by_key("a") is not None
        and again.subaccounts.account_by_key("b") is None
    )
    again.accounts.create_account(key_id="c", public_key_pem="", cash_cents=5)
    assert journaled("quiet", clock=ManualClock(), journal=journal).subaccounts.account_by_key("c")
    lines = journal.read_text().splitlines()
    lines.insert(2, "not json")
    journal.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalError):
        journaled("quiet", clock=ManualClock(), journal=journal)


CHILD = """
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce
from kalshi_cli.sim.core.records import PlaceRequest
from kalshi_cli.sim.core.scenarios import build_exchange

ex = build_exchange("quiet", clock=ManualClock(), journal=Path(sys.argv[1]))
acct = ex.accounts.create_account(key_id="k", public_key_pem="", cash_cents=10**9).account_id
print(acct, flush=True)
i = 0
while True:
    i += 1
    r = ex.desk.place_order(acct, PlaceRequest(ticker="KXFEDDECISION-SIM-DEC-H0",
        book_side=BookSide.BID, price=D("0.01") * (1 + i % 50), count=D(1),
        time_in_force=TimeInForce.GTC, self_trade_prevention=SelfTradePrevention.MAKER))
    print(r.order.order_id, flush=True)
"""


def test_kill_9_loses_no_acknowledged_order(tmp_path: Path, journaled: Journaled) -> None:
    journal = tmp_path / "j.jsonl"
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(journal)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as child:
        assert child.stdout is not None
        account = child.stdout.readline().strip()
        stdout = child.stdout
        acknowledged: list[Any] = []

        def all_acknowledged() -> bool:
            acknowledged.append(stdout.readline().strip())
            return len(acknowledged) >= 300

        poll_until(all_acknowledged, between=lambda: None)
        child.send_signal(signal.SIGKILL)
    assert len(acknowledged) == 300
    ex = journaled("quiet", clock=ManualClock(), journal=journal)
    stored = {o.order_id for o in ex.history.orders(account)}
    assert set(acknowledged) <= stored


def test_compaction_keeps_state_and_shortens_the_journal(
    tmp_path: Path, journaled: Journaled
) -> None:
    journal = tmp_path / "j.jsonl"
    clock = ManualClock()
    ex = journaled("quiet", clock=clock, journal=journal)
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    place(ex, a, BookSide.BID, "0.62", 120, tif=TimeInForce.IOC)
    resting = place(ex, a, BookSide.BID, "0.20", 5, expiration_time=int(clock.wall()) + 30)
    long_before = journal.stat().st_size
    ex.compact()
    assert journal.read_text().count("\n") == 1  # just the init record
    assert journal.stat().st_size < long_before
    place(ex, a, BookSide.ASK, "0.70", 3)
    before = state(ex)
    again = journaled("quiet", clock=clock, journal=journal)
    assert state(again) == before
    clock.advance(31)
    again.tick()  # the restored expiry heap still fires
    assert again.history.order(a, resting).status == "canceled"


def test_a_crash_between_snapshot_and_journal_restart_replays_nothing_twice(
    tmp_path: Path, journaled: Journaled
) -> None:
    journal = tmp_path / "j.jsonl"
    ex = journaled("quiet", clock=ManualClock(), journal=journal)
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    place(ex, a, BookSide.BID, "0.62", 120, tif=TimeInForce.IOC)
    old_journal = journal.read_bytes()
    before = state(ex)
    ex.compact()
    journal.write_bytes(old_journal)  # as if the process died before restarting the journal
    again = journaled("quiet", clock=ManualClock(), journal=journal)
    assert state(again) == before
    place(again, a, BookSide.BID, "0.10", 1)
    assert len(journaled("quiet", clock=ManualClock(), journal=journal).history.orders(a)) == 2


def test_tick_compacts_after_enough_records(tmp_path: Path, journaled: Journaled) -> None:
    journal = tmp_path / "j.jsonl"
    ex = journaled(None, clock=ManualClock(), journal=journal, snapshot_every=3)
    for key in "abc":
        ex.accounts.create_account(key_id=key, public_key_pem="", cash_cents=1)
    ex.tick()
    assert (tmp_path / "j.jsonl.snapshot").exists()
    assert journal.read_text().count("\n") == 1
    assert len(journaled(None, clock=ManualClock(), journal=journal).accounts.accounts) == 3


def test_a_pause_cancelling_cancel_order_on_pause_orders_replays_identically(
    tmp_path: Path, journaled: Journaled
) -> None:
    journal = tmp_path / "pause.jsonl"
    clock = ManualClock()
    ex = journaled("quiet", clock=clock, journal=journal)
    a = ex.accounts.create_account(key_id="a", public_key_pem="PEM", cash_cents=100_00).account_id
    ticker = "KXHIGHNY-SIM-D1-T60"
    flagged = place(ex, a, BookSide.BID, "0.05", 2, ticker=ticker, cancel_order_on_pause=True)
    kept = place(ex, a, BookSide.BID, "0.04", 2, ticker=ticker)
    clock.advance(1)
    ex.settlement.set_market_status(ticker, "paused")
    assert (ex.history.order(a, flagged).status, ex.history.order(a, kept).status) == (
        "canceled",
        "resting",
    )
    before = state(ex)

    again = journaled("quiet", clock=ManualClock(start=clock.wall() + 100), journal=journal)
    assert state(again) == before
    assert again.history.order(a, flagged).cancel_order_on_pause is True


def test_a_scheduled_fee_change_replays_identically(tmp_path: Path, journaled: Journaled) -> None:
    journal = tmp_path / "exchange.jsonl"
    clock = ManualClock()
    ex = journaled("quiet", clock=clock, journal=journal)
    series = ex.reference.markets["KXFEDDECISION-SIM-DEC-H0"].series_ticker
    a = ex.accounts.create_account(key_id="a", public_key_pem="PEM", cash_cents=100_00).account_id
    b = ex.accounts.create_account(key_id="b", public_key_pem="", cash_cents=100_00).account_id
    change = ex.schedule_fee_change(series, "quadratic_with_maker_fees", "3", clock.wall() + 10)
    place(ex, b, BookSide.ASK, "0.70", 20)
    place(ex, a, BookSide.BID, "0.70", 5)  # before the change
    clock.advance(10)
    place(ex, a, BookSide.BID, "0.70", 5)  # after it: three times the taker rate, maker fees
    fees = [f.fee for f in ex.history.fills(a)]
    assert fees[0] > fees[1]  # newest first
    before = state(ex)

    again = journaled("quiet", clock=ManualClock(start=clock.wall() + 100), journal=journal)
    assert state(again) == before
    assert again.reference.fees.fee_changes(series) == [change]
    again.compact()
    third = journaled("quiet", clock=ManualClock(start=clock.wall() + 200), journal=journal)
    assert third.reference.fees.fee_changes(series) == [change] and state(third) == before


def test_an_order_sent_to_the_back_of_its_queue_stays_there_after_a_restart(
    tmp_path: Path, journaled: Journaled
) -> None:
    journal = tmp_path / "exchange.jsonl"
    ex = journaled("quiet", clock=ManualClock(), journal=journal)
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    first = place(ex, a, BookSide.BID, "0.03", 3)
    second = place(ex, a, BookSide.BID, "0.03", 5)
    level = ex.desk.queue_position(a, first)  # what rested at 0.03 before ours
    assert ex.desk.queue_position(a, second) == level + 3
    book = ex.engine.book("KXFEDDECISION-SIM-DEC-H0")
    ex.desk.to_back_of_queue(a, first)
    assert (ex.desk.queue_position(a, first), ex.desk.queue_position(a, second)) == (
        level + 5,
        level,
    )
    assert ex.engine.book("KXFEDDECISION-SIM-DEC-H0") == book  # the levels are as they were
    again = journaled("quiet", clock=ManualClock(), journal=journal)
    assert (again.desk.queue_position(a, first), again.desk.queue_position(a, second)) == (
        level + 5,
        level,
    )
    ex.desk.cancel_order(a, second)
    with pytest.raises(ExchangeError):  # only a resting order has a place to move
        ex.desk.to_back_of_queue(a, second)
