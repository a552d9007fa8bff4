"""`kalshi trade` against a simulator whose reads lag writes by 500 ms (`read_lag_ms`; Kalshi was
seen answering `resting` ~360 ms after acknowledging a cancel), while a second account moves the
book and trades into the loop's quotes: quotes are placed, replaced, cancelled and filled, and
the loop's reads of orders and positions answer as of half a second ago. Afterwards the state
file matches the exchange order for order (none placed twice, none unknown, none imported),
and the positions rebuilt from its fills equal the exchange's (no fill counted twice)."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import SimHarness
from tests.runner.simproc import client_for, log_events, observer_for, trade_command, trade_env
from tests.runner.test_kill_restart import TICKER, Counterparty, _check_against_exchange
from tests.waiting import stderr_tail, wait_until, while_running


def _quoted_and_filled(log: Path) -> bool:
    events = [e["event"] for e in log_events(log)]
    return events.count("order_placed") >= 5 and "fill_received" in events


def test_the_trade_loop_stays_consistent_under_500ms_of_read_lag(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    trader_account = sim.new_account(balance_cents=10_000_000)
    other_account = sim.new_account(balance_cents=10_000_000)
    trader = observer_for(trader_account)  # not the loop's whole read budget
    other = Counterparty(client_for(other_account), random.Random(7))
    other.requote()
    sim.set_faults(read_lag_ms=500)
    state = tmp_path / "state.db"
    log = tmp_path / "trade.log"
    env = trade_env(trader_account, tmp_path / "home", state)
    active, busy, done = threading.Event(), threading.Lock(), threading.Event()
    actor = threading.Thread(target=other.run, args=(active, busy, done), daemon=True)
    actor.start()
    err = tmp_path / "stderr.txt"
    try:
        active.set()
        with err.open("w") as stderr:
            run = subprocess.Popen(
                trade_command("market-maker", TICKER, log, "--duration", "600"),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            began = time.monotonic()
            try:
                # the loop runs for 8 s and until it has really quoted and been traded with,
                # however long a loaded machine makes that; then it stops as at its --duration
                wait_until(
                    lambda: time.monotonic() - began >= 8 and _quoted_and_filled(log),
                    stderr_tail(err, "five orders placed and a fill"),
                    between=while_running(run, err),
                )
                run.send_signal(signal.SIGTERM)
                run.wait(timeout=90)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait()
        active.clear()
        with busy:  # no trade lands on the account while it is compared
            pass
        assert run.returncode == 0, err.read_text()[-2000:]
        sim.clear_faults()
        totals = _check_against_exchange(state, trader)
        placed = [e for e in log_events(log) if e["event"] == "order_placed"]
        creates = sim.stats()["accounts"][trader_account.key_id]["order_create_requests"]
    finally:
        done.set()
        actor.join(10)
        trader.close()
        other.client.close()
    assert len(placed) >= 5, "the loop must really have quoted"
    assert totals["fills"] > 0, "the counterparty must have traded with the loop"
    # every order on the exchange is one the log and the state file know, each with its own
    # client order id, and no more create requests than orders (a pass's orders go out as one
    # batch): none sent twice
    assert totals["orders"] == len(placed) == len({e["client_order_id"] for e in placed})
    assert 0 < creates <= len(placed)
