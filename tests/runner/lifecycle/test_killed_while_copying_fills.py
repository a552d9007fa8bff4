"""`kalshi trade` killed while its start-up's reconcile copies fills from the exchange: the day's
realized P&L, which the daily circuit breaker reads from the state file over every subaccount's
fills, must come out whole at the next start."""

from __future__ import annotations

import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import rebuild, reconcile
from kalshi_cli.services import reconcile as reconcile_steps
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock, utc_day
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import connect, funded_subaccount, make_markets
from tests.runner.crash_rig import Killed, copy_committed


def _started(client: KalshiClient, store: Store) -> None:
    """What `kalshi trade` on subaccount 0 (no `--subaccount`) does first: the reconcile,
    then the rebuild of its book from the state file."""
    clock = SystemClock()
    reconcile(client, store, clock)
    markets = [m for m in client.markets.iter_markets() if m.is_open]
    rebuild(store, Portfolio(markets), 0)


def test_a_kill_between_copying_fills_and_their_realized_pnl_leaves_the_day_whole(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subaccount 1 bought and sold at a loss today (placed by hand, not by the loop). The
    loop on subaccount 0 starts on a state file that has none of it: its reconcile copies the
    fills (the listing is every subaccount's), and is killed before it writes their realized
    P&L. The next start's reconcile copies nothing new; its rebuild writes the realized P&L of
    subaccount 0's book only. The day's figure must still count subaccount 1's loss."""
    (ticker,) = make_markets(prime, 1)
    assert funded_subaccount(client, 100_000) == 1
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.60"), D(10)))
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.30"), D(10)))
    client.subaccount = 1
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(10)))
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.30"), D(10)))
    client.subaccount = None
    today = utc_day(time.time())
    with Store.open(tmp_path / "whole.db") as whole:
        _started(client, whole)
        expected = whole.trading.daily_realized_pnl(today)
    assert expected < D("-3"), expected  # 10 bought at 0.60 and sold at 0.30, and the fees

    state, left = tmp_path / "state.db", tmp_path / "left.db"

    def killed(*_: Any, **__: Any) -> None:
        copy_committed(state, left)
        raise Killed("backfill_realized")

    with Store.open(state) as store, monkeypatch.context() as patched:
        patched.setattr(reconcile_steps, "backfill_realized", killed)
        with pytest.raises(Killed):
            _started(client, store)
    with Store.open(left) as store:
        assert len(store.fills.read()) == 2, "the fills were copied before the kill"
        _started(client, store)
        assert store.trading.daily_realized_pnl(today) == expected
