"""A state file opened `exclusive` (a backtest's scratch file) is this connection's alone while it
is open: no other connection reads or writes it, so none of their commits can ever be missed."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.store import DuplicateIntentError, IntentRecord, Store
from kalshi_cli.vocabulary.units import Action, BookSide, Side


def _intent(coid: str) -> IntentRecord:
    return IntentRecord(
        coid, "T", BookSide.BID, Decimal("0.42"), Decimal("1"), Side.YES, Action.BUY
    )


def _other(path: Path) -> sqlite3.Connection:
    # another connection that does not wait for the lock (the store's own waits 10 s)
    return sqlite3.connect(path, isolation_level=None, timeout=0)


@pytest.mark.parametrize("sql", ["SELECT count(*) FROM orders", "DELETE FROM orders"])
def test_another_connection_is_refused_while_it_is_open(tmp_path: Path, sql: str) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, durable=False, exclusive=True) as store:
        store.orders.record_intent(_intent("c1"))
        other = _other(path)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute(sql).fetchall()
        other.close()
        assert [o.client_order_id for o in store.orders.open_orders()] == ["c1"]


def test_the_file_is_free_again_once_closed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path, durable=False, exclusive=True) as store:
        store.orders.record_intent(_intent("c1"))
    other = _other(path)
    assert other.execute("SELECT client_order_id FROM orders").fetchall() == [("c1",)]
    other.close()
    with Store.open(path) as again:
        assert [o.client_order_id for o in again.orders.open_orders()] == ["c1"]


def test_a_shared_file_sees_another_connections_commit(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store, Store.open(path) as other:
        before = store.data_version()
        other.orders.record_intent(_intent("c1"))
        assert store.data_version() != before


def test_a_scratch_file_keeps_no_wal_and_a_shared_one_does(tmp_path: Path) -> None:
    with Store.open(tmp_path / "scratch.db", durable=False, exclusive=True) as scratch:
        assert scratch._conn.execute("PRAGMA journal_mode").fetchone() == ("memory",)
        scratch.orders.record_intent(_intent("c1"))
        with pytest.raises(DuplicateIntentError), scratch.transaction():
            scratch.orders.record_intent(_intent("c2"))
            scratch.orders.record_intent(_intent("c1"))  # rolls the whole block back
        assert [o.client_order_id for o in scratch.orders.open_orders()] == ["c1"]
    assert not (tmp_path / "scratch.db-wal").exists()
    with Store.open(tmp_path / "held.db", exclusive=True) as held:
        assert held._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_trading_state_read_is_the_files_after_a_write_and_after_a_rollback(
    tmp_path: Path,
) -> None:
    # the file held exclusively keeps the state it read last (it is read before every order):
    # what this connection writes, commits or rolls back must still be what the next read says
    with Store.open(tmp_path / "scratch.db", durable=False, exclusive=True) as store:
        assert store.trading.trading_state().state == "ACTIVE"
        store.orders.record_intent(_intent("c0"))
        store.trading.set_trading_state("REDUCING", reason="breaker", source="test")
        assert store.trading.trading_state().state == "REDUCING"
        with pytest.raises(DuplicateIntentError), store.transaction():
            store.trading.set_trading_state("HALTED", reason="kill switch", source="test")
            assert store.trading.trading_state().state == "HALTED"
            store.orders.record_intent(_intent("c0"))  # rolls the whole block back
        assert store.trading.trading_state().state == "REDUCING"
        with store.transaction():
            with pytest.raises(DuplicateIntentError), store.transaction():
                store.trading.set_trading_state("HALTED", reason="kill switch", source="test")
                assert store.trading.trading_state().state == "HALTED"
                store.orders.record_intent(_intent("c0"))  # the savepoint rolls back
            assert store.trading.trading_state().state == "REDUCING"
        store.trading.set_trading_state("ACTIVE", reason="resumed", source="test")
        assert store.trading.trading_state().state == "ACTIVE"
    with Store.open(tmp_path / "scratch.db") as again:
        assert again.trading.trading_state().state == "ACTIVE"
