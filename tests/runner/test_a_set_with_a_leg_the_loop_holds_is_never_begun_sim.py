"""A set of legs is begun only if every leg may go now: one the loop holds without asking the
risk engine (its market's shard paused, `trading_active` false) would stop the set after the
legs before it filled, and those would be sold back at a loss, each time the strategy decided
the set again (runner/execution/leg_sets.py `LegSets._allowed`)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import httpx
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


class _HoldsB(httpx.HTTPTransport):
    """The real transport, holding B's order create until `open` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.open, self.held = threading.Event(), threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and B.encode() in request.content:
            self.held.set()
            self.open.wait(60)
        return super().handle_request(request)


@pytest.mark.slow
def test_a_sale_back_the_loop_holds_waits_saying_why_and_goes_once_the_shard_trades(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A set of NO 5 in C (shard 3) and B: C fills, and while B is out the exchange pauses
    shard 3; B is then refused (its market paused). The sale back of C is one the loop holds
    (its shard does not trade): it waits, one `group_waits` naming the shard, never given up
    as filled short, and goes once the shard trades again: the set ends flat. On the old code
    it was logged as a sale that filled short, and the set left broken until the stop."""
    sim.create_market(B)
    sim.create_market(C, exchange_index=PAUSED)
    trader = sim.new_account(balance_cents=10_000_000)
    counterparty = sim.new_account(balance_cents=10_000_000)
    for account in (trader, counterparty):
        _to_the_paused_shard(account)
    other = client_for(counterparty)
    transport = _HoldsB()
    try:
        for ticker in (B, C):
            Book(other, ticker).quote("0.40", "0.60")
        with rig(
            sim,
            tmp_path,
            [C, B],
            strategy="arbitrage",
            params={},
            trader=trader,
            transport=transport,
            send_workers=2,
            trade={"shard_poll_s": 1},
            risk={"stop_loss_share": "0"},
        ) as r:

            def tick() -> None:
                r.loop.tick(r.feed.drain_messages(), full=True)
                pause()

            def shard(active: bool) -> None:
                sim._admin("POST", f"/shards/{PAUSED}", {"trading_active": active})

            sim.set_status(B, "paused")
            try:
                r.loop.legs.execute([_no(t) for t in (C, B)], last_data_at=r.loop.clock.wall())
                assert poll_until(transport.held.is_set, between=tick, within_s=60)
                shard(False)
                assert poll_until(lambda: bool(r.events("shard_paused")), between=tick, within_s=60)
            finally:
                transport.open.set()
            said = ("group_waits", "group_unwind_failed")
            assert poll_until(lambda: any(r.events(e) for e in said), between=tick, within_s=60)
            assert r.events("group_unwind_failed") == []
            (waits,) = r.events("group_waits")
            assert f"shard {PAUSED}" in str(waits["reason"]), waits
            assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
            assert r.events("group_done") == []
            shard(True)
            assert poll_until(lambda: bool(r.events("group_done")), between=tick, within_s=60)
            (done,) = r.events("group_done")
            assert done["status"] == "flat", done
            assert r.events("group_unwind_failed") == []
            assert len(r.events("group_waits")) == 1
            positions = {p.ticker: p.position for p in r.client.portfolio.get_positions()}
            assert positions.get(C, Decimal(0)) == 0
    finally:
        other.close()
