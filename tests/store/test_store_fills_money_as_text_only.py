"""Migration 0006: a fill's price, count and fee are kept once, as their canonical text. The integer
copies that migration 0002 added (`yes_price_e6`, `count_e2`, `fee_e8`) and their partial index
are dropped from a state file written before; every fill stays as it was, in the same order, and
`kalshi pnl` over the migrated file gives the same figures as over the fills it held."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.services.pnl import summarize, summarize_store
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.store import migrations as m
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

BEFORE = [n for n in m.MIGRATIONS if n.name < "0006"]
UNIT_COLUMNS = {"yes_price_e6", "count_e2", "fee_e8"}

# (fill_id, ticker, book_side, yes_price, count, fee, ts, strategy, realized_pnl, subaccount,
#  yes_price_e6, count_e2, fee_e8) as the code before 0006 wrote them: three fills at one moment
# (their rowid is their order), a count finer than the integer unit (its integer NULL), a fill on
# subaccount 2
OLD_ROWS = [
    ("f1", "A", "bid", "0.4200", "10.00", "0.0700", 100.0, "mm", None, 0, 420000, 1000, 7000000),
    ("f2", "A", "ask", "0.5500", "4.00", "0.0200", 100.0, None, "0.52", 0, 550000, 400, 2000000),
    ("f3", "B", "ask", "0.3000", "1.50", "0.0000", 100.0, "mm", None, 2, 300000, 150, 0),
    ("f4", "A", "ask", "0.6100", "0.005", "0.0000", 200.0, "mm", None, 0, 610000, None, 0),
    ("f5", "B", "bid", "0.9900", "3.00", "0.0100", 86_500.0, None, None, 2, 990000, 300, 1000000),
]


def file_before_0006(path: Path) -> None:
    """A state file as the code before 0006 left it, with a settlement of market A."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, BEFORE)
        conn.executemany(
            "INSERT INTO fills (fill_id, order_id, ticker, book_side, yes_price, count, fee, "
            "is_taker, ts, strategy, realized_pnl, subaccount, yes_price_e6, count_e2, fee_e8) "
            "VALUES (?, 'o', ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            OLD_ROWS,
        )
        conn.execute(
            "INSERT INTO settlements (ticker, subaccount, event_ticker, result, yes_count, "
            "no_count, yes_total_cost, no_total_cost, revenue, fee, settled_at) VALUES "
            "('A', 0, 'E', 'yes', '0', '0', '0', '0', '0', '0.01', 150.0)"
        )
    finally:
        conn.close()


def fills_schema(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], set[str]]:
    columns = [tuple(r) for r in conn.execute("PRAGMA table_info(fills)")]
    indexes = {
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fills'"
        )
    }
    return columns, indexes


def all_fill_rows(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT rowid, fill_id, order_id, client_order_id, ticker, book_side, yes_price, count, "
        "fee, is_taker, ts, strategy, realized_pnl, subaccount FROM fills ORDER BY rowid"
    ).fetchall()


def test_the_migration_drops_the_integer_copies_and_keeps_every_fill(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    file_before_0006(path)
    conn = sqlite3.connect(path)
    try:
        before = all_fill_rows(conn)
    finally:
        conn.close()
    with Store.open(path, clock=ManualClock(10.0)) as store:
        assert "0006_fill_money_text_only" in [n for n, _ in store.applied_migrations()]
        assert store.integrity_check() == "ok"
        columns, indexes = fills_schema(store._conn)
        assert not UNIT_COLUMNS & {str(c[1]) for c in columns}
        assert "fills_without_units" not in indexes
        assert {"fills_ts", "fills_ticker_ts", "fills_subaccount"} <= indexes
        assert all_fill_rows(store._conn) == before  # same rowids: same order within a moment
        # the table keeps its constraints: one row per fill_id, a side and a subaccount checked
        again = store.fills.read(ticker="A")[0]
        assert store.fills.record_fill(again) is False
        for bad in ("book_side = 'buy'", "subaccount = 64"):
            with pytest.raises(sqlite3.IntegrityError):
                store._conn.execute(f"UPDATE fills SET {bad} WHERE fill_id = 'f1'")
        fills = list(store.fills.iter_fills())
        settlements = store.settlements.read()
        assert [f.fill_id for f in fills] == ["f1", "f2", "f3", "f4", "f5"]
        migrated = summarize_store(store)
        books = {n: summarize_store(store, subaccount=n) for n in (0, 2)}
    primary = [f for f in fills if f.subaccount == 0]
    expected = summarize(primary, settlements)
    assert books[0].to_json() == expected.to_json()
    assert books[0].engine.market("A").position == D("-0.005")  # bought after the settlement
    assert books[2].engine.market("B").position == D("1.5")  # 1.5 NO, then 3 YES: 1.5 YES
    assert migrated.realized == books[0].realized + books[2].realized


def test_a_migrated_file_has_the_schema_of_a_new_one(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    file_before_0006(old)
    Store.open(old, clock=ManualClock(10.0)).close()
    Store.open(tmp_path / "new.db", clock=ManualClock(10.0)).close()
    schemas = []
    for path in (old, tmp_path / "new.db"):
        conn = sqlite3.connect(path)
        try:
            schemas.append(fills_schema(conn))
        finally:
            conn.close()
    assert schemas[0] == schemas[1]


def test_a_new_fill_is_written_and_read_back_as_its_text(tmp_path: Path) -> None:
    fill = FillRecord("f9", "o", None, "A", BookSide.ASK, D("0.1234567"), D("0.005"), D(0), True, 5)
    with Store.open(tmp_path / "state.db", clock=ManualClock(10.0)) as store:
        assert store.fills.record_fill(fill)
        assert store._conn.execute("SELECT yes_price, count FROM fills").fetchall() == [
            ("0.1234567", "0.005")
        ]
        assert store.fills.read() == [fill]
        store.settlements.record_settlement(
            SettlementRecord("A", "E", "no", D(0), D(0), D(0), D(0), D(0), D(0), 9.0)
        )
        assert (
            summarize_store(store).to_json()
            == summarize([fill], store.settlements.read()).to_json()
        )


def kalshi(home: Path, *args: str) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home)})
    return CliRunner().invoke(
        app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def test_state_migrate_lists_and_applies_the_migration(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = Path(kalshi(home, "state", "path").stdout.strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    file_before_0006(path)
    listing = json.loads(kalshi(home, "state", "migrate", "--list", "--json").stdout)
    assert "0006_fill_money_text_only" in listing["pending"]
    assert kalshi(home, "state", "migrate").exit_code == 0
    listing = json.loads(kalshi(home, "state", "migrate", "--list", "--json").stdout)
    assert listing["pending"] == []
    applied = {e["name"]: e["applied_at"] for e in listing["migrations"]}
    assert applied["0006_fill_money_text_only"] is not None
    table = kalshi(home, "state", "migrate", "--list").stdout
    assert "0006_fill_money_text_only" in table


def test_a_file_from_before_the_integer_copies_migrates_through_both(tmp_path: Path) -> None:
    """A file of 0001 alone gets 0002's copies and 0006's drop in one open: its fills are kept,
    in order, on the primary, and sum as before."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [m.INITIAL])
        conn.executemany(
            "INSERT INTO fills (fill_id, order_id, ticker, book_side, yes_price, count, fee, "
            "is_taker, ts) VALUES (?, 'o', 'A', ?, ?, ?, '0.01', 1, 7.0)",
            [("f1", "bid", "0.4000", "10.00"), ("f2", "ask", "0.5000", "4.00")],
        )
    finally:
        conn.close()
    with Store.open(path, clock=ManualClock(10.0)) as store:
        assert "0006_fill_money_text_only" in [n for n, _ in store.applied_migrations()]
        columns, _ = fills_schema(store._conn)
        assert not UNIT_COLUMNS & {str(c[1]) for c in columns}
        fills = list(store.fills.iter_fills())
        assert [(f.fill_id, f.subaccount) for f in fills] == [("f1", 0), ("f2", 0)]
        summary = summarize_store(store)
    assert summary.realized_gross == D("0.40")  # 4 sold at 0.50 that cost 0.40
    assert summary.engine.market("A").position == D(6)
