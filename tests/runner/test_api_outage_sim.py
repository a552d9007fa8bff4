"""The API error guard under an outage, end to end: `kalshi trade` as a process on the
simulator over loopback, with every REST answer a 5xx (the simulator's `http_5xx_rate` knob).

A loop whose calls all fail for `risk.api_outage_s` seconds is in SAFE_MODE by then, whatever
its backoff makes of the count of consecutive errors: while it backs off it makes few calls, so
the count alone climbs slowly, and a loop left trading without a person through an outage is
what the guard is for. Reads (fill reads, lookups, cancels) count as much as orders."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import poll_until

TICKER = "KXOUTAGE-SIM-A"


def _state(state: Path) -> str:
    with Store.open(state) as store:
        return store.trading.trading_state().state


@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [3])
def test_an_exchange_failing_every_request_puts_the_loop_in_safe_mode(
    sim: SimHarness, tmp_path: Path, outage_s: int
) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    mine = observer_for(trader)
    Book(client_for(sim.new_account(balance_cents=10_000_000)), TICKER).quote("0.40", "0.60")
    home = tmp_path / "home"
    home.mkdir()
    # the error count alone would need 50 errors in a row: only the outage's seconds trip it
    (home / "config.yaml").write_text(
        f"risk:\n  max_consecutive_errors: 50\n  api_outage_s: {outage_s}\n", encoding="utf-8"
    )
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    proc = subprocess.Popen(
        trade_command("market-maker", TICKER, log, "--duration", "120"),
        env=trade_env(trader, home, state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        quoting = poll_until(
            lambda: (
                len(list(mine.orders.iter_orders(ticker=TICKER, status="resting"))) == 2
                or proc.poll() is not None
            )
        )
        assert quoting and proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
        sim.set_faults(http_5xx_rate=1.0)
        began = time.monotonic()
        # however long a loaded machine takes the loop to reach its outage's seconds: that it
        # tripped on the outage (not on the error count) is the detail asserted below
        tripped = poll_until(
            lambda: (
                any(e["event"] == "safe_mode" for e in log_events(log)) or proc.poll() is not None
            )
        )
        took = time.monotonic() - began
        assert proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
        assert tripped, f"no SAFE_MODE after {took:.0f}s of a total outage"
        assert _state(state) == "SAFE_MODE"
        safe = next(e for e in log_events(log) if e["event"] == "safe_mode")
        assert "outage" in str(safe["detail"]), safe
    finally:
        sim.clear_faults()
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)
