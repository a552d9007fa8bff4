"""Amends in flight are records of their own (table `amends_in_flight`, migration 0009): a file
written by a version that kept them only as history notes ("amend sent: YES price P, total T",
nothing about an amend after it) keeps each amend those notes left in doubt, with its terms and
the time it was written, and no other; the records go with their order when retention removes
it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.store import IntentRecord, RetentionPolicy, Store
from kalshi_cli.store import migrations as m
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import Action, BookSide, Side

NOW = 1_700_000_000.0
# an amend answered, then another sent, whose terms are a sub-penny price and a fractional total
SENT_TWICE = (
    "amend sent: YES price 0.45, total 10",
    "amend",
    "amend sent: YES price 0.005, total 2.5",
)


def _file_before_0009(path: Path, orders: dict[str, tuple[str, list[str]]]) -> None:
    """A state file as the previous version left it: for each client order id, its order
    (resting or another status, order id `o-<id>`, 10 to buy YES at 0.40) and the notes of
    its history after `recorded` and `sent`, a second apart."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, NOW, [x for x in m.MIGRATIONS if x.name < "0009"])
        for coid, (status, notes) in orders.items():
            conn.execute(
                "INSERT INTO orders (client_order_id, order_id, ticker, book_side, price, count, "
                "side, action, status, filled, remaining, created_at, updated_at, "
                "time_in_force, post_only, reduce_only) VALUES "
                "(?, ?, 'KXTEST-1', 'bid', '0.4', '10', 'yes', 'buy', ?, '0', ?, ?, ?, "
                "'good_till_canceled', 0, 0)",
                (coid, f"o-{coid}", status, "10" if status == "resting" else "0", NOW, NOW),
            )
            for n, note in enumerate(["recorded", "sent", *notes]):
                conn.execute(
                    "INSERT INTO order_history (client_order_id, status, order_id, filled, "
                    "remaining, note, at) VALUES (?, ?, ?, '0', '10', ?, ?)",
                    (coid, status, f"o-{coid}", note, NOW + n),
                )
    finally:
        conn.close()


def test_the_migration_keeps_in_doubt_what_the_old_notes_left_in_doubt(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _file_before_0009(
        path,
        {
            "in-doubt": ("resting", ["amend sent: YES price 0.41, total 12"]),
            "filled-since": ("resting", ["amend sent: YES price 0.42, total 11", "fill"]),
            "answered": ("resting", ["amend sent: YES price 0.43, total 12", "amend"]),
            "refused": ("resting", ["amend sent: YES price 0.44, total 9", "amend refused: x"]),
            "sent-again": ("resting", [*SENT_TWICE]),
            "ended": ("canceled", ["amend sent: YES price 0.46, total 12"]),
            "never-amended": ("resting", []),
        },
    )
    with Store.open(path, clock=ManualClock(NOW + 100)) as store:
        assert "0009_amends_in_flight" in [n for n, _ in store.applied_migrations()]
        doubts = [
            (intent.client_order_id, amend.price, amend.total, amend.at)
            for intent, amend in store.orders.amends_in_doubt()
        ]
        assert sorted(doubts) == [
            ("filled-since", D("0.42"), D(11), NOW + 2),
            ("in-doubt", D("0.41"), D(12), NOW + 2),
            ("sent-again", D("0.005"), D("2.5"), NOW + 4),
        ]
        # each is a record like any other: settled, it is no longer in doubt
        (carried,) = [a for i, a in store.orders.amends_in_doubt() if i.order_id == "o-in-doubt"]
        assert store.orders.settle_amend(carried.id, "amend settled: the order read after it")
        assert sorted(i.client_order_id for i, _ in store.orders.amends_in_doubt()) == [
            "filled-since",
            "sent-again",
        ]
        history = store.orders.order_history("in-doubt")
        assert history[-1].note == "amend settled: the order read after it"


def test_an_amends_record_goes_with_its_order_when_retention_removes_it(tmp_path: Path) -> None:
    """An order cancelled while its amend was out, and removed by retention before the amend's
    answer came: its record goes with it, and the answer, when it comes, finds nothing."""
    clock = ManualClock(NOW)
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        store.orders.record_intent(
            IntentRecord("c1", "KXTEST-1", BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY)
        )
        store.orders.mark_sent(
            "c1", order_id="o-1", status="resting", fill_count=D(0), remaining_count=D(10)
        )
        with store.transaction():
            amend = store.orders.write_amend("o-1", price=D("0.41"), rest=D(10), post_only=None)
        assert amend is not None
        store.orders.mark_cancelled("o-1")
        clock.advance(2)
        pruned = store.retention.prune(
            RetentionPolicy(unfilled_orders_s=1.0, pause_s=0), agent_strategy=AGENT
        )
        assert pruned.removed["orders"] == 1
        assert store.orders.amends_in_doubt() == []
        assert not store.orders.settle_amend(amend.id, "amend refused: too late")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM amends_in_flight").fetchone() == (0,)
    finally:
        conn.close()
