"""`kalshi cancel-all` names each set of legs not ended (no cancel evens one out); a set whose
unhedged leg the loop holds to its settlement by design is said as held, not broken, in its text
and apart in its `--json`, by the rule `kalshi check orders` and `kalshi status` read."""

from __future__ import annotations

import io
from pathlib import Path

from kalshi_cli.cli._output import Output
from kalshi_cli.cli.trading import render_kill_report
from kalshi_cli.services.killswitch.report import KillReport
from kalshi_cli.store import Store
from tests.store.leg_set_orders import A, B, set_of_no_legs


def test_a_set_held_to_settlement_is_said_held_and_a_broken_one_broken(tmp_path: Path) -> None:
    """s1 holds A's NO 5 to its settlement by design; s2 holds A's NO 5 with only B (which it
    does not hold) marked so: A is unhedged in s2, which stays broken."""
    with Store.open(tmp_path / "state.db") as store:
        set_of_no_legs(store, "s1", no_price="0.60", filled=(A,), subaccount=0, ended="broken")
        store.leg_sets.mark("s1", "broken", settling=[0])
        set_of_no_legs(store, "s2", no_price="0.60", filled=(A,), subaccount=0, ended="broken")
        store.leg_sets.mark("s2", "broken", settling=[1])
        report = KillReport(proven=True, broken_sets=store.leg_sets.not_ended())
    document = report.to_json()
    assert [s["set_id"] for s in document["broken_sets"]] == ["s2"]
    assert [s["set_id"] for s in document["sets_held_to_settlement"]] == ["s1"]
    out = io.StringIO()
    render_kill_report(Output(stdout=out), report, scope="all markets")
    lines = out.getvalue().splitlines()
    held = f"set s1 (arbitrage, held to settlement, subaccount 0): {A} no 5 of 5, {B} no 0 of 5"
    assert f"set of legs held to its settlement (it ends as its market settles): {held}" in lines
    broken = f"set s2 (arbitrage, broken, subaccount 0): {A} no 5 of 5, {B} no 0 of 5"
    assert f"broken set of legs (no cancel evens it out): {broken}" in lines
    assert not [line for line in lines if "broken" in line and "s1" in line]
