"""`kalshi status` names each set of legs the state file holds not ended (a loop stopped with a set
it could not flatten exits 11, and the next start unwinds it), with what each leg holds: the
state and the orders alone said nothing of contracts left unhedged. `kalshi cancel-all` names them
too (tests/runner/test_leg_sets_under_faults_sim.py)."""

from __future__ import annotations

import json
from pathlib import Path

from kalshi_cli.store import Store
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
