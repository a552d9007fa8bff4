"""Retention on a state file aged by the test: every row written at a time the clock chose, then
the clock moved on and the policy applied. What the policy lets go is gone; what an open order,
an unresolved intent, P&L or reconciliation still reads stays, and `kalshi pnl`'s figures are the
same to the last digit before and after."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.services.pnl import summarize_store
from kalshi_cli.store import FillRecord, IntentRecord, RetentionPolicy, SettlementRecord, Store
from kalshi_cli.store.records import NOT_ON_EXCHANGE
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import Action, BookSide, Side

DAY = 86_400.0
START = 1_760_000_000.0  # the first row's time
# the defaults but a shorter trading state history, in batches of 3 rows
POLICY = RetentionPolicy(batch_rows=3, pause_s=0, trading_state_history_s=30 * DAY)
_ids = itertools.count(1)


def intent(store: Store, ticker: str = "A", *, strategy: str | None = "mm") -> str:
    coid = f"c{next(_ids)}"
    store.orders.record_intent(
        IntentRecord(
            coid, ticker, BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY, strategy=strategy
        )
    )
    return coid


def sent(store: Store, status: str, *, filled: int = 0, ticker: str = "A") -> tuple[str, str]:
    coid = intent(store, ticker)
    order_id = f"o-{coid}"
    store.orders.mark_sent(
        coid,
        order_id=order_id,
        status="resting",
        fill_count=D(0),
        remaining_count=D(10),
    )
    if status != "resting":
        store.orders.update_order(
            order_id=order_id,
            status=status,
            fill_count=D(filled),
            remaining_count=D(0),
        )
    return coid, order_id


def fill(store: Store, order_id: str, count: int, *, ticker: str = "A", side: str = "bid") -> None:
    store.fills.record_fill(
        FillRecord(
            fill_id=f"f{next(_ids)}",
            order_id=order_id,
            client_order_id=None,
            ticker=ticker,
            book_side=BookSide(side),
            yes_price=D("0.4123") if side == "bid" else D("0.5577"),
            count=D(count),
            fee=D("0.0169"),
            is_taker=True,
            ts=store.clock.wall(),
            strategy="mm" if side == "bid" else "spike",
        )
    )


def aged_file(path: Path, clock: ManualClock) -> dict[str, str]:
    """A state file with rows of every age; returns the client order ids by what they are."""
    names: dict[str, str] = {}
    with Store.open(path, clock=clock) as store:
        # 100 days ago: a history of fills over several days, markets, strategies, a settlement
        for _day in range(5):
            for ticker in ("A", "B"):
                coid, order_id = sent(store, "executed", filled=10, ticker=ticker)
                fill(store, order_id, 6, ticker=ticker)
                fill(store, order_id, 4, ticker=ticker)
                _, sold = sent(store, "canceled", filled=3, ticker=ticker)
                fill(store, sold, 3, ticker=ticker, side="ask")
            clock.advance(DAY / 3)
        store.settlements.record_settlement(
            SettlementRecord("A", "E", "yes", D(0), D(0), D(0), D(0), D(0), D("0.01"), clock.wall())
        )
        names["old_filled"] = coid
        names["old_uncovered"], _ = sent(store, "executed", filled=10)  # its fills never came
        names["old_resting"], _ = sent(store, "resting")
        names["old_pending"] = intent(store)
        names["old_unknown"] = intent(store)
        store.orders.mark_unknown(names["old_unknown"], reason="timeout")
        names["old_never_placed"] = intent(store)
        store.orders.mark_unknown(names["old_never_placed"], reason="timeout")
        store.orders.mark_rejected(
            names["old_never_placed"], reason=f"{NOT_ON_EXCHANGE} 60s after an unknown outcome"
        )
        names["old_refused"] = intent(store)
        store.orders.mark_rejected(names["old_refused"], reason="400 invalid price")
        names["old_canceled"], _ = sent(store, "canceled")
        store.entries.log_entry("kill_switch", {"n": 1})
        store.entries.log_entry("fill_quarantined", {"fill_id": "x"})
        store.alerts.record_alert(
            "gone", status="resolved", severity="info", summary="s", sent=True
        )
        store.alerts.record_alert("still", status="firing", severity="crit", summary="s", sent=True)
        store.trading.record_risk_trip(rule="breaker", code="DAILY_LOSS", detail="old")
        store.trading.set_trading_state("HALTED", reason="old halt", source="cli")
        clock.advance(98 * DAY)
        # 2 days ago: a partly filled order whose fills are here (kept 30 days, its history 1)
        names["recent_filled"], order_id = sent(store, "canceled", filled=2, ticker="B")
        fill(store, order_id, 2, ticker="B")
        clock.advance(2 * DAY)
        # now: what the loop does at this moment
        names["new_canceled"], _ = sent(store, "canceled")
        store.entries.log_entry("kill_switch", {"n": 2})
        store.trading.record_risk_trip(rule="breaker", code="DAILY_LOSS", detail="today")
        store.trading.set_trading_state("ACTIVE", reason="resume", source="cli")
    return names


def figures(store: Store) -> tuple[object, ...]:
    summary = summarize_store(store)
    positions = {
        t: (m.position, m.basis, m.realized_gross, m.fees, m.fills, m.settled)
        for t, m in summary.engine.markets.items()
    }
    since = summarize_store(store, since=START + DAY).to_json()
    daily = store.trading.daily_realized_pnl("2025-10-10")
    return summary.to_json(), positions, since, daily


def test_pruning_an_aged_file_keeps_what_pnl_and_open_orders_need(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "state.db"
    names = aged_file(path, clock)
    with Store.open(path, clock=clock) as store:
        before = figures(store)
        fills_before = [f.fill_id for f in store.fills.iter_fills()]
        dry = store.retention.prune(POLICY, agent_strategy=AGENT, dry_run=True)
        assert store.total_changes == 0  # a dry run writes nothing
        report = store.retention.prune(POLICY, agent_strategy=AGENT)
        assert report.removed == dry.removed
        kept = {name: store.orders.get_intent(coid) for name, coid in names.items()}

        # what may still rest, or is not yet known: kept whole
        for name in ("old_resting", "old_pending", "old_unknown"):
            assert kept[name] is not None, name
            assert store.orders.order_history(names[name]), name
        # what reconcile checks again: kept (its history, of a finished order, is not)
        assert kept["old_never_placed"] is not None
        assert kept["old_uncovered"] is not None  # a fill of it may still be copied
        # finished and old enough, their fills (if any) in the file: gone with their history
        for name in ("old_filled", "old_refused", "old_canceled"):
            assert kept[name] is None, name
            assert store.orders.order_history(names[name]) == [], name
        # a finished order inside its window stays, its history past one day does not
        assert kept["recent_filled"] is not None
        assert store.orders.order_history(names["recent_filled"]) == []
        assert store.orders.order_history(names["new_canceled"])
        assert kept["new_canceled"] is not None

        assert [e.kind for e in store.entries.read()] == ["fill_quarantined", "kill_switch"]
        assert store.alerts.alert_state("gone") is None
        assert store.alerts.alert_state("still") is not None
        assert store.alerts.alert_log() == []
        assert [t.detail for t in store.trading.risk_trips()] == ["today"]
        assert store.trading.trading_state().state == "ACTIVE"
        assert [h.reason for h in store.trading.trading_state_history()] == ["resume"]

        # fills are never pruned, and every P&L figure is the same to the last digit
        assert [f.fill_id for f in store.fills.iter_fills()] == fills_before
        assert figures(store) == before
        assert store.integrity_check() == "ok"
        # the 5 days' 10 executed and 10 partly filled, the refused one and the old canceled one
        assert report.removed["orders"] == 22
        assert store.retention.prune(POLICY, agent_strategy=AGENT).total == 0  # nothing more to do


def test_a_policy_of_nulls_keeps_everything(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "state.db"
    aged_file(path, clock)
    keep_all = RetentionPolicy(
        unfilled_orders_s=None,
        filled_orders_s=None,
        order_history_s=None,
        events_s=None,
        alert_log_s=None,
        risk_trips_s=None,
        trading_state_history_s=None,
    )
    with Store.open(path, clock=clock) as store:
        assert store.retention.prune(keep_all, agent_strategy=AGENT).total == 0
        assert store.total_changes == 0


def test_a_stop_between_batches_ends_the_prune_with_each_batch_whole(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "state.db"
    aged_file(path, clock)
    with Store.open(path, clock=clock) as store:
        asked: list[int] = []

        def stop() -> bool:
            asked.append(1)
            return len(asked) == 2

        first = store.retention.prune(POLICY, agent_strategy=AGENT, stop=stop)
        assert first.batches == 2
        assert first.removed["orders"] == 2 * POLICY.batch_rows  # two batches of orders
        rest = store.retention.prune(POLICY, agent_strategy=AGENT)
        full = rest.total + first.total
    clock2 = ManualClock(START)
    other = tmp_path / "other.db"
    aged_file(other, clock2)
    with Store.open(other, clock=clock2) as store:
        assert store.retention.prune(POLICY, agent_strategy=AGENT).total == full


def test_a_prune_pauses_after_each_batch_a_dry_run_never_and_each_says_how_long_it_took(
    tmp_path: Path,
) -> None:
    """The pause between batches gives the file's other writers their turn (the trade loop
    prunes in the background): a prune takes it after every batch, a dry run, which writes
    nothing, never. Each reports the seconds it took, stopped between batches or not."""
    clock = ManualClock(START)
    path = tmp_path / "state.db"
    aged_file(path, clock)
    paced = RetentionPolicy(batch_rows=3, pause_s=0.25, trading_state_history_s=30 * DAY)
    with Store.open(path, clock=clock) as store:
        for dry_run in (True, False):
            slept: list[float] = []
            began = time.monotonic()
            report = store.retention.prune(
                paced, agent_strategy=AGENT, dry_run=dry_run, sleep=slept.append
            )
            took = time.monotonic() - began
            assert report.batches > 1
            assert slept == ([] if dry_run else [0.25] * report.batches), dry_run
            assert 0 <= report.seconds <= took, dry_run
    again = ManualClock(START)
    aged_file(tmp_path / "again.db", again)
    with Store.open(tmp_path / "again.db", clock=again) as store:
        began = time.monotonic()
        stopped = store.retention.prune(paced, agent_strategy=AGENT, stop=lambda: True)
        assert stopped.batches == 1
        assert 0 <= stopped.seconds <= time.monotonic() - began


def test_a_file_from_before_0007_gets_the_fills_by_order_index(tmp_path: Path) -> None:
    import sqlite3

    from kalshi_cli.store import migrations as m

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [x for x in m.MIGRATIONS if x.name < "0007"])
        conn.execute(
            "INSERT INTO fills (fill_id, order_id, ticker, book_side, yes_price, count, fee, "
            "is_taker, ts) VALUES ('f1', 'o1', 'A', 'bid', '0.4', '10', '0.01', 1, 7.0)"
        )
    finally:
        conn.close()
    with Store.open(path, clock=ManualClock(START)) as store:
        assert "0007_fills_by_order" in [n for n, _ in store.applied_migrations()]
        plan = store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT count FROM fills WHERE order_id = 'o1'"
        ).fetchall()
        assert "fills_order" in " ".join(str(row[-1]) for row in plan)
        assert [f.fill_id for f in store.fills.iter_fills()] == ["f1"]
