"""The idle trade loop waits on the feed (`wait_for_messages`) instead of polling it: it acts on an
event the moment the feed queues it, never sleeps past a full pass (the timer work rides on
those), and never spins. A fake feed whose wait moves the manual clock stands in for the feed
thread."""

from __future__ import annotations

import threading
from pathlib import Path

from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from tests.runner.fakes import (
    START,
    FakeClient,
    FakeFeed,
    Rig,
    adjusted,
    make_rig,
    new_exchange,
    trader,
)


class WakingFeed(FakeFeed):
    """A feed that can wake the loop: `arrivals` are books shown at set monotonic times, as the
    feed thread would queue them; a wait with nothing due moves the clock by its timeout."""

    def __init__(self, exchange: Exchange, account_id: str, clock: ManualClock) -> None:
        super().__init__(exchange, account_id, clock)
        self.waits: list[tuple[float, float]] = []  # (when, timeout)
        self.arrivals: list[tuple[float, Orderbook]] = []
        self.reads: list[tuple[float, str]] = []  # (when, ticker) of each book read

    def wait_for_messages(self, timeout_s: float) -> bool:
        now = self.clock.monotonic()
        self.waits.append((now, timeout_s))
        if self.messages:
            return True
        if self.arrivals and self.arrivals[0][0] <= now + timeout_s:
            at, book = self.arrivals.pop(0)
            self.clock.advance(at - now)
            self.show(book)
            return True
        self.clock.advance(timeout_s)
        return False

    def book(self, ticker: str) -> Orderbook | None:
        self.reads.append((self.clock.monotonic(), ticker))
        return super().book(ticker)


def waking_rig(
    tmp_path: Path, *, tick_interval_s: float, idle_wait_s: float
) -> tuple[Rig, WakingFeed]:
    """`make_rig`, on a feed that can wake the loop."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    account_id = trader(exchange)
    client = FakeClient(exchange, account_id, clock=clock)
    feed = WakingFeed(exchange, account_id, clock)
    store = Store.open(tmp_path / "state.db", clock=clock)
    log = EntryLog(clock, path=None, stderr=None)
    markets = [client.get_market(t) for t in exchange.reference.markets]
    settings = {"tick_interval_s": tick_interval_s, "idle_wait_s": idle_wait_s}
    loop = build_loop(
        LoopInputs(client, store, feed, clock, log, adjust=adjusted(settings)),
        TradeOptions(strategies=(StrategyChoice("spike"),)),
        TradeConfig(strategies={"spike": {}}, risk={}),
        [m for m in markets if m.is_open],
    )
    return Rig(loop, client, feed, store, clock, exchange), feed


def test_the_idle_loop_keeps_its_full_passes_on_time_and_never_spins(tmp_path: Path) -> None:
    """10 s with no events, a full pass due every 0.375 s and waits of at most 0.25 s: a pass at
    every multiple of 0.375 s (27 of them; a wait that ignored the pass would land them every
    0.5 s, 20), and every wait a positive timeout that ends no later than the next pass."""
    rig, feed = waking_rig(tmp_path, tick_interval_s=0.375, idle_wait_s=0.25)
    start = rig.clock.monotonic()
    rig.loop.run(stop=threading.Event(), duration_s=10.0)
    assert rig.loop.ticks == 27
    assert feed.waits, "the loop never waited on the feed"
    for when, timeout in feed.waits:
        assert 0 < timeout <= 0.25
        since = when - start
        next_pass = (since // 0.375 + 1) * 0.375
        assert since + timeout <= next_pass + 1e-9
    assert len(feed.waits) <= 2 * rig.loop.ticks


def test_an_event_is_acted_on_when_it_arrives_not_at_the_next_pass(tmp_path: Path) -> None:
    """A book shown 0.3 s into a 1 s full-pass interval is read by the loop at 0.3 s."""
    rig, feed = waking_rig(tmp_path, tick_interval_s=1.0, idle_wait_s=0.05)
    ticker = next(iter(rig.loop.portfolio.markets))
    start = rig.clock.monotonic()
    book = feed.book(ticker)
    assert book is not None
    feed.arrivals.append((start + 0.3, book))
    feed.reads.clear()
    rig.loop.run(stop=threading.Event(), duration_s=0.9)
    reads_after_start = [round(when - start, 9) for when, t in feed.reads if t == ticker]
    assert 0.3 in reads_after_start
    assert rig.loop.ticks == 2  # the full pass at 0, the event at 0.3, nothing else


def test_a_feed_that_cannot_wake_is_polled_on_its_clock(tmp_path: Path) -> None:
    """The fake feed has no `wait_for_messages` (like a recorded feed on a simulated clock): the
    loop sleeps `poll_s` of that clock between looks and still runs its passes."""
    rig = make_rig(tmp_path / "state.db")
    assert not hasattr(rig.feed, "wait_for_messages")
    rig.loop.run(stop=threading.Event(), duration_s=2.5)
    assert rig.loop.ticks == 3
