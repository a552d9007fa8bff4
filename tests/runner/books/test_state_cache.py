"""The loop reads the trading state, the day's trips and P&L again only when the state file
changed, and still sees every change on its next tick.

What must hold, whatever is cached: a HALTED, SAFE_MODE or circuit-breaker trip written by
another process (`kalshi halt`, `cancel-all`, a second connection) between two ticks is seen on
the next tick, even one driven by the feed rather than a full pass, and withdraws the loop's
quotes; a state the loop writes itself is seen by its own next read; a failed read of the file
fails the tick as it always did, never answered from what was read before. On the fakes, with
a ManualClock; the halting process is a real `kalshi` process where it says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.store import FillRecord, Store, StoreError
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START, Rig, make_rig

RigMaker = Callable[..., Rig]


@pytest.fixture
def new_rig() -> Iterator[RigMaker]:
    """`make_rig`, with every rig's entry log closed at the end of the test, passed or not."""
    made: list[Rig] = []

    def make(*args: Any, **kwargs: Any) -> Rig:
        made.append(make_rig(*args, **kwargs))
        return made[-1]

    yield make
    for rig in made:
        rig.loop.log.close()


def _resting(rig: Rig) -> list[Any]:
    return [o for o in rig.exchange.history.orders(rig.client.account_id) if o.status == "resting"]


def _warm(new_rig: RigMaker, tmp_path: Path) -> tuple[Rig, Path]:
    """A market maker quoting every market, after full passes and feed-driven ticks over more
    than a heartbeat interval: every answer the loop caches has been read and used."""
    log = tmp_path / "loop.jsonl"
    rig = new_rig(tmp_path / "s.db", strategy="market-maker", log_path=log)
    rig.step(0.1)
    for _ in range(6):
        rig.clock.advance(0.3)
        rig.loop.tick([], full=False)
    rig.step(0.1)
    rig.loop.tick([], full=False)
    assert _resting(rig), "the market maker quotes every market"
    assert _states(log) == ["ACTIVE"]
    return rig, log


def _states(log: Path) -> list[str]:
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return [e["state"] for e in events if e["event"] == "trading_state"]


def _feed_tick(rig: Rig) -> None:
    """A tick driven by the feed (no full pass), with no book change in it."""
    rig.clock.advance(0.01)
    rig.loop.tick([], full=False)


def _no_order_after(rig: Rig) -> None:
    """Book changes and full passes for a few seconds: not one order is sent."""
    sent = len(rig.client.requests)
    for _ in range(8):
        rig.step(0.5)
    assert len(rig.client.requests) == sent
    assert _resting(rig) == []


def test_kalshi_halt_in_another_process_is_seen_on_the_next_tick(
    new_rig: RigMaker, tmp_path: Path
) -> None:
    rig, log = _warm(new_rig, tmp_path)
    env = {
        **os.environ,
        "KALSHI_HOME": str(tmp_path / "home"),
        "KALSHI_ENV": "sim",
        "KALSHI_STATE": str(tmp_path / "s.db"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli", "halt", "--reason", "news pending"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    _feed_tick(rig)

    assert _states(log) == ["ACTIVE", "HALTED"]
    assert _resting(rig) == [], "the quotes go in the tick that sees HALTED"
    _no_order_after(rig)


@pytest.mark.parametrize("state", ["HALTED", "SAFE_MODE", "REDUCING"])
def test_a_state_written_by_another_connection_is_seen_on_the_next_tick(
    new_rig: RigMaker, tmp_path: Path, state: str
) -> None:
    rig, log = _warm(new_rig, tmp_path)
    with Store.open(tmp_path / "s.db") as other:
        other.trading.set_trading_state(state, reason="by another process", source="cancel-all")

    _feed_tick(rig)

    assert _states(log) == ["ACTIVE", state]
    assert _resting(rig) == []


def test_a_resume_by_another_connection_is_seen_on_the_next_tick(
    new_rig: RigMaker, tmp_path: Path
) -> None:
    rig, log = _warm(new_rig, tmp_path)
    with Store.open(tmp_path / "s.db") as other:
        other.trading.set_trading_state("HALTED", reason="by hand", source="kalshi halt")
    _feed_tick(rig)
    _feed_tick(rig)
    with Store.open(tmp_path / "s.db") as other:
        other.trading.set_trading_state("ACTIVE", reason="resumed", source="kalshi resume")

    _feed_tick(rig)

    assert _states(log) == ["ACTIVE", "HALTED", "ACTIVE"]


def test_a_circuit_breaker_tripped_by_another_connection_is_seen_on_the_next_tick(
    new_rig: RigMaker,
    tmp_path: Path,
) -> None:
    rig, _ = _warm(new_rig, tmp_path)
    today = utc_day(rig.clock.wall())
    with Store.open(tmp_path / "s.db") as other:
        other.trading.record_risk_trip(
            rule="circuit_breaker",
            code="CIRCUIT_BREAKER",
            detail="tripped by another process",
            day=today,
        )

    _feed_tick(rig)

    assert rig.loop.questions.risk.check_circuit_breaker()
    assert _resting(rig) == [], "the breaker's block withdraws the quotes in that tick"
    _no_order_after(rig)


@pytest.mark.parametrize("how", ["deleted", "replaced", "moved"])
def test_a_state_file_deleted_replaced_or_moved_under_the_loop_is_safe_mode_on_the_next_tick(
    new_rig: RigMaker, tmp_path: Path, how: str
) -> None:
    """The loop's connection holds the file it opened: once the path names another file (or
    none), a `kalshi halt` there never reaches it, so it stops adding orders itself."""
    rig, log = _warm(new_rig, tmp_path)
    path = tmp_path / "s.db"
    if how == "deleted":
        path.unlink()
    elif how == "moved":
        path.rename(tmp_path / "elsewhere.db")
    else:
        Store.open(tmp_path / "new.db").close()
        os.replace(tmp_path / "new.db", path)

    _feed_tick(rig)

    assert _states(log) == ["ACTIVE", "SAFE_MODE"]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    (safe,) = [e for e in events if e["event"] == "trading_state" and e["state"] == "SAFE_MODE"]
    assert str(path) in safe["reason"]
    assert _resting(rig) == [], "its quotes go in the tick that sees it"
    _no_order_after(rig)


def test_the_loops_own_safe_mode_is_seen_by_its_own_next_read(
    new_rig: RigMaker, tmp_path: Path
) -> None:
    rig = new_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk={"max_consecutive_errors": 1, "backoff_max_s": 600.0},
        log_path=tmp_path / "loop.jsonl",
    )
    rig.step(0.1)
    for _ in range(4):
        _feed_tick(rig)
    assert _resting(rig)
    # a fill read answered 503 trips SAFE_MODE, written by the loop's own connection
    rig.client.fills_error = ServerError("request failed: HTTP 503", status=503)
    rig.loop.executor.fills_due = True
    _feed_tick(rig)
    rig.client.fills_error = None

    assert rig.loop.questions.risk.state() == "SAFE_MODE"
    assert _states(tmp_path / "loop.jsonl") == ["ACTIVE", "SAFE_MODE"]
    assert _resting(rig) == []


def test_the_loops_own_circuit_breaker_is_seen_by_its_own_next_read(
    new_rig: RigMaker, tmp_path: Path
) -> None:
    log = tmp_path / "loop.jsonl"
    rig = new_rig(
        tmp_path / "s.db", strategy="market-maker", risk={"daily_loss_limit": 5}, log_path=log
    )
    rig.step(0.1)
    for _ in range(4):
        _feed_tick(rig)
    assert _resting(rig)
    ticker = _resting(rig)[0].ticker
    # the loop's own connection records a fill that loses the day's limit; the next full pass
    # trips the breaker, which writes REDUCING through that same connection
    rig.store.fills.record_fill(
        FillRecord(
            "f-loss",
            "o-1",
            None,
            ticker,
            BookSide.BID,
            Decimal("0.5"),
            Decimal("1"),
            Decimal("0"),
            True,
            rig.clock.wall(),
            "market-maker",
            Decimal("-5"),
        )
    )
    rig.step(0.1)
    assert rig.store.trading.trading_state().state == "REDUCING"

    _feed_tick(rig)

    assert rig.loop.questions.risk.state() == "REDUCING"
    assert _states(log) == ["ACTIVE", "REDUCING"]
    assert _resting(rig) == []


def test_the_circuit_breaker_of_a_day_is_lifted_on_the_first_tick_of_the_next(
    new_rig: RigMaker, tmp_path: Path
) -> None:
    """The tick asks the breaker again when the UTC day turns, though nothing was written to
    the state file since it last asked: the first feed-driven tick past midnight lifts the
    REDUCING of the day before, and the next one sees trading ACTIVE."""
    log = tmp_path / "loop.jsonl"
    clock = ManualClock(START - 2.0)  # two seconds before midnight UTC
    rig = new_rig(
        tmp_path / "s.db", strategy="spike", clock=clock, risk={"daily_loss_limit": 5}, log_path=log
    )
    rig.step(0.1)
    ticker = next(iter(rig.exchange.reference.markets))
    rig.store.fills.record_fill(
        FillRecord(
            "f-loss",
            "o-1",
            None,
            ticker,
            BookSide.BID,
            Decimal("0.5"),
            Decimal("1"),
            Decimal("0"),
            True,
            rig.clock.wall(),
            "spike",
            Decimal("-5"),
        )
    )
    rig.step(0.1)
    _feed_tick(rig)
    assert _states(log) == ["ACTIVE", "REDUCING"]

    rig.clock.advance(2.0)  # past midnight
    _feed_tick(rig)  # lifts it (the watch reads the state before the breaker is asked) ...
    _feed_tick(rig)  # ... and sees it lifted

    assert _states(log) == ["ACTIVE", "REDUCING", "ACTIVE"]
    assert rig.store.trading.trading_state().reason == "new UTC day"


def test_a_failed_read_of_the_state_file_fails_the_tick_with_the_cache_warm(
    new_rig: RigMaker,
    tmp_path: Path,
) -> None:
    rig, _ = _warm(new_rig, tmp_path)
    rig.store.close()  # every read of the file fails from here on

    with pytest.raises(StoreError, match="closed"):
        rig.loop.tick([], full=False)
    with pytest.raises(StoreError, match="closed"):
        rig.loop.questions.risk.state()


def test_data_version_moves_for_another_connections_commit_and_total_changes_for_our_own(
    tmp_path: Path,
) -> None:
    """The two counters the cache is keyed on, as SQLite documents them (docs/trade-loop.md):
    `PRAGMA data_version` changes when another connection commits and never for this
    connection's own writes; this connection's own writes move `total_changes`."""
    with Store.open(tmp_path / "s.db") as ours, Store.open(tmp_path / "s.db") as theirs:
        version, changes = ours.data_version(), ours.total_changes
        ours.trading.set_trading_state("HALTED", reason="ours", source="test")
        assert ours.data_version() == version
        assert ours.total_changes > changes

        changes = ours.total_changes
        theirs.trading.set_trading_state("ACTIVE", reason="theirs", source="test")
        assert ours.data_version() != version
        assert ours.total_changes == changes
        assert ours.trading.trading_state().state == "ACTIVE"


def test_a_state_read_inside_a_transaction_that_rolls_back_is_not_kept(tmp_path: Path) -> None:
    """A rollback leaves `total_changes` where the undone writes took it, so an answer read
    inside the transaction would look current afterwards: none is kept there."""
    with Store.open(tmp_path / "s.db") as store:
        store.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
        records = LoopTradingRecords(store)
        assert records.trading_state().state == "HALTED"
        with pytest.raises(RuntimeError), store.transaction():
            store.trading.set_trading_state("ACTIVE", reason="undone", source="test")
            assert records.trading_state().state == "ACTIVE"
            raise RuntimeError("rolled back")

        assert records.trading_state().state == "HALTED"


def test_inside_a_tick_the_loops_own_write_is_seen_by_its_next_read(tmp_path: Path) -> None:
    """Within a tick the file is compared once, as the tick's own questions begin; a state this
    connection writes in between (the circuit breaker's REDUCING, the API guard's SAFE_MODE)
    is still what the next question reads."""
    with Store.open(tmp_path / "s.db") as store:
        records = LoopTradingRecords(store)
        with records.tick(full=True):
            assert records.trading_state().state == "ACTIVE"
            records.set_trading_state("REDUCING", reason="loss", source="circuit_breaker")
            assert records.trading_state().state == "REDUCING"
            store.trading.set_trading_state("SAFE_MODE", reason="errors", source="api_error_guard")
            assert records.trading_state().state == "SAFE_MODE"


def test_outside_the_ticks_own_questions_another_connections_write_is_seen_at_once(
    tmp_path: Path,
) -> None:
    """An order's risk context asks between ticks' own questions: it compares afresh."""
    with Store.open(tmp_path / "s.db") as store, Store.open(tmp_path / "s.db") as other:
        records = LoopTradingRecords(store)
        with records.tick(full=False):
            assert records.trading_state().state == "ACTIVE"
        other.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
        assert records.trading_state().state == "HALTED"


def test_a_pnl_read_inside_a_transaction_that_rolls_back_is_not_kept(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        now = store.clock.wall()
        day = utc_day(now)
        records = LoopTradingRecords(store)
        with records.tick(full=True):
            pass
        gain = FillRecord(
            "f-gain", "o-1", None, "T", BookSide.BID, Decimal("0.5"), Decimal(1), Decimal(0),
            True, now, "s", Decimal(50),
        )  # fmt: skip
        with pytest.raises(RuntimeError), store.transaction():
            store.fills.record_fill(gain)
            assert records.daily_realized_pnl(day) == Decimal(50)
            assert records.risk_trips(day=day) == []
            raise RuntimeError("rolled back")
        # the circuit breaker is told what the file holds, not what a rolled-back write read
        assert records.daily_realized_pnl(day) == store.trading.daily_realized_pnl(day) == 0


def test_a_fill_another_process_recorded_first_is_not_counted_twice_in_the_kept_pnl(
    tmp_path: Path,
) -> None:
    from kalshi_cli.services.pnl import fill_record_from_api
    from kalshi_cli.services.reconcile import backfill_realized
    from kalshi_cli.vocabulary.models import Fill

    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    try:
        ticker = next(iter(rig.loop.portfolio.markets))
        ts = int(rig.clock.wall())

        def fill(n: str, side: BookSide, price: str) -> Fill:
            return Fill(
                fill_id=n, trade_id=n, order_id="o-" + n, ticker=ticker, book_side=side,
                count=Decimal(10), yes_price=Decimal(price), is_taker=True, fee=Decimal(0),
                created_time="2026-01-01T00:00:00Z", ts=ts,
            )  # fmt: skip

        rig.loop.executor.fills.apply(fill("f1", BookSide.BID, "0.40"))  # buys 10 YES at 0.40
        rig.loop.gate.toggle_pause()  # full passes that place nothing
        rig.loop.tick([], full=True)
        sell = fill("f2", BookSide.ASK, "0.60")  # sells them at 0.60: +2.00
        with Store.open(tmp_path / "s.db") as other:  # `kalshi reconcile` copies it first
            other.fills.record_fill(fill_record_from_api(sell, read_at=rig.clock.wall()))
            backfill_realized(other)
        day = utc_day(rig.clock.wall())
        rig.loop.questions.risk.state()  # an order's risk context: the other commit is seen
        assert rig.loop.questions.records.daily_realized_pnl(day) == Decimal(2)  # and its P&L kept
        rig.loop.executor.fills.apply(sell)  # then the loop's own fill listing brings it
        assert rig.store.trading.daily_realized_pnl(day) == Decimal(2)
        for _ in range(3):
            rig.clock.advance(1.0)
            rig.loop.tick([], full=True)
            assert rig.loop.questions.records.daily_realized_pnl(day) == Decimal(2), "counted twice"
    finally:
        rig.loop.log.close()


def test_inside_one_transaction_the_file_is_compared_once_and_each_answer_read_once(
    tmp_path: Path,
) -> None:
    """A drain books its answers in one transaction, and each replacement's risk check asks
    the trading state, the day's P&L and trips. The write lock is held from the transaction's
    start, so no other connection commits until it ends: what one committed before is seen,
    the file is compared once, and each answer is read once and kept until this connection
    writes or rolls back (the rollback case above)."""
    with Store.open(tmp_path / "s.db") as store, Store.open(tmp_path / "s.db") as other:
        day = utc_day(store.clock.wall())
        records = LoopTradingRecords(store)
        assert records.trading_state().state == "ACTIVE"
        other.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        with store.transaction():
            rounds = []
            for _ in range(3):
                assert records.trading_state().state == "HALTED"
                assert records.daily_realized_pnl(day) == 0
                assert records.risk_trips(day=day) == []
                rounds.append(len(statements))
        assert rounds[0] > 1, "the first round read the file"
        assert rounds[2] == rounds[0], "the later rounds read nothing"
        assert sum("data_version" in s for s in statements) == 1


def test_another_connections_commit_between_two_transactions_is_seen_inside_the_second(
    tmp_path: Path,
) -> None:
    """`data_version` is read once per write transaction, not once for all of them: a HALTED
    written by `kalshi halt` between two drains is what the next drain's risk checks read."""
    with Store.open(tmp_path / "s.db") as store, Store.open(tmp_path / "s.db") as other:
        records = LoopTradingRecords(store)
        with store.transaction():
            assert records.trading_state().state == "ACTIVE"
        other.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
        with store.transaction():
            assert records.trading_state().state == "HALTED"


def test_an_answer_read_inside_a_savepoint_that_rolls_back_is_not_kept(tmp_path: Path) -> None:
    """A booking's own transaction is a savepoint of the drain's: when it rolls back (an intent
    refused, an answer that could not be written) and the drain goes on, the trading state and
    the day's P&L read inside it are read again, for the bookings after it."""
    with Store.open(tmp_path / "s.db") as store:
        now = store.clock.wall()
        day = utc_day(now)
        records = LoopTradingRecords(store)
        gain = FillRecord(
            "f-gain", "o-1", None, "T", BookSide.BID, Decimal("0.5"), Decimal(1), Decimal(0),
            True, now, "s", Decimal(50),
        )  # fmt: skip
        with store.transaction():
            assert records.trading_state().state == "ACTIVE"
            assert records.daily_realized_pnl(day) == 0
            with pytest.raises(RuntimeError), store.transaction():
                store.fills.record_fill(gain)
                records.add_realized(now, Decimal(50))
                store.trading.set_trading_state("HALTED", reason="undone", source="test")
                assert records.trading_state().state == "HALTED"
                assert records.daily_realized_pnl(day) == Decimal(50)
                raise RuntimeError("rolled back")
            assert records.trading_state().state == "ACTIVE"
            assert records.daily_realized_pnl(day) == 0


def _fill(fill_id: str, ts: float, realized: str) -> FillRecord:
    return FillRecord(
        fill_id, "o-" + fill_id, None, "T", BookSide.BID, Decimal("0.5"), Decimal(1), Decimal(0),
        True, ts, "s", Decimal(realized),
    )  # fmt: skip


def test_a_fill_the_loop_writes_moves_the_kept_pnl_by_its_realized_amount(tmp_path: Path) -> None:
    """The loop's own fill does not drop the kept P&L (only a full pass does): it is added to
    the day's total, so the circuit breaker sees the loss between full passes."""
    with Store.open(tmp_path / "s.db") as store:
        now = store.clock.wall()
        day = utc_day(now)
        records = LoopTradingRecords(store)
        store.fills.record_fill(_fill("f-1", now, "-5"))
        assert records.daily_realized_pnl(day) == Decimal(-5)
        store.fills.record_fill(_fill("f-2", now, "-20"))
        records.add_realized(now, Decimal(-20))

        assert records.daily_realized_pnl(day) == Decimal(-25)
        assert records.daily_realized_pnl(day) == store.trading.daily_realized_pnl(day)


def test_a_fill_another_process_wrote_within_the_tick_is_read_from_the_file_once_forgotten(
    tmp_path: Path,
) -> None:
    """Within a tick another connection's commit is not compared for: a fill the loop finds
    already written (a reconcile copied it first) is in the file but not in the kept total, so
    the day's P&L is read again; a day not kept is left to be read when asked."""
    with Store.open(tmp_path / "s.db") as store, Store.open(tmp_path / "s.db") as other:
        now = store.clock.wall()
        day = utc_day(now)
        records = LoopTradingRecords(store)
        records.forget_realized(now)  # nothing kept for the day yet
        with records.tick(full=False):
            assert records.daily_realized_pnl(day) == 0
            other.fills.record_fill(_fill("f-loss", now, "-30"))
            records.forget_realized(now)

            assert records.daily_realized_pnl(day) == Decimal(-30)


def test_the_trips_of_each_rule_and_day_are_kept_apart(tmp_path: Path) -> None:
    """The circuit breaker asks for its own rule's trips of one day: a trip of another rule,
    or of another day, is not its answer, and its own trip is not hidden by theirs."""
    with Store.open(tmp_path / "s.db") as store:
        today = utc_day(store.clock.wall())
        yesterday = utc_day(store.clock.wall() - 86_400)
        records = LoopTradingRecords(store)
        records.record_risk_trip(
            rule="strategy_guard", code="SAFE_MODE", detail="raised", ticker="T", day=today
        )
        records.record_risk_trip(
            rule="circuit_breaker", code="CIRCUIT_BREAKER", detail="loss", day=yesterday
        )

        trips = store.trading.risk_trips
        [guard] = trips(day=today)
        [breaker] = trips(rule="circuit_breaker")
        assert (guard.rule, guard.ticker) == ("strategy_guard", "T")
        assert breaker.day == yesterday
        asked = [(None, today), ("circuit_breaker", today), ("circuit_breaker", yesterday)]
        for rule, day in asked:
            assert list(records.risk_trips(rule=rule, day=day)) == trips(rule=rule, day=day)
        assert records.risk_trips(rule="circuit_breaker", day=today) == []
