"""A trade loop's state connection keeps at most LOOP_CACHE_KIB of the file's pages in memory,
however big the file grows; what it writes is read back whole."""

from __future__ import annotations

import _sqlite3
import ctypes
from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.lifecycle.session import _open_store
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.connection import CACHE_KIB, LOOP_CACHE_KIB
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side

INTENTS = 40_000  # some 18 MiB of rows and indexes: nine times the loop's cache


def sqlite_kib() -> float:
    """What SQLite holds in this process (its page caches above all)."""
    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return float(used()) / 1024


def intent(i: int) -> IntentRecord:
    return IntentRecord(
        f"coid-{i:08d}-{'x' * 40}",
        f"KXMEM-M{i % 200:03d}",
        BookSide.BID,
        Decimal("0.42"),
        Decimal(1),
        Side.YES,
        Action.BUY,
    )


def cache_kib(store: Store) -> int:
    (size,) = store._conn.execute("PRAGMA cache_size").fetchone()
    assert size < 0  # a size in KiB, as it is set
    return int(-size)


def held_after_writing(store: Store) -> float:
    """SQLite's memory grown by writing INTENTS intents and reading every one back."""
    before = sqlite_kib()
    with store.transaction():
        for i in range(INTENTS):
            store.orders.record_intent(intent(i))
    for i in range(0, INTENTS, 97):
        found = store.orders.get_intent(f"coid-{i:08d}-{'x' * 40}")
        assert found is not None and found.ticker == f"KXMEM-M{i % 200:03d}"
    return sqlite_kib() - before


def test_the_trade_sessions_state_connection_is_capped(tmp_path: Path) -> None:
    store = _open_store(tmp_path / "state.db", ManualClock(1_700_000_000.0), TradeConfig(), None)
    try:
        assert cache_kib(store) == LOOP_CACHE_KIB
    finally:
        store.close()


def test_a_capped_connection_holds_no_more_than_its_cap_as_the_file_grows(tmp_path: Path) -> None:
    with Store.open(tmp_path / "capped.db", cache_kib=LOOP_CACHE_KIB) as store:
        capped = held_after_writing(store)
        assert (tmp_path / "capped.db").stat().st_size > 3 * LOOP_CACHE_KIB * 1024
    with Store.open(tmp_path / "default.db") as store:
        assert cache_kib(store) == CACHE_KIB
        default = held_after_writing(store)
    # the uncapped connection keeps the file's pages: the figure sees a cache that grows
    assert default > 3 * LOOP_CACHE_KIB
    assert capped < 1.5 * LOOP_CACHE_KIB
