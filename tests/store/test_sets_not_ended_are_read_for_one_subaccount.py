"""A set of legs is its subaccount's: a state file shared by loops on several subaccounts (or
one after the other) holds each one's sets, and a loop takes up at its start only the sets not
ended on its own subaccount (store/leg_sets.py `unfinished`). Taken up by a loop on another
subaccount, a broken set was unwound there (sales of contracts that subaccount does not hold)
and marked ended, so its own subaccount's loop never unwound it. The reports that list every
subaccount's sets (`kalshi status`, the kill switch) name each one's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kalshi_cli.store import Store
from kalshi_cli.store import migrations as m
from kalshi_cli.store.leg_sets import set_tag
from tests.store.leg_set_orders import A, set_of_no_legs


def test_a_start_on_one_subaccount_takes_up_only_its_own_sets(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        set_of_no_legs(store, "s0", no_price="0.45", filled=(A,), subaccount=0, ended="broken")
        set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=1, ended="broken")
        assert [s.set_id for s in store.leg_sets.unfinished(0)] == ["s0"]
        assert [s.set_id for s in store.leg_sets.unfinished(1)] == ["s1"]
        assert store.leg_sets.unfinished(2) == []


def test_the_sets_not_ended_name_their_subaccount(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        set_of_no_legs(store, "s0", no_price="0.45", filled=(A,), subaccount=0, ended="broken")
        set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=1, ended="broken")
        found = store.leg_sets.not_ended()
    assert [(s.set_id, s.to_json()["subaccount"]) for s in found] == [("s0", 0), ("s1", 1)]
    assert [s.text().split(":")[0] for s in found] == [
        "set s0 (arbitrage, broken, subaccount 0)",
        "set s1 (arbitrage, broken, subaccount 1)",
    ]


def test_a_set_from_before_its_subaccount_was_kept_gets_its_orders_subaccount(
    tmp_path: Path,
) -> None:
    """Migration 0015: a set whose orders went on subaccount 1 is subaccount 1's; a set that sent
    nothing (it holds nothing anywhere) is the primary's."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [x for x in m.MIGRATIONS if x.name < "0015"])
        legs = f'[{{"ticker": "{A}", "side": "no", "price": "0.45", "count": "5"}}]'
        for set_id in ("sent", "unsent"):
            conn.execute(
                "INSERT INTO leg_sets (set_id, strategy, status, legs, created_at, updated_at) "
                "VALUES (?, 'arbitrage', 'broken', ?, 1, 1)",
                (set_id, legs),
            )
        conn.execute(
            "INSERT INTO orders (client_order_id, order_id, ticker, book_side, price, count, "
            "side, action, status, filled, remaining, created_at, updated_at, time_in_force, "
            "post_only, reduce_only, reason, subaccount) VALUES ('c', 'o', ?, 'ask', '0.55', "
            "'5', 'no', 'buy', 'executed', '5', '0', 1, 1, 'good_till_canceled', 0, 0, ?, 1)",
            (A, f"arbitrage {set_tag('sent')}"),
        )
    finally:
        conn.close()
    with Store.open(path) as store:
        assert [s.set_id for s in store.leg_sets.unfinished(1)] == ["sent"]
        assert [s.set_id for s in store.leg_sets.unfinished(0)] == ["unsent"]
