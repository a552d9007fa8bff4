"""`kalshi check orders` grades a set of legs by what a trader must act on: a leg held beyond the
whole sets that nothing will sell back. A leg the loop holds to its settlement by design (its
market no longer trades, or a sale back is sure to lose against holding it) is said, not
CRITICAL; a leg whose market settled holds nothing; a set left `open` by a loop that is no
longer alive (killed between its legs) is an unhedged position as a broken one is. The set left
broken with its sale back given up: tests/checks/test_a_set_left_broken_is_critical.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.checks import CheckStatus, format_nagios
from kalshi_cli.checks.local import LocalView, check_orders
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store import migrations as m
from kalshi_cli.store.leg_sets import SetLeg, set_tag
from kalshi_cli.store.records import IN_FLIGHT_S, LIVE_BEAT_S, SettlementRecord
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.store.leg_set_orders import A, B, set_of_no_legs

DEFAULTS = resolve(None)
ZERO = Decimal(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db", clock=clock) as s:
        yield s


def _orders(store: Store, clock: ManualClock) -> tuple[CheckStatus, str]:
    result = check_orders(LocalView(store, Path("state.db"), clock.wall()), DEFAULTS)
    return result.status, format_nagios(result)


def _settled(store: Store, ticker: str, subaccount: int = 0) -> None:
    store.settlements.record_settlement(
        SettlementRecord(
            ticker, "KXLEGS-26JAN01", "no", ZERO, Decimal(5), ZERO, Decimal("2.75"),
            Decimal(5), ZERO, 1_799_999_000.0, subaccount,
        )
    )  # fmt: skip


def test_a_leg_held_to_settlement_by_design_is_said_not_critical(
    store: Store, clock: ManualClock
) -> None:
    """A's NO 5 held to its settlement (its market closed): no one can sell it, and the loop
    does not mean to; the set is named as held, the check OK."""
    set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=0, ended="open")
    store.leg_sets.mark("s1", "broken", settling=[0])
    status, line = _orders(store, clock)
    assert status is CheckStatus.OK, line
    assert "1 set(s) of legs holding a leg to its settlement" in line
    held = f"set s1 (arbitrage, held to settlement, subaccount 0): {A} no 5 of 5, {B} no 0 of 5"
    assert held in line
    assert "'broken_sets'=0" in line


def test_a_leg_given_up_beside_one_held_to_settlement_is_critical(
    store: Store, clock: ManualClock
) -> None:
    """Held to settlement is the leg's, not the set's: B held beyond the whole sets and not
    held to its settlement (nobody bid) is still an unhedged position to act on."""
    set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=0, ended="open")
    store.leg_sets.mark("s1", "broken", settling=[1])
    set_of_no_legs(store, "s2", no_price="0.45", filled=(A,), subaccount=0, ended="open")
    store.leg_sets.mark("s2", "broken", settling=[0])
    status, line = _orders(store, clock)
    assert status is CheckStatus.CRITICAL, line
    assert "1 set(s) of legs left broken, a leg held without the others: set s1 " in line
    assert "1 set(s) of legs holding a leg to its settlement: set s2 " in line  # said beside


def test_a_set_whose_unhedged_leg_settled_is_done(store: Store, clock: ManualClock) -> None:
    """A settled (its settlement recorded, by the loop or `kalshi reconcile`): what A held was
    paid out, nothing is left to act on, with no loop running to end the set. Another
    subaccount's settlement of A is not this set's."""
    set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=1, ended="broken")
    _settled(store, A, subaccount=0)
    assert _orders(store, clock)[0] is CheckStatus.CRITICAL
    _settled(store, A, subaccount=1)
    status, line = _orders(store, clock)
    assert status is CheckStatus.OK, line
    assert "s1" not in line
    assert "'broken_sets'=0" in line


def test_an_open_set_a_dead_loop_left_unhedged_is_critical(
    store: Store, clock: ManualClock
) -> None:
    """A set left `open` (its loop killed after A filled, before B went) with no loop alive on
    its subaccount: no one will send B or sell A back. Alive on its subaccount, the loop is on
    its way and the set is not graded."""
    set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=0, ended="open")
    status, line = _orders(store, clock)  # no heartbeat: no loop ever ran here
    assert status is CheckStatus.CRITICAL, line
    assert "1 set(s) of legs left broken" in line
    assert f"set s1 (arbitrage, open, subaccount 0): {A} no 5 of 5, {B} no 0 of 5" in line
    assert "no trade loop alive on subaccount 0" in line

    store.entries.heartbeat(source="trade", detail={"subaccount": 0})
    assert _orders(store, clock)[0] is CheckStatus.OK
    clock.advance(LIVE_BEAT_S + 1)  # the loop died since
    assert _orders(store, clock)[0] is CheckStatus.CRITICAL
    store.entries.heartbeat(source="trade", detail={"subaccount": 1})
    assert _orders(store, clock)[0] is CheckStatus.CRITICAL  # alive, on another subaccount


def test_an_open_set_holding_whole_sets_only_is_not_graded(
    store: Store, clock: ManualClock
) -> None:
    """A killed loop's set whose legs all filled holds no unhedged leg: nothing to act on."""
    set_of_no_legs(store, "s1", no_price="0.45", filled=(A, B), subaccount=0, ended="open")
    assert _orders(store, clock)[0] is CheckStatus.OK


def test_a_set_from_before_legs_were_held_to_settlement_reads_as_none_held(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Migration 0016: a set written before it holds no leg to its settlement, so a broken one
    is still graded CRITICAL."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        m.apply_pending(conn, 1.0, [x for x in m.MIGRATIONS if x.name < "0016"])
        legs = (
            f'[{{"ticker": "{A}", "side": "no", "price": "0.45", "count": "5"}}, '
            f'{{"ticker": "{B}", "side": "no", "price": "0.45", "count": "5"}}]'
        )
        conn.execute(
            "INSERT INTO leg_sets (set_id, strategy, status, legs, created_at, updated_at) "
            "VALUES ('s1', 'arbitrage', 'broken', ?, 1, 1)",
            (legs,),
        )
        conn.execute(
            "INSERT INTO orders (client_order_id, order_id, ticker, book_side, price, count, "
            "side, action, status, filled, remaining, created_at, updated_at, time_in_force, "
            "post_only, reduce_only, reason, subaccount) VALUES ('c', 'o', ?, 'ask', '0.55', "
            "'5', 'no', 'buy', 'executed', '5', '0', 1, 1, 'good_till_canceled', 0, 0, ?, 0)",
            (A, f"arbitrage {set_tag('s1')}"),
        )
    finally:
        conn.close()
    with Store.open(path, clock=clock) as store:
        (record,) = store.leg_sets.unfinished(0)
        assert record.settling == frozenset()
        assert _orders(store, clock)[0] is CheckStatus.CRITICAL


def test_a_leg_of_unknown_outcome_leaves_the_others_unhedged_and_is_graded_as_an_order(
    store: Store, clock: ManualClock
) -> None:
    """A killed loop's set whose A filled and whose B order was written and never answered: B
    may hold nothing, so A is unhedged (named with the set); B's order is graded by the unknown
    orders' rule, once a request can no longer be in flight, not as a leg of the set."""
    set_of_no_legs(store, "s1", no_price="0.45", filled=(A,), subaccount=0, ended="open")
    store.orders.record_intent(
        IntentRecord(
            client_order_id="leg-s1-B", ticker=B, book_side=BookSide.ASK, price=Decimal("0.55"),
            count=Decimal(5), side=Side.NO, action=Action.BUY, reason=f"a {set_tag('s1')}",
        )
    )  # fmt: skip
    status, line = _orders(store, clock)
    assert status is CheckStatus.CRITICAL, line
    assert f"{A} no 5 of 5, {B} no unknown of 5" in line
    assert "UNKNOWN state" not in line
    clock.advance(IN_FLIGHT_S)
    status, line = _orders(store, clock)
    assert "1 order(s) in UNKNOWN state" in line
    assert "1 set(s) of legs left broken" in line


def test_legs_held_to_settlement_beside_one_of_unknown_outcome_are_said(
    store: Store, clock: ManualClock
) -> None:
    """A and B held to their settlement, the set's third leg's order of unknown outcome: the
    set is sure of no whole set, so A and B are beyond it, held by design: said."""
    C = "KXLEGS-26JAN01-C"
    store.leg_sets.begin(
        "s2", "arbitrage", [SetLeg(t, Side.NO, Decimal("0.45"), Decimal(5)) for t in (A, B, C)], 0
    )
    for ticker in (A, B, C):
        store.orders.record_intent(
            IntentRecord(
                client_order_id=f"s2-{ticker}", ticker=ticker, book_side=BookSide.ASK,
                price=Decimal("0.55"), count=Decimal(5), side=Side.NO, action=Action.BUY,
                reason=f"a {set_tag('s2')}",
            )
        )  # fmt: skip
        if ticker != C:
            store.orders.mark_sent(
                f"s2-{ticker}", order_id=f"o-{ticker}", status="executed",
                fill_count=Decimal(5), remaining_count=Decimal(0),
            )  # fmt: skip
    store.leg_sets.mark("s2", "broken", settling=[0, 1])
    status, line = _orders(store, clock)
    assert status is CheckStatus.OK, line
    assert "1 set(s) of legs holding a leg to its settlement: set s2" in line
