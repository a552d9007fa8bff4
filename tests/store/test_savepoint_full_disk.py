"""A nested write that meets a full disk: SQLite may roll back the whole transaction by itself
(SQLITE_FULL is one of the errors that can), and the error the user reads must still be the
disk's, not "no such savepoint" from undoing a savepoint that no longer exists (seen once in
four runs of test_state_write_faults' full-disk test under load)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.store.errors import StoreError


def test_a_nested_block_whose_error_rolled_back_everything_reports_that_error(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path / "state.db") as store:
        conn = store._conn
        with pytest.raises(StoreError) as raised, store.transaction(), store.transaction():
            conn.execute("ROLLBACK")  # what SQLite does on its own after some SQLITE_FULL
            raise sqlite3.OperationalError("database or disk is full")
        assert "database or disk is full" in str(raised.value)
        assert "savepoint" not in str(raised.value)
        assert not conn.in_transaction
        with store.transaction():  # the store still takes writes
            store.entries.heartbeat(source="trade")
        assert store.entries.last_heartbeat("trade") is not None
