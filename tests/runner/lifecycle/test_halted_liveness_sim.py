"""A halted loop is alive, end to end: `kalshi trade` as a process on the simulator, `kalshi halt`
and `kalshi check heartbeat` as processes of their own. The check stays OK (liveness) and names
the trading state HALTED; its heartbeat goes on beating through the halt."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    kalshi_process,
    log_events,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import poll_until

TICKER = "KXLIVE-SIM-A"


def _beats(log: Path) -> int:
    return sum(1 for e in log_events(log) if e["event"] == "heartbeat" and e["state"] == "HALTED")


@pytest.mark.slow
def test_a_halted_loop_keeps_beating_and_the_check_says_ok_and_halted(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    Book(client_for(sim.new_account(balance_cents=10_000_000)), TICKER).quote("0.40", "0.60")
    home = tmp_path / "home"
    home.mkdir()
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    env = trade_env(trader, home, state)
    with trade_process(trade_command("market-maker", TICKER, log, "--duration", "90"), env) as proc:
        beating = poll_until(
            lambda: (
                any(e["event"] == "heartbeat" for e in log_events(log)) or proc.poll() is not None
            )
        )
        assert beating and proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
        assert kalshi_process(env, "halt", "--reason", "a person looks").returncode == 0
        # five heartbeats written after the loop saw the halt: it is alive, and halted
        assert poll_until(lambda: _beats(log) >= 5 or proc.poll() is not None)
        assert proc.poll() is None
        check = kalshi_process(env, "check", "heartbeat")
        assert check.returncode == 0, check.stdout
        assert "HEARTBEAT OK" in check.stdout and "trading state HALTED" in check.stdout
        with Store.open(state) as store:
            beat = store.entries.last_heartbeat("trade")
        assert beat is not None and beat.detail["state"] == "HALTED"
        status = kalshi_process(env, "status")
        assert status.stdout.splitlines()[0] == "trading state: HALTED"
