"""The day an order was amended in is a fact of its own row (`orders.amend_sent_at`, migration
0010), not of a history note: an order placed before the day and amended in it is the day's (the
assistant's budget counts it, agent/ledger.py) after retention has removed its history, and a
file written before the column learns it from the notes."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.store import IntentRecord, RetentionPolicy, Store
from kalshi_cli.store import migrations as m
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import Action, BookSide, Side

START = 1_700_000_000.0  # 22:13:20 UTC
MIDNIGHT = 1_700_006_400.0  # the UTC day after START
DAY_S = 86_400.0


def _day(store: Store, since: float) -> list[tuple[str, bool]]:
    found = store.orders.placed_or_amended("agent", since=since, until=since + DAY_S)
    return [(intent.client_order_id, placed) for intent, placed in found]


def test_an_order_amended_today_is_the_days_after_its_history_is_pruned(tmp_path: Path) -> None:
    clock = ManualClock(START)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        store.orders.record_intent(
            IntentRecord(
                "a",
                "KXTEST-1",
                BookSide.BID,
                D("0.4"),
                D(2),
                Side.YES,
                Action.BUY,
                strategy="agent",
            )
        )
        store.orders.mark_sent(
            "a", order_id="o-a", status="resting", fill_count=D(0), remaining_count=D(2)
        )
        clock.advance(MIDNIGHT + 600 - START)
        with store.transaction():
            amend = store.orders.write_amend("o-a", price=D("0.4"), rest=D(4), post_only=None)
        assert amend is not None
        store.orders.settle_amend(amend.id)
        store.orders.update_order(order_id="o-a", count=D(4), remaining_count=D(4))
        clock.advance(600)
        store.orders.update_order(
            order_id="o-a", status="canceled", fill_count=D(1), remaining_count=D(0)
        )
        # a person keeps an hour of history of finished orders; the order, which filled, stays
        clock.advance(3_600)
        store.retention.prune(RetentionPolicy(order_history_s=600), agent_strategy=AGENT)
        assert store.orders.order_history("a") == []

        assert _day(store, MIDNIGHT) == [("a", False)]
        assert _day(store, MIDNIGHT - DAY_S) == [("a", True)]  # the day it was placed in


def test_a_file_from_before_0010_learns_each_orders_latest_amend_from_its_notes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, START, [x for x in m.MIGRATIONS if x.name < "0010"])
        notes = {
            # amended yesterday and again today: the later counts
            "twice": [
                (START + 1, "amend sent: YES price 0.45, total 10"),
                (START + 2, "amend"),
                (MIDNIGHT + 60, "amend sent: YES price 0.005, total 2.5"),
            ],
            "yesterday": [(START + 1, "amend sent: YES price 0.45, total 10")],
            # what an amend's settling writes, never a sent amend
            "refused": [(MIDNIGHT + 60, "amend refused: no"), (MIDNIGHT + 61, "Amend Sent: x")],
            "never": [],
        }
        for coid, history in notes.items():
            conn.execute(
                "INSERT INTO orders (client_order_id, order_id, ticker, book_side, price, count, "
                "side, action, status, filled, remaining, strategy, created_at, updated_at, "
                "time_in_force, post_only, reduce_only) VALUES (?, ?, 'KXTEST-1', 'bid', '0.4', "
                "'10', 'yes', 'buy', 'resting', '0', '10', 'agent', ?, ?, "
                "'good_till_canceled', 0, 0)",
                (coid, f"o-{coid}", START, START),
            )
            for at, note in [(START, "recorded"), *history]:
                conn.execute(
                    "INSERT INTO order_history (client_order_id, status, order_id, filled, "
                    "remaining, note, at) VALUES (?, 'resting', ?, '0', '10', ?, ?)",
                    (coid, f"o-{coid}", note, at),
                )
    finally:
        conn.close()

    with Store.open(path, clock=ManualClock(MIDNIGHT + 120)) as store:
        assert "0010_orders_amend_sent_at" in [n for n, _ in store.applied_migrations()]
        assert _day(store, MIDNIGHT) == [("twice", False)]
        sent_at = dict(store._db.rows("SELECT client_order_id, amend_sent_at FROM orders"))
        assert sent_at == {
            "twice": MIDNIGHT + 60,
            "yesterday": START + 1,
            "refused": None,
            "never": None,
        }
