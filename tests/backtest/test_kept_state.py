"""A backtest's state: a run whose state is kept (`--keep-state`) writes each order's history as
`kalshi trade` does; a run nobody keeps writes none of it (nothing in a replay reads it), and
every row the report and the run read is the same in both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
# the tables as the report and the loop read them, without the ids each run draws afresh;
# `orders` without when an order was last amended
READ = {
    "orders": "SELECT ticker, book_side, price, count, side, action, status, filled, remaining, "
    "strategy, model_fair, reason, error, created_at, updated_at, time_in_force, post_only, "
    "reduce_only, subaccount FROM orders ORDER BY rowid",
    "fills": "SELECT ticker, book_side, yes_price, count, fee, is_taker, ts, strategy, "
    "realized_pnl, subaccount FROM fills ORDER BY rowid",
    "settlements": "SELECT * FROM settlements ORDER BY rowid",
    "trading_state_history": "SELECT * FROM trading_state_history ORDER BY id",
    "amends_in_flight": "SELECT price, total, at FROM amends_in_flight ORDER BY id",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("mm"), seconds=120, tickers=[LAL])


def rows(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    return list(conn.execute(sql).fetchall())


def test_a_kept_run_writes_every_orders_history_and_one_not_kept_writes_none(
    data: Path, tmp_path: Path
) -> None:
    spec = BacktestSpec(data=str(data), strategy="market-maker")
    kept_path = tmp_path / "kept.db"
    kept = execute(spec, keep_state=kept_path)
    kept_report = build_report(kept)
    kept.store.close()
    plain = execute(spec)
    try:
        plain_report = build_report(plain)
        mine = plain.store._conn  # the run's own connection: the database lives in it
        with sqlite3.connect(kept_path) as saved:
            assert plain_report["totals"] == kept_report["totals"]
            assert kept_report["totals"]["amends"] > 0, "the run must amend to prove anything"
            for table, sql in READ.items():
                assert rows(mine, sql) == rows(saved, sql), table
            # the kept file: a history row for each order's every change, amends included,
            # and when each amended order was last amended
            ((orders,),) = rows(saved, "SELECT count(*) FROM orders")
            ((amended,),) = rows(saved, "SELECT count(*) FROM orders WHERE amend_sent_at > 0")
            ((sent,),) = rows(saved, "SELECT count(*) FROM order_history WHERE note LIKE 'amend%'")
            assert isinstance(orders, int) and isinstance(amended, int) and isinstance(sent, int)
            assert orders > 0 and amended > 0
            assert sent >= kept_report["totals"]["amends"]
            # the run nobody keeps: none of it
            assert rows(mine, "SELECT count(*) FROM order_history") == [(0,)]
            assert rows(mine, "SELECT count(*) FROM orders WHERE amend_sent_at IS NOT NULL") == [
                (0,)
            ]
    finally:
        plain.store.close()


def test_a_store_made_not_to_be_kept_is_never_saved(tmp_path: Path) -> None:
    store = Store.in_memory(clock=SystemClock(), kept=False)
    try:
        with pytest.raises(ValueError, match="not to be kept"):
            store.backup_to(tmp_path / "state.db")
    finally:
        store.close()
    assert not (tmp_path / "state.db").exists()
