"""A data stall behind live pings: the loop places no order on a book older than stale_after_s.

Kalshi pings every 10 s whether or not market data flows, and data has been seen to stall
behind those pings (the issue's 45 s silence; REFERENCE.md: deltas seen 4-20 s old under load).
The simulator's `ws_silence_s` fault models exactly that: it discards every outbound message
while uvicorn's ping frames go on. The loop and its feed run on a ManualClock, so "older than
stale_after_s" is reached by moving the clock, not by waiting; the test waits only for pings to
arrive after the move, which is what used to make the old book look young.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websocket

from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.feed.book import MessageKind
from kalshi_cli.feed.ws import FeedSocket, websocket_connect
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.runner.fakes import DECIDES_IN_STEP, adjusted
from tests.runner.sim_rig import feed_ready
from tests.runner.simproc import Book, client_for
from tests.waiting import wait_until

TICKER = "KXSTALE-26-A"
STALE_AFTER_S = 2.0


class PingCounter:
    """A connector that opens the real WebSocket and counts the ping frames it receives."""

    def __init__(self) -> None:
        self.pings = 0

    def connect(self, url: str, headers: Mapping[str, str], timeout: float) -> FeedSocket:
        return _Counting(websocket_connect(url, headers, timeout), self)


class _Counting:
    def __init__(self, inner: FeedSocket, counter: PingCounter) -> None:
        self._inner = inner
        self._counter = counter

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        opcode, data = self._inner.recv_data(control_frame)
        if opcode == websocket.ABNF.OPCODE_PING:
            self._counter.pings += 1
        return opcode, data

    def send(self, payload: str) -> Any:
        return self._inner.send(payload)

    def settimeout(self, timeout: float | None) -> None:
        self._inner.settimeout(timeout)

    def close(self) -> None:
        self._inner.close()

    def shutdown(self) -> None:
        self._inner.shutdown()


@pytest.fixture
def pinging_sim(tmp_path: Path) -> Iterator[SimHarness]:
    """A simulator that pings every 0.1 s, so many pings arrive while data is stalled."""
    running = start_simulator(
        tmp_path / "sim", scenario="empty", heartbeat_s=0.1, response_hook=RECORDER.hook
    )
    harness = SimHarness(running)
    yield harness
    harness.close()


def test_no_order_on_a_book_older_than_stale_after_while_pings_go_on(
    pinging_sim: SimHarness, tmp_path: Path
) -> None:
    sim = pinging_sim
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.49", "0.51")
    trader = sim.new_account(balance_cents=10_000_000)
    client = client_for(trader)
    key, _ = load_private_key(path=Path(trader.private_key_path))
    clock = ManualClock(time.time())
    pings = PingCounter()
    feed = MarketData(
        [TICKER],
        ws_url=trader.ws_url,
        auth=KalshiAuth(trader.key_id, key),
        clock=clock,
        idle_timeout=30.0,
        stale_after=STALE_AFTER_S,
        connector=pings.connect,
    )
    store = Store.open(tmp_path / "state.db", clock=clock)
    log = EntryLog(clock, path=tmp_path / "trade.log", stderr=None)
    config = TradeConfig(strategies={"market-maker": {}}, risk={"stale_after_s": STALE_AFTER_S})
    loop = build_loop(
        LoopInputs(client, store, feed, clock, log, adjust=adjusted(DECIDES_IN_STEP)),
        TradeOptions(strategies=(StrategyChoice("market-maker"),)),
        config,
        [client.markets.get_market(TICKER)],
    )
    feed.start()
    try:
        wait_until(lambda: feed_ready(feed, [TICKER]), "the first snapshot")
        loop.gate.toggle_pause()  # no quote until the book is old
        loop.tick(feed.drain_messages(), full=True)

        sim.set_faults(ws_silence_s=600)  # data stops; uvicorn's pings go on
        book.quote("0.59", "0.61")  # the market moves while the feed hears nothing
        clock.advance(STALE_AFTER_S + 0.5)
        seen = pings.pings
        wait_until(lambda: pings.pings >= seen + 3, "pings after the book got old")

        loop.gate.toggle_pause()
        events = feed.drain_messages()
        loop.tick(events, full=True)
        assert list(client.orders.iter_orders(ticker=TICKER, status="resting")) == []
        assert loop.executor.counters.orders == 0
        assert feed.data_age(TICKER) == math.inf
        assert not feed.is_fresh(TICKER)
        stale = [(e.ticker, e.reason) for e in events if e.kind is MessageKind.STALE]
        assert stale == [(TICKER, "no_data")]

        # data flows again: the repeated snapshot request brings the moved book back, and the
        # quotes are priced from it, never from the frozen one
        sim.clear_faults()
        clock.advance(5.0)  # the unanswered snapshot request is repeated
        wait_until(lambda: feed.is_fresh(TICKER), "the book resynced")
        loop.tick(feed.drain_messages(), full=True)
        resting = list(client.orders.iter_orders(ticker=TICKER, status="resting"))
        assert resting, "the loop quotes again once the book is fresh"
        assert all(Decimal("0.55") <= o.yes_price <= Decimal("0.65") for o in resting)
    finally:
        feed.stop()
        log.close()
        store.close()
        other.close()
        client.close()
