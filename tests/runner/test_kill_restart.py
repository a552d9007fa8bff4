"""`kalshi trade` killed with SIGKILL at 20 random points, then restarted each time (two runs of
ten, each a test of its own, so that the two halves run side by side on two workers).

The loop runs as a real process against the test's simulator (over loopback), market-making one
market while a second account in the test moves the book and trades into the quotes, so orders
are placed, replaced, cancelled and filled all the time. Kill delays are seeded: one kill in
four lands in the first fraction of a second (start-up, reconciliation), the others up to 1.3 s
after the run logged `started` (placing, between ticks, in the middle of one). After every kill
the state file is reconciled exactly as a restart does it, then checked against the exchange:
every order the account has there was written to the state file by the loop before it was sent
(none imported as external), each intent's status is the exchange's, positions rebuilt from the
state file's fills equal the exchange's, and SQLite's integrity check passes. The next run is
the restart itself and must get past its own start-up checks whenever it lives long enough to.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import threading
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import rebuild
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.simproc import client_for, log_events, trade_command, trade_env
from tests.waiting import wait_until, while_running

TICKER = "KXKILL-SIM-A"
KILLS = 10  # per run: the test's two runs, 20 in all
SEEDS = {"kills-1-10": 20_260_101, "kills-11-20": 20_260_111}


class Counterparty:
    """The other side of the market: resting quotes it moves, and IOC orders into the loop's."""

    def __init__(self, client: KalshiClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.resting: list[str] = []

    def requote(self) -> None:
        for order_id in self.resting:
            with contextlib.suppress(KalshiError):  # filled meanwhile
                self.client.orders.cancel_order(order_id, ticker=TICKER)
        bid = Decimal(self.rng.choice(["0.42", "0.43", "0.44", "0.45"]))
        ask = Decimal(self.rng.choice(["0.55", "0.56", "0.57", "0.58"]))
        self.resting = [
            self._order(BookSide.BID, bid, TimeInForce.GTC).order_id,
            self._order(BookSide.ASK, ask, TimeInForce.GTC).order_id,
        ]

    def trade(self) -> None:
        """Sell YES at or above 0.46, or buy YES at or below 0.54: only the loop's quotes sit
        inside the counterparty's own, so only they are hit."""
        if self.rng.random() < 0.5:
            self._order(BookSide.ASK, Decimal("0.46"), TimeInForce.IOC, self.rng.randint(1, 4))
        else:
            self._order(BookSide.BID, Decimal("0.54"), TimeInForce.IOC, self.rng.randint(1, 4))

    def _order(
        self, side: BookSide, price: Decimal, tif: TimeInForce, count: int = 20
    ) -> CreateOrderResult:
        return self.client.orders.create_order(
            CreateOrder(
                ticker=TICKER,
                book_side=side,
                price=price,
                count=Decimal(count),
                time_in_force=tif,
            )
        )

    def act(self) -> None:
        if self.rng.random() < 0.3:
            self.requote()
        else:
            self.trade()

    def run(self, active: threading.Event, busy: threading.Lock, done: threading.Event) -> None:
        """Act every 20 ms while `active`; `busy` is held during each action, so the test can
        wait for the one under way to finish before it compares the books."""
        while not done.is_set():
            if not active.wait(0.05):
                continue
            with busy:
                if active.is_set():
                    self.act()
            done.wait(0.02)


def _events(log: Path, start: int) -> list[str]:
    return [str(e["event"]) for e in log_events(log)[start:]]


def _started_since(log: Path, starts_before: int) -> bool:
    """Whether the log says `started` more often than the `starts_before` it said already."""
    return _events(log, 0).count("started") > starts_before


def _traded(log: Path, since: int) -> bool:
    """Whether the log says `order_placed` 20 times, and `fill_received` after its first
    `since` events."""
    return _events(log, 0).count("order_placed") >= 20 and "fill_received" in _events(log, since)


def _reader_between_runs(account: AccountInfo) -> KalshiClient:
    """A client of the traded account at the tier's whole read budget, for the checks made
    after a run was killed and reaped and before the next one starts: no `kalshi trade` reads
    beside it, so it takes nothing a loop needs. (simproc.observer_for, a tenth of the budget,
    made each check wait about 4.7 s of 4.8 on the rate limiter: 21 checks took the test to
    134 s of its 180 on a loaded machine.)"""
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)


def _check_against_exchange(state: Path, trader: KalshiClient) -> dict[str, int]:
    """Reconcile as a restart does, then compare the state file with the exchange."""
    with Store.open(state, clock=SystemClock()) as store:
        clock = SystemClock()
        report = OrderService(trader, store, clock=clock).reconcile()
        # a kill between writing a request's intents and the request reaching the exchange
        # leaves them unknown until they can no longer land (docs/orders.md "Orders that land
        # late"): one order, or the bid and the ask the loop sends as one batch for this one
        # market; the dead process sends nothing more, so past the window they settle
        assert len(report.still_unknown) <= 2, report.still_unknown
        assert report.orders_imported == [], "an order on the exchange the loop never recorded"
        if report.still_unknown:
            later = ManualClock(clock.wall() + LANDING_WINDOW_S + DEFAULT_READ_LAG_S + 1)
            assert OrderService(trader, store, clock=later).reconcile().still_unknown == []
        exchange_orders = list(trader.orders.iter_orders(ticker=TICKER))
        for order in exchange_orders:
            intent = store.orders.get_intent(order.client_order_id)
            assert intent is not None, f"order {order.order_id} unknown to the state file"
            assert intent.strategy == "market-maker", intent
            assert intent.order_id == order.order_id
            assert intent.status == order.status, (intent, order.status)
        assert store.orders.intents(status=["pending", "unknown"]) == []
        market = trader.markets.get_market(TICKER)
        portfolio = Portfolio([market])
        rebuild(store, portfolio)
        ours = {m.ticker: m.position for m in portfolio.open_positions()}
        theirs = {p.ticker: p.position for p in trader.portfolio.get_positions()}
        assert ours == theirs, f"state file positions {ours} != exchange {theirs}"
        assert store.integrity_check() == "ok"
        return {"orders": len(exchange_orders), "fills": len(list(store.fills.iter_fills()))}


@pytest.mark.slow
@pytest.mark.parametrize("seed", list(SEEDS.values()), ids=list(SEEDS))
def test_sigkill_at_twenty_points_then_restart_loses_nothing(
    sim: SimHarness, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    sim.create_market(TICKER)
    trader_account = sim.new_account(balance_cents=10_000_000)
    other_account = sim.new_account(balance_cents=10_000_000)
    trader = _reader_between_runs(trader_account)  # used only while no loop runs
    other = Counterparty(client_for(other_account), random.Random(seed + 1))
    other.requote()
    state = tmp_path / "state.db"
    log = tmp_path / "trade.log"
    env = trade_env(trader_account, tmp_path / "home", state)
    command = trade_command("market-maker", TICKER, log, "--duration", "60")
    phases: list[str] = []
    seen = 0
    # the counterparty acts from its own thread, so its requests (paced by the client's rate
    # limiter) never delay a kill past its moment
    active, busy, done = threading.Event(), threading.Lock(), threading.Event()
    actor = threading.Thread(target=other.run, args=(active, busy, done), daemon=True)
    actor.start()
    stderr_path = tmp_path / "stderr.txt"
    stderr = stderr_path.open("a")
    try:
        for i in range(KILLS):
            # every fourth kill lands in start-up (imports, reconciliation, the first book): a
            # fixed moment after launch; the rest while quoting and trading: a moment after the
            # run logged `started`, so a loaded machine's slower start-up cannot turn them all
            # into start-up kills
            in_start_up = i % 4 == 0
            delay = rng.uniform(0.02, 0.2) if in_start_up else rng.uniform(0.0, 1.3)
            started_before = _events(log, 0).count("started")
            proc = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            if not in_start_up:
                wait_until(
                    partial(_started_since, log, started_before),
                    "the loop to start",
                    between=while_running(proc, stderr_path),
                )
                # the counterparty trades only once the restart is past its start-up checks:
                # hitting the killed run's quotes meanwhile would move the position between the
                # check's reads, and the loop rightly refuses to start on a moving position
                active.set()
            time.sleep(delay)  # the kill point itself, not a wait for a condition
            assert proc.poll() is None, stderr_path.read_text()[-2000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            active.clear()
            with busy:  # no trade lands on the account while it is compared
                pass
            events = _events(log, seen)
            seen += len(events)
            phases.append(
                ("trading: " if "started" in events else "start-up: ")
                + (events[-1] if events else "(nothing logged)")
            )
            _check_against_exchange(state, trader)
        # the last restart runs past every start-up check and trades until the whole run has
        # placed 20 orders and it has a fill of its own (however long a loaded machine makes
        # that: the kills' short runs may have done little), then stops and exits 0
        before = _events(log, 0)
        final = subprocess.Popen(
            trade_command("market-maker", TICKER, log, "--duration", "600"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until(
                partial(_started_since, log, before.count("started")),
                "the last restart to start",
                between=while_running(final, stderr_path),
            )
            active.set()
            wait_until(
                partial(_traded, log, len(before)),
                "20 orders placed and a fill of the last run's",
                between=while_running(final, stderr_path),
            )
            active.clear()
            with busy:  # no trade lands on the account while it stops and is compared
                pass
            final.send_signal(signal.SIGTERM)
            final.wait(timeout=60)
        finally:
            active.clear()
            if final.poll() is None:
                final.kill()
                final.wait()
        assert final.returncode == 0, stderr_path.read_text()[-2000:]
        totals = _check_against_exchange(state, trader)
    finally:
        stderr.close()
        done.set()
        actor.join(10)
        trader.close()
        other.client.close()
    events = _events(log, 0)
    assert events.count("started") >= KILLS // 2, phases
    assert events.count("order_placed") >= 20, "the loop must really have traded"
    assert totals["fills"] > 0, "the counterparty must have traded with the loop"
    assert sum(p.startswith("start-up") for p in phases) >= 2, phases
    assert sum(p.startswith("trading") for p in phases) >= KILLS // 2, phases
