"""A set of legs is begun only if every leg may go now: one the loop holds without asking the
risk engine (its market's shard paused, `trading_active` false) would stop the set after the
legs before it filled, and those would be sold back at a loss, each time the strategy decided
the set again (runner/execution/leg_sets.py `LegSets._allowed`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.runner.simproc import Book, client_for
from tests.waiting import pause, poll_until

A, B, C = "KXSETP-SIM-A", "KXSETP-SIM-B", "KXSETQ-SIM-C"
PAUSED = 3  # C's shard


def _no(ticker: str) -> Intent:
    # the book bids YES 0.40 and asks 0.60: NO asks 0.60
    return Intent(
        ticker,
        Side.NO,
        Action.BUY,
        Decimal("0.60"),
        Decimal(5),
        Decimal("0.70"),
        "arbitrage: one NO in every market",
        strategy="arbitrage",
        time_in_force=TimeInForce.IOC,
    )


def _to_the_paused_shard(account: AccountInfo) -> None:
    """$1,000 of the account's moved to C's shard, once the exchange has moved it (later than
    its answer): C's book and the leg there wait for the money."""
    mover = client_for(account)
    moved = mover.portfolio.send_transfer(Decimal(1_000), from_shard=0, to_shard=PAUSED)
    assert poll_until(lambda: mover.portfolio.get_transfer(moved).status == "complete")
    mover.close()


@pytest.mark.slow
def test_a_set_with_a_leg_on_a_paused_shard_sends_nothing(sim: SimHarness, tmp_path: Path) -> None:
    """A strategy's group of legs across two events: A and B sit on shard 0, C (another event)
    on shard 3, which the exchange then pauses. A set of NO 5 in each is dropped whole before
    anything is sent (`group_dropped` naming the shard): no leg bought, none sold back."""
    sim.create_market(A)
    sim.create_market(B)
    sim.create_market(C, exchange_index=PAUSED)
    trader = sim.new_account(balance_cents=10_000_000)
    counterparty = sim.new_account(balance_cents=10_000_000)
    for account in (trader, counterparty):
        _to_the_paused_shard(account)
    other = client_for(counterparty)
    try:
        for ticker in (A, B, C):
            Book(other, ticker).quote("0.40", "0.60")
        with rig(
            sim,
            tmp_path,
            [A, B, C],
            strategy="arbitrage",
            params={},
            trader=trader,
            trade={"shard_poll_s": 1},
            risk={"stop_loss_share": "0"},
        ) as r:

            def tick() -> None:
                r.loop.tick(r.feed.drain_messages(), full=True)
                pause()

            sim._admin("POST", f"/shards/{PAUSED}", {"trading_active": False})
            assert poll_until(lambda: bool(r.events("shard_paused")), between=tick, within_s=60)
            r.loop.legs.execute([_no(t) for t in (A, B, C)], last_data_at=r.loop.clock.wall())
            for _ in range(5):
                tick()
            (dropped,) = r.events("group_dropped")
            assert dropped["ticker"] == C, dropped
            assert f"shard {PAUSED}" in str(dropped["reason"]), dropped
            assert r.events("group_leg") == []
            assert list(r.client.orders.iter_orders()) == []
    finally:
        other.close()
