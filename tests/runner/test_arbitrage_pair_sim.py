"""Arbitrage across the two markets of a mutually exclusive event the trader states exhaustive,
as `kalshi trade` on the real simulator: the loop groups the markets from the exchange's event
data, sees YES asks whose sum leaves a profit after both fees, and buys YES in both, each leg
IOC. The same books in an event not flagged mutually exclusive are left alone (the pair is not
a $1.00 pair there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    stop,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import poll_until


def _run_pair(sim: SimHarness, tmp_path: Path, *, exclusive: bool) -> list[dict[str, Any]]:
    """Run the loop on the pair until it has bought both legs (an exclusive event), or for a
    few seconds in which it must buy neither; then SIGTERM, and its `order_placed` events."""
    a, b = "KXPAIR-SIM-A", "KXPAIR-SIM-B"
    for ticker in (a, b):
        sim.create_market(
            ticker,
            event_ticker="KXPAIR-SIM",
            series_ticker="KXPAIR",
            title="Who wins?",
            mutually_exclusive=exclusive,
        )
    trader = sim.new_account(balance_cents=10_000_000)
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    # YES asks 0.45 and 0.47: 8 cents a pair before fees, about 3.5 after both
    Book(maker, a).quote("0.43", "0.45")
    Book(maker, b).quote("0.45", "0.47")
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    params = tmp_path / "arbitrage.yaml"
    params.write_text("exhaustive_events: [KXPAIR-SIM]\n", encoding="utf-8")
    bounds = ("--duration", "60", "--params", str(params))
    command = trade_command("arbitrage", f"{a},{b}", log, *bounds)
    with trade_process(command, trade_env(trader, tmp_path / "home", state)) as proc, maker:

        def placed_both() -> bool:
            tickers = {e["ticker"] for e in log_events(log) if e["event"] == "order_placed"}
            return tickers >= {a, b} or proc.poll() is not None

        fresh = poll_until(lambda: any(e["event"] == "feed_fresh" for e in log_events(log)))
        assert fresh and proc.poll() is None
        if exclusive:
            # however long a loaded machine takes: the legs are asserted below
            assert poll_until(placed_both) and proc.poll() is None, log_events(log)[-5:]
        else:
            poll_until(placed_both, within_s=3)  # what it would place in the while, if anything
        err = stop(proc)
    assert proc.returncode == 0, err[-2000:]
    with Store.open(state) as store:
        assert all(i.strategy == "arbitrage" for i in store.orders.intents())
    return [e for e in log_events(log) if e["event"] == "order_placed"]


@pytest.mark.slow
def test_yes_of_both_exclusive_markets_is_bought_when_it_pays(
    sim: SimHarness, tmp_path: Path
) -> None:
    placed = _run_pair(sim, tmp_path, exclusive=True)
    legs = {(e["ticker"], e["side"], e["action"], e["price"]) for e in placed}
    assert ("KXPAIR-SIM-A", "yes", "buy", "0.4500") in legs
    assert ("KXPAIR-SIM-B", "yes", "buy", "0.4700") in legs
    assert all(str(e["reason"]).startswith("arbitrage") for e in placed)


@pytest.mark.slow
def test_the_same_books_in_a_non_exclusive_event_are_left_alone(
    sim: SimHarness, tmp_path: Path
) -> None:
    assert _run_pair(sim, tmp_path, exclusive=False) == []
