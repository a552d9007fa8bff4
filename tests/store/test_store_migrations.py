"""Opening, creating and migrating the state file."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from kalshi_cli.store import StateFileMissing, Store, StoreError
from kalshi_cli.store import migrations as m
from kalshi_cli.vocabulary.clock import ManualClock

ALL = [migration.name for migration in m.MIGRATIONS]


def test_new_file_gets_every_migration_with_its_record(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        assert ALL[0] == "0001_initial"
        assert "0002_fill_integer_units" in ALL
        assert store.applied_migrations() == [(name, 1_700_000_000.0) for name in ALL]
        assert Store.known_migrations() == ALL
        assert store.migration_status() == [(name, 1_700_000_000.0) for name in ALL]
        assert store.integrity_check() == "ok"


def test_reopening_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = ManualClock(1_700_000_000.0)
    Store.open(path, clock=clock).close()
    clock.advance(3600)
    with Store.open(path, clock=clock) as store:
        assert store.applied_migrations() == [(name, 1_700_000_000.0) for name in ALL]
    conn = sqlite3.connect(path)
    try:
        assert m.apply_pending(conn, 0.0) == []
    finally:
        conn.close()


def _conn(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_failing_migration_leaves_neither_its_changes_nor_its_record(tmp_path: Path) -> None:
    good = m.Migration("0001_a", ("CREATE TABLE a (x)",))
    bad = m.Migration(
        "0002_b",
        ("CREATE TABLE b (x)", "INSERT INTO a VALUES (1)", "INSERT INTO no_such_table VALUES (1)"),
    )
    conn = _conn(tmp_path / "t.db")
    try:
        with pytest.raises(m.MigrationError, match="0002_b"):
            m.apply_pending(conn, 5.0, [good, bad])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "b" not in tables
        assert conn.execute("SELECT count(*) FROM a").fetchone() == (0,)
        assert m.applied(conn) == [("0001_a", 5.0)]
        assert not conn.in_transaction
        # fixed, it applies on the next open
        fixed = m.Migration("0002_b", ("CREATE TABLE b (x)",))
        assert m.apply_pending(conn, 6.0, [good, fixed]) == ["0002_b"]
        assert m.pending(conn, [good, fixed]) == []
    finally:
        conn.close()


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()
    conn = _conn(path)
    conn.execute("INSERT INTO schema_migrations VALUES ('9999_future', 1.0)")
    conn.close()
    with pytest.raises(StoreError, match="9999_future"):
        Store.open(path)
    with pytest.raises(StoreError, match="9999_future"):
        Store.open_readonly(path)


def test_read_only_opening_never_creates_the_file_or_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "state.db"
    with pytest.raises(StateFileMissing) as info:
        Store.open(path, create=False)
    assert "no state file" in info.value.one_line()
    assert Store.open_readonly(path) is None
    assert not path.exists()
    assert not path.parent.exists()


def test_create_makes_a_private_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    with Store.open(path) as store:
        store.entries.log_entry("x", {})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    conn = _conn(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_connection_settings(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        conn = store._conn
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_open_readonly_reads_but_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        store.entries.set_kv("k", "v")
    ro = Store.open_readonly(path)
    assert ro is not None
    with ro:
        assert ro.entries.get_kv("k") == "v"
        assert ro.integrity_check() == "ok"
        with pytest.raises(StoreError, match="read-only"):
            ro.entries.set_kv("k", "w")


def test_open_readonly_refuses_a_file_that_needs_migrating(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = _conn(path)  # ours (it has the migrations table), with nothing applied yet
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store.open_readonly(path)
    assert "0001_initial" in info.value.one_line()
    assert "kalshi state migrate" in info.value.one_line()
    with Store.open(path, create=False) as store:  # a writer migrates it
        assert [n for n, _ in store.applied_migrations()] == ALL
    ro = Store.open_readonly(path)
    assert ro is not None
    ro.close()


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        Store.open(path)
    with pytest.raises(StoreError, match="not an SQLite database"):
        Store.open_readonly(path)


def test_migrate_reports_what_this_call_applied(tmp_path: Path) -> None:
    """`Store.migrate` names the migrations it applied itself, not those applied at a later
    clock reading: a new file gets all of them, a file behind gets the missing ones, and a file
    that is up to date gets none, whatever the clock says."""
    clock = ManualClock(1_700_000_000.0)
    new = Store.migrate(tmp_path / "new.db", clock=clock)
    assert new.applied_now == ALL
    assert new.status == [(name, 1_700_000_000.0) for name in ALL]
    clock.advance(-3600)  # a clock that went back must not make the old migration look new
    again = Store.migrate(tmp_path / "new.db", clock=clock)
    assert again.applied_now == []
    assert again.status == [(name, 1_700_000_000.0) for name in ALL]

    behind = tmp_path / "behind.db"
    conn = _conn(behind)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    conn.close()
    report = Store.migrate(behind, clock=clock)
    assert report.applied_now == ALL
    assert report.status == [(name, 1_699_996_400.0) for name in ALL]


def test_a_scratch_state_file_skips_the_fsync(tmp_path: Path) -> None:
    with Store.open(tmp_path / "scratch.db", durable=False) as store:
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (0,)  # OFF
        assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
