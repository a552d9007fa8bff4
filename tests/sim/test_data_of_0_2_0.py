"""Simulator data written by version 0.2.0 is served by this version: its journal (and a snapshot
it compacted) restore the account's money, orders and fills, the markets the scenario has gained
since are listed, every market of it reads as shard 0, and a tick runs without an error. The two
data directories under `data/sim_0_2_0/` were written by the 0.2.0 code (`make_fixture.py` there
says how)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.scenarios import build_exchange, load_scenario
from kalshi_cli.vocabulary.clock import ManualClock

DATA = Path(__file__).parent / "data" / "sim_0_2_0"
WRITTEN_AT = 1_790_000_000.0  # the fixture's clock


def _served(tmp_path: Path, kind: str) -> tuple[Exchange, ManualClock]:
    shutil.copytree(DATA / kind, tmp_path / kind)
    clock = ManualClock(WRITTEN_AT + 60)
    exchange = build_exchange("default", clock=clock, journal=tmp_path / kind / "exchange.journal")
    return exchange, clock


@pytest.mark.parametrize("kind", ["journal", "snapshot"])
def test_data_of_0_2_0_is_served_and_ticks_without_an_error(tmp_path: Path, kind: str) -> None:
    exchange, clock = _served(tmp_path, kind)
    try:
        assert exchange.restored
        for _ in range(3):
            clock.advance(1)
            exchange.tick()  # 0.2.0's data failed here, every tick: a market it lacked
        scenario = load_scenario("default")
        tickers = {
            m["ticker"]
            for s in scenario["series"]
            for e in s.get("events") or []
            for m in e.get("markets") or []
        }
        assert tickers <= set(exchange.reference.markets)  # those added since are listed
        assert {m.exchange_index for m in exchange.reference.markets.values()} == {0}
        assert {e.exchange_index for e in exchange.reference.events.values()} == {0}
        user = exchange.accounts.account_by_key("fixture-key")
        assert user is not None
        uid = user.account_id
        # $1,000.00 less $25.00 moved to subaccount 1, all of it on shard 0
        assert exchange.accounts.cash_dollars(f"{uid}/1") == Decimal("25")
        assert dict(exchange.accounts.acct(f"{uid}/1").cash) == {0: Decimal("25")}
        resting = exchange.accounts.resting_orders(uid)
        assert sorted((o.ticker, str(o.price)) for o in resting) == [
            ("KXBTCD-SIM-T97000", "0.10"),
            ("KXNBAGAME-SIM-LALGSW-LAL", "0.05"),
        ]
        assert [f.ticker for f in exchange.history.fills(uid)] == ["KXBTCD-SIM-T97000"]
        assert set(dict(exchange.accounts.acct(uid).cash)) == {0}
        assert exchange.accounts.held_dollars(uid) > 0
        # a balance's time of last change, which 0.2.0 did not keep: before it was served again
        for ledger in (uid, f"{uid}/1"):
            assert 0 < exchange.accounts.balance_updated(ledger) < WRITTEN_AT + 60
    finally:
        exchange.close()


def test_data_of_0_2_0_keeps_what_it_gained_across_a_restart(tmp_path: Path) -> None:
    """The markets listed at the first start are journaled: a second start has them once."""
    exchange, _ = _served(tmp_path, "journal")
    count = len(exchange.reference.markets)
    exchange.close()
    again = build_exchange(
        "default",
        clock=ManualClock(WRITTEN_AT + 120),
        journal=tmp_path / "journal" / "exchange.journal",
    )
    try:
        assert len(again.reference.markets) == count
        again.tick()
    finally:
        again.close()
