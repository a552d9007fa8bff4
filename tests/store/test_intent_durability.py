"""`trade.state_durability`: "full" (the default) fsyncs every commit; "normal" relaxes only the
pending intent's own commit, and that intent still survives the process being killed."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.runner.config import TradeConfig, load_trade_config
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.units import Action, BookSide, Side


def intent(coid: str) -> IntentRecord:
    return IntentRecord(coid, "T", BookSide.BID, Decimal("0.42"), Decimal(1), Side.YES, Action.BUY)


def statements_of(store: Store, write: object) -> list[str]:
    """The SQL `write()` runs on the store's connection, in order."""
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    try:
        write()  # type: ignore[operator]
    finally:
        store._conn.set_trace_callback(None)
    return seen


def test_the_default_is_full_for_every_write(tmp_path: Path) -> None:
    assert TradeConfig().settings.state_durability == "full"
    with Store.open(tmp_path / "state.db") as store:
        assert store.intent_durability == "full"
        seen = statements_of(store, lambda: store.orders.record_intent(intent("a")))
        assert not [s for s in seen if "synchronous" in s]
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_normal_relaxes_only_the_pending_intents_commit(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.intent_durability = "normal"
        seen = statements_of(
            store, lambda: store.record_intent_if_allowed(intent("a"), lambda state: None)
        )
        relax, begin, commit, restore = (
            seen.index("PRAGMA synchronous = NORMAL"),
            seen.index("BEGIN IMMEDIATE"),
            seen.index("COMMIT"),
            seen.index("PRAGMA synchronous = FULL"),
        )
        assert relax < begin < commit < restore
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)
        # the order's answer, the trading state, fills: FULL as ever
        seen = statements_of(
            store,
            lambda: store.orders.mark_sent(
                "a",
                order_id="o1",
                status="resting",
                fill_count=Decimal(0),
                remaining_count=Decimal(1),
            ),
        )
        assert not [s for s in seen if "synchronous" in s]


def test_a_refused_intent_leaves_the_connection_full(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.intent_durability = "normal"

        def refuse(state: object) -> None:
            raise RuntimeError("halted")

        with pytest.raises(RuntimeError):
            store.record_intent_if_allowed(intent("a"), refuse)
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)
        assert store.orders.get_intent("a") is None


CHILD = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from pathlib import Path
    from kalshi_cli.vocabulary.units import Action, BookSide, Side
    from kalshi_cli.store import IntentRecord, Store

    store = Store.open(Path(sys.argv[1]))
    store.intent_durability = "normal"
    n = 0
    while True:
        coid = f"c{n:06d}"
        store.orders.record_intent(IntentRecord(coid, "T", BookSide.BID, Decimal("0.42"),
                                         Decimal("1"), Side.YES, Action.BUY))
        print(coid, flush=True)
        n += 1
    """
)


def test_under_normal_a_killed_process_keeps_every_intent_it_recorded(tmp_path: Path) -> None:
    """What "normal" still promises: the commit is in the WAL, in the OS, before the order
    would be sent, so SIGKILL (or an OOM kill) loses none of them."""
    path = tmp_path / "state.db"
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        recorded = [proc.stdout.readline().strip() for _ in range(200)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
    conn = sqlite3.connect(path)
    try:
        stored = {row[0] for row in conn.execute("SELECT client_order_id FROM orders")}
    finally:
        conn.close()
    assert set(recorded) <= stored


def test_an_unknown_durability_is_refused_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("trade:\n  state_durability: fast\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_trade_config(config)
    assert "state_durability" in str(info.value)
    assert "full, normal" in str(info.value)
    config.write_text("trade:\n  state_durability: normal\n", encoding="utf-8")
    assert load_trade_config(config).settings.state_durability == "normal"


def test_a_value_written_lazily_waits_for_no_sync_and_leaves_full_after_it(tmp_path: Path) -> None:
    """`set_kv(durable=False)` (a catch-up's cursor): NORMAL for its own commit on a file at
    FULL, FULL again after; inside a transaction, whose commit is the outer one's, nothing is
    changed; a scratch file (OFF, no WAL) is never set to NORMAL or FULL."""
    with Store.open(tmp_path / "state.db") as store:
        lazy = statements_of(store, lambda: store.entries.set_kv("k", "1", durable=False))
        assert [s for s in lazy if s.startswith("PRAGMA synchronous =")] == [
            "PRAGMA synchronous = NORMAL",
            "PRAGMA synchronous = FULL",
        ]
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)

        def inside() -> None:
            with store.transaction():
                store.entries.set_kv("k", "2", durable=False)

        assert not [s for s in statements_of(store, inside) if s.startswith("PRAGMA")]
        assert store.entries.get_kv("k") == "2"
    with Store.open(tmp_path / "scratch.db", durable=False, exclusive=True) as scratch:
        written = statements_of(scratch, lambda: scratch.entries.set_kv("k", "1", durable=False))
        assert not [s for s in written if s.startswith("PRAGMA synchronous =")]
        assert scratch._conn.execute("PRAGMA synchronous").fetchone() == (0,)
