"""`kalshi status` names each set of legs the state file holds not ended (a loop stopped with a set
it could not flatten exits 11, and the next start unwinds it), with what each leg holds: the
state and the orders alone said nothing of contracts left unhedged. `kalshi cancel-all` names them
too (tests/runner/test_leg_sets_under_faults_sim.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.leg_sets import SetLeg, set_tag
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.cli.test_status_shows_state_orders_and_heartbeat import kalshi

A, B = "KXLEGS-26JAN01-A", "KXLEGS-26JAN01-B"


def _broken_set(path: Path) -> None:
    """A set of NO 5 in A and B on subaccount 1: A filled 5, B nothing, the set left broken."""
    legs = [SetLeg(t, Side.NO, Decimal("0.60"), Decimal(5)) for t in (A, B)]
    with Store.open(path) as store:
        store.leg_sets.begin("s1", "arbitrage", legs, 1)
        store.orders.record_intent(
            IntentRecord(
                client_order_id="leg-a",
                ticker=A,
                book_side=BookSide.ASK,
                price=Decimal("0.40"),
                count=Decimal(5),
                side=Side.NO,
                action=Action.BUY,
                reason=f"arbitrage: one NO in every market {set_tag('s1')}",
                subaccount=1,
            )
        )
        store.orders.mark_sent(
            "leg-a",
            order_id="o-a",
            status="executed",
            fill_count=Decimal(5),
            remaining_count=Decimal(0),
        )
        store.leg_sets.mark("s1", "broken")
        # a set that ended whole is not named
        store.leg_sets.begin("s2", "arbitrage", legs, 1)
        store.leg_sets.mark("s2", "whole")


def test_status_names_a_set_left_broken_and_what_each_leg_holds(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _broken_set(path)
    done = kalshi(tmp_path, "--state", str(path), "status")
    assert done.exit_code == 0, done.output
    shown = f"  set s1 (arbitrage, broken, subaccount 1): {A} no 5 of 5, {B} no 0 of 5"
    assert shown in done.stdout.splitlines()
    assert "s2" not in done.stdout
    assert "1 set(s) of legs not ended" in done.stderr
    answer = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert answer.exit_code == 0, answer.output
    (found,) = json.loads(answer.stdout)["sets_not_ended"]
    assert (found["set_id"], found["subaccount"]) == ("s1", 1)
    assert [(g["ticker"], g["held"]) for g in found["legs"]] == [(A, "5"), (B, "0")]
