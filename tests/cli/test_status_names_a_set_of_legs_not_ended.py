"""`kalshi status` names each set of legs the state file holds not ended (a loop stopped with a set
it could not flatten exits 11, and the next start unwinds it), with what each leg holds: the
state and the orders alone said nothing of contracts left unhedged. `kalshi cancel-all` names them
too (tests/runner/test_leg_sets_under_faults_sim.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import Store
from kalshi_cli.store.leg_sets import SetLeg
from kalshi_cli.vocabulary.units import Side
from tests.cli.test_status_shows_state_orders_and_heartbeat import kalshi
from tests.store.leg_set_orders import A, B, set_of_no_legs


def test_status_names_a_set_left_broken_and_what_each_leg_holds(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        set_of_no_legs(store, "s1", no_price="0.60", filled=(A,), subaccount=1, ended="broken")
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


def test_status_names_each_sets_strategy_and_what_each_leg_asked(tmp_path: Path) -> None:
    """`--json` gives each set's strategy and each leg's count asked beside what it holds; a set
    whose row names no strategy is said to be of an unknown one."""
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        set_of_no_legs(store, "s1", no_price="0.60", filled=(A,), subaccount=1, ended="broken")
        legs = [SetLeg(t, Side.NO, Decimal("0.45"), Decimal(3)) for t in (A, B)]
        store.leg_sets.begin("s2", None, legs, 0)
    done = kalshi(tmp_path, "--state", str(path), "status")
    assert done.exit_code == 0, done.output
    shown = f"  set s2 (unknown, open, subaccount 0): {A} no 0 of 3, {B} no 0 of 3"
    assert shown in done.stdout.splitlines()
    answer = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert answer.exit_code == 0, answer.output
    found = {s["set_id"]: s for s in json.loads(answer.stdout)["sets_not_ended"]}
    assert (found["s1"]["strategy"], found["s2"]["strategy"]) == ("arbitrage", None)
    assert [(g["count"], g["held"]) for g in found["s1"]["legs"]] == [("5", "5"), ("5", "0")]
    assert [g["count"] for g in found["s2"]["legs"]] == ["3", "3"]


def test_status_says_a_set_held_to_its_settlement_is_held_not_broken(tmp_path: Path) -> None:
    """A's NO 5 held to its settlement by design (its market closed) is said as held, and its
    note asks nothing of the trader; a set whose unhedged leg is not the one held to settlement
    (B held so, A left beyond the whole sets) is still broken and counted to unwind."""
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        set_of_no_legs(store, "s1", no_price="0.60", filled=(A,), subaccount=1, ended="broken")
        store.leg_sets.mark("s1", "broken", settling=[0])
        set_of_no_legs(store, "s2", no_price="0.60", filled=(A,), subaccount=1, ended="broken")
        store.leg_sets.mark("s2", "broken", settling=[1])
    done = kalshi(tmp_path, "--state", str(path), "status")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    held = f"  set s1 (arbitrage, held to settlement, subaccount 1): {A} no 5 of 5, {B} no 0 of 5"
    assert held in lines
    assert f"  set s2 (arbitrage, broken, subaccount 1): {A} no 5 of 5, {B} no 0 of 5" in lines
    assert "1 set(s) of legs not ended" in done.stderr
    assert "1 set(s) of legs holding a leg to its settlement by design" in done.stderr
    answer = kalshi(tmp_path, "--state", str(path), "status", "--json")
    assert answer.exit_code == 0, answer.output
    found = {s["set_id"]: s for s in json.loads(answer.stdout)["sets_not_ended"]}
    assert (found["s1"]["held_to_settlement"], found["s2"]["held_to_settlement"]) == (True, False)
