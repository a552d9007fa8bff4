"""`kalshi trade` with several `--strategy` flags, as a process on the simulator: both run in one
loop, the start-up names both, each order is booked to the strategy that decided it (in the
state file and in its client order id). The refusals of a malformed lineup:
tests/cli/test_lineup_options.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.order_terms import owner_in
from tests.runner.simproc import Book, client_for, log_events, trade_command, trade_env

if TYPE_CHECKING:
    from tests.conftest import SimHarness

TICKER = "KXSEVERAL-SIM-A"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=150, check=False)


@pytest.mark.slow
def test_two_strategies_run_in_one_loop_each_booked_to_its_own_name(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER).quote("0.30", "0.70")
    trader = sim.new_account(balance_cents=10_000_000)
    state = tmp_path / "state.db"
    env = trade_env(trader, tmp_path / "home", state)
    log = tmp_path / "trade.log"
    params = tmp_path / "spike.yaml"
    params.write_text("spike_share: 0.15\n")
    command = [
        *trade_command("market-maker", TICKER, log, "--once"),
        "--strategy",
        "spike",
        "--params",
        f"spike={params}",
    ]
    done = _run(command, env)
    assert done.returncode == 0, done.stderr
    events = log_events(log)
    (started,) = [e for e in events if e["event"] == "started"]
    assert started["strategies"] == [
        {"name": "market-maker", "spec": "market-maker"},
        {"name": "spike", "spec": "spike"},
    ]
    assert "market-maker, spike" in done.stderr
    placed = [e for e in events if e["event"] == "order_placed"]
    assert placed and {e["strategy"] for e in placed} == {"market-maker"}, events
    with Store.open(state) as store:
        intents = [i for i in store.orders.intents() if i.ticker == TICKER]
    assert intents and all(i.strategy == "market-maker" for i in intents)
    assert all(owner_in(i.client_order_id) == "market-maker" for i in intents)
