"""A paper loop on the fakes: the trade loop of `kalshi trade --paper` (built by `build_loop` with
`paper=True`, a `PaperClient` and a `PaperFeed` around the venue, as runner/lifecycle/session.py
builds them), its market data from a simulator core standing in for the exchange. The fake exchange
client fails on any write: a paper loop has no path to one. Its clock is a manual one, so each
`decide` runs on the loop's thread, as a backtest's does: on a worker under its real-time deadline
(strategies/deadline.py), what a step decided would hang on how fast the host ran it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kalshi_cli.runner import paper
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.lifecycle.lock import acquire
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from tests.runner.fakes import (
    DECIDES_IN_STEP,
    START,
    FakeClient,
    FakeFeed,
    adjusted,
    new_exchange,
    trader,
)

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.feed import MarketData
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.sim.core.exchange import Exchange
    from kalshi_cli.venue import LocalVenue

WRITES = frozenset(
    {
        "create_order",
        "cancel_order",
        "batch_cancel",
        "cancel_all_orders",
        "amend_order",
        "decrease_order",
        "batch_create",
        "trigger_order_group",
        "create_order_group",
    }
)


class NoWrites(FakeClient):
    """The exchange's client of a paper loop: market data answered, any write a test failure."""

    def __getattribute__(self, name: str) -> Any:
        if name in WRITES:
            raise AssertionError(f"a paper loop called {name} on the exchange")
        return super().__getattribute__(name)


@dataclass
class PaperRig:
    loop: TradeLoop
    venue: LocalVenue
    exchange: Exchange
    real: NoWrites
    store: Store
    clock: ManualClock
    feed: paper.PaperFeed

    def step(self, seconds: float = 0.5) -> None:
        self.clock.advance(seconds)
        self.exchange.tick()
        self.loop.tick(self.feed.drain_messages(), full=True)


@contextmanager
def paper_rig(
    state_path: Path, *, strategy: str = "market-maker", subaccount: int | None = None
) -> Iterator[PaperRig]:
    """A paper loop holding its state file's trade lock, as `kalshi trade --paper` does; with
    `subaccount`, its client acts on that subaccount of the venue (created, and given half of
    the venue's $1000, as `kalshi subaccount create` and `transfer` would)."""
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    account = trader(exchange)
    real = NoWrites(exchange, account, clock=clock)
    markets = [real.get_market(t) for t in exchange.reference.markets]
    markets = [m for m in markets if m.is_open]
    venue = paper.build_venue(cast("KalshiClient", real), markets, clock, Decimal(1000))
    client = cast("KalshiClient", paper.PaperClient(cast("KalshiClient", real), venue))
    if subaccount is not None:
        while venue.core.subaccounts.subaccount_numbers(venue.account)[-1] < subaccount:
            venue.core.subaccounts.create_subaccount(venue.account)
        if subaccount:
            venue.core.subaccounts.transfer(
                venue.account,
                client_transfer_id="paper-rig",
                from_subaccount=0,
                to_subaccount=subaccount,
                amount_cents=50_000,
            )
        client.subaccount = subaccount
    feed = paper.PaperFeed(cast("MarketData", FakeFeed(exchange, account, clock)), venue)
    with (
        acquire(state_path, account=None, now=clock.wall()),
        Store.open(state_path, clock=clock) as store,
    ):
        log = EntryLog(clock, path=state_path.with_suffix(".log"), stderr=None)
        try:
            loop = build_loop(
                LoopInputs(client, store, feed, clock, log, adjust=adjusted(DECIDES_IN_STEP)),
                TradeOptions(strategies=(StrategyChoice(strategy),), paper=True),
                TradeConfig(strategies={strategy: {}}, risk={}),
                markets,
            )
            yield PaperRig(loop, venue, exchange, real, store, clock, feed)
        finally:
            log.close()
