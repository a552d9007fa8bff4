"""Announced maintenance windows, end to end: `kalshi trade` as a process on the simulator over
loopback, with a window scheduled through the simulator's admin API once the loop quotes (`GET
/exchange/schedule` lists it, as Kalshi announces its windows; the loop reads it again every
`trade.schedule_poll_s`).

From `risk.maintenance_lead_s` before the window the loop places nothing and withdraws its
quotes (the default `risk.maintenance_withdraw: quotes`); inside the window it sends no order
(the exchange would refuse each with a 503: an unknown outcome each); once the window is over it
quotes again."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.models import Order
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

TICKER = "KXMAINT-SIM-A"
# the lead time (`risk.maintenance_lead_s`, 60 s by default): the loop withdraws at its start, by
# its own clock, two cancels that take milliseconds; each second of it is a second of the test's
LEAD_S = 5
# how long after the window is announced its lead time begins: the loop's schedule read (every
# second here) has that long to see it, an order it sends meanwhile is no fault
AHEAD_S = 3
# the window's length: the loop sends nothing inside it and quotes again after it
WINDOW_S = 2
SENDS = ("order_placed", "order_unknown", "order_rejected")


def _at(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
def test_the_loop_stops_before_a_window_withdraws_its_quotes_and_resumes_after(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    mine = observer_for(trader)
    Book(client_for(sim.new_account(balance_cents=10_000_000)), TICKER).quote("0.40", "0.60")
    home = tmp_path / "home"
    home.mkdir()
    # the schedule read again every second: the window is announced once the loop quotes, so
    # however long its start took on a loaded machine, the window lies as far ahead of it
    config = f"risk:\n  maintenance_lead_s: {LEAD_S}\ntrade:\n  schedule_poll_s: 1\n"
    (home / "config.yaml").write_text(config, encoding="utf-8")
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    proc = subprocess.Popen(
        trade_command("market-maker", TICKER, log, "--duration", "120"),
        env=trade_env(trader, home, state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def resting() -> list[Order]:
        return list(mine.orders.iter_orders(ticker=TICKER, status="resting"))

    try:
        quoting = poll_until(lambda: len(resting()) == 2 or proc.poll() is not None)
        assert quoting and proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
        # the lead begins AHEAD_S from now: the loop reads the window within about a second,
        # long before, and withdraws at the lead's start by its own clock; the LEAD_S it then
        # has before the window is the product's lead time, which the test does not shorten
        start = int(time.time()) + AHEAD_S + LEAD_S
        end = start + WINDOW_S
        sim.schedule_maintenance(start, end)
        # withdrawn within the lead time, before the window begins
        assert poll_until(lambda: resting() == [], within_s=start - time.time()), resting()
        assert time.time() < start
        # quoting again once the window is over
        assert poll_until(lambda: len(resting()) == 2 or proc.poll() is not None)
        assert proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)
    events = log_events(log)
    entered = [e for e in events if e["event"] == "maintenance"]
    assert entered and entered[0]["withdraw"] == "quotes", entered
    held = [e for e in events if e["event"] in SENDS and start - LEAD_S + 1 <= _at(e) < end]
    assert held == [], held  # nothing sent from the lead time to the end of the window
    assert [e for e in events if e["event"] == "order_unknown"] == []
    assert any(e["event"] == "order_placed" and _at(e) >= end for e in events)
