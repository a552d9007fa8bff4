"""`kalshi trade` as a process on the embedded simulator: SIGTERM mid-run, while another
strategy's `decide` never returns."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from kalshi_cli.store import Store
from tests.runner.simproc import trade_process
from tests.waiting import wait_until

HANGS = """
import time

from kalshi_cli.strategy_api import Params, Strategy


class HangsParams(Params, frozen=True):
    pass


CALLS = []


def decide(snapshot, position, params):
    CALLS.append(snapshot.ticker)
    if len(CALLS) > 1:  # past its start (the first call may take 10 s): one deadline
        time.sleep(3600)
    return []


STRATEGY = Strategy(name="hangs", params_type=HangsParams, decide_fn=decide)
"""


def test_sigterm_cancels_the_loops_resting_orders_and_exits_0_while_a_decide_hangs(
    tmp_path: Path,
) -> None:
    hangs = tmp_path / "hangs.py"
    hangs.write_text(HANGS, encoding="utf-8")
    env = {**os.environ, "KALSHI_HOME": str(tmp_path / "home")}
    log = tmp_path / "trade.log"
    command = [sys.executable, "-m", "kalshi_cli", "trade", "--strategy", "market-maker"]
    command += ["--strategy", str(hangs), "--duration", "60", "--log-file", str(log)]
    with trade_process(command, env) as proc:
        wait_until(
            lambda: (
                log.exists()
                and '"status":"resting"' in (text := log.read_text())
                and '"event":"strategy_stopped"' in text
            ),
            "the market maker to have a resting quote and the hung strategy to be stopped",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "summary:" in out and "realized P&L" in out
    # withdrawn at once through the session's order group, and proven gone by a listing
    assert '"event":"stop_group_triggered"' in log.read_text()
    assert '"event":"stop_proven"' in log.read_text()
    assert '"event":"strategy_stopped"' in log.read_text()  # the hung one, alone
    state = next((tmp_path / "home" / "state").rglob("state.db"))
    with Store.open(state) as store:
        assert [o for o in store.orders.open_orders() if o.strategy == "market-maker"] == []
        assert store.entries.last_heartbeat("trade") is not None
