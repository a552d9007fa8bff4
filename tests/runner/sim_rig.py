"""The trade loop built as `kalshi trade` builds it, against the real simulator over loopback, on
an account of its own, with a second account making every market's book (`rig`), for the tests
that drive it tick by tick; and what they read of it (`drained_until`, `yes_ask`, `yes_bid`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import TierLimits
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.feed.book import FeedMessage
from kalshi_cli.feed.session import DEFAULT_CHANNELS
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import Selection, StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import SessionGroups, shard_group_maker
from kalshi_cli.runner.lifecycle.session_group import join_session_group, open_group
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.runner.fakes import DECIDES_IN_STEP, adjusted
from tests.runner.simproc import Book, client_for, log_events
from tests.waiting import poll_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"
BATCH = "POST /portfolio/events/orders/batched"
SINGLE = "POST /portfolio/events/orders"


@dataclass
class Rig:
    loop: TradeLoop
    store: Store
    client: KalshiClient
    feed: MarketData
    key_id: str
    log: Path
    books: dict[str, Book]
    account: AccountInfo | None = None  # the trader's, for a loop started again on it
    group: SessionGroups | None = None  # the session's order groups, when it has them

    def requests(self, sim: SimHarness) -> dict[str, int]:
        counts: dict[str, int] = sim.stats()["accounts"].get(self.key_id, {}).get("requests", {})
        return counts

    def events(self, name: str) -> list[dict[str, object]]:
        return [e for e in log_events(self.log) if e["event"] == name]


@contextmanager
def rig(
    sim: SimHarness,
    tmp_path: Path,
    tickers: list[str],
    *,
    strategy: str,
    params: dict[str, Any],
    risk: dict[str, Any] | None = None,
    quote: tuple[str, str] = ("0.40", "0.60"),
    batch_wait_s: float = math.inf,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
    send_workers: int = 0,
    trade: dict[str, Any] | None = None,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    rate_limits: TierLimits | None = None,
    before_feed: Callable[[], None] = lambda: None,
    settings: dict[str, Any] | None = None,
    trader: AccountInfo | None = None,
    selection: Selection = Selection(),
    order_group: bool = False,
    channels: Iterable[str] = DEFAULT_CHANNELS,
) -> Iterator[Rig]:
    """A loop built as `kalshi trade` builds it, on its own account; a second account makes
    every market's book. `batch_wait_s` is infinite unless said: a pass's orders wait for the
    end of its visits however slowly a loaded machine makes them. `timeout`: the client's
    deadline for each request. `send_workers`: the loop's exchange calls off its deciding
    path (none: each waited for, so a tick's calls are answered when it returns). `trade`: the
    config's `trade:` section. `read_lag_s`: how long the loop takes reads to lag writes.
    `rate_limits`: the buckets the client paces by (the basic tier's unless said).
    `before_feed`: called once the markets are listed and the loop built, before the feed
    starts (what the exchange says then reaches no subscription of the loop's). `settings`:
    the loop's settings past the config's (`LoopSettings` fields). `trader`: the account an
    earlier rig traded (its markets and books made then, none made now): a loop started again.
    `selection`: what the loop was asked to trade (a series or an event: it takes on the markets
    of it that open while it runs). `order_group`: the session's order groups made and joined
    as `kalshi trade` makes them (runner/lifecycle/session.py), one on each shard of its
    markets. `channels`: what the feed subscribes (the loop's own unless said)."""
    other = client_for(sim.new_account(balance_cents=10_000_000))
    books = {}
    for ticker in tickers if trader is None else ():
        sim.create_market(ticker)
        books[ticker] = Book(other, ticker)
        books[ticker].quote(*quote)
    trader = trader or sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(trader.private_key_path))
    client = KalshiClient(
        api_base=trader.api_base,
        key_id=trader.key_id,
        private_key=key,
        timeout=timeout,
        transport=transport,
        rate_limits=rate_limits,
    )
    clock = SystemClock()
    feed = MarketData(
        tickers,
        ws_url=trader.ws_url,
        auth=KalshiAuth(trader.key_id, key),
        clock=clock,
        channels=channels,
    )
    log_path = tmp_path / "trade.log"
    store = Store.open(tmp_path / "state.db", clock=clock)
    log = EntryLog(clock, path=log_path, stderr=None)
    name = "fair-value" if strategy == str(EXAMPLE) else strategy
    # no timer read of fills during a test: every read it sees is one the loop chose to make
    # and `decide` in the step: what a step decided is asserted, not the deadline of a decision
    settings = {
        "fill_poll_s": 3600.0,
        "batch_wait_s": batch_wait_s,
        **DECIDES_IN_STEP,
        **(settings or {}),
    }
    config = TradeConfig(strategies={name: params}, risk=risk or {}, trade=trade or {})
    markets = [client.markets.get_market(t) for t in tickers]
    loop = build_loop(
        LoopInputs(
            client,
            store,
            feed,
            clock,
            log,
            read_lag_s=read_lag_s,
            send_workers=send_workers,
            trigger_group=client.order_groups.trigger_order_group if order_group else None,
            make_group=shard_group_maker(client, store, config, log) if order_group else None,
            adjust=adjusted(settings),
        ),
        TradeOptions(
            strategies=(StrategyChoice(strategy),), selection=selection, order_group=order_group
        ),
        config,
        markets,
    )
    group = None
    if order_group:
        group = open_group(client, store, config, log, {m.exchange_index or 0 for m in markets})
        join_session_group(loop.executor, group)
    before_feed()
    feed.start()
    try:
        assert poll_until(lambda: feed_ready(feed, tickers))
        assert orders_read(loop)  # the tests drive the loop from its first tick that trades
        yield Rig(loop, store, client, feed, trader.key_id, log_path, books, trader, group)
    finally:
        loop.dispatch.close()
        feed.stop()
        log.close()
        store.close()
        other.close()
        client.close()


def feed_ready(feed: MarketData, tickers: Iterable[str]) -> bool:
    """Every market's book fresh and its orders followed (`user_orders`): a loop's market waits
    for its orders' read until then (runner/loop/orders_read_again.py), which the next tick
    makes."""
    tickers = list(tickers)
    carried = frozenset() if feed.orders_carried is None else feed.orders_carried.now()
    return all(feed.is_fresh(t) and t in carried for t in tickers)


def orders_read(loop: TradeLoop) -> bool:
    """The start's read of its markets' orders, once the feed follows them, made and booked
    (what each market waits for before its first turn: runner/loop/orders_read_again.py) by
    the tick's step after its events, as the loop's first tick would make it."""
    tickers = list(loop.portfolio.markets)
    loop.watch.handle_messages(())

    def read() -> bool:
        loop.dispatch.drain()
        return not any(loop.dispatch.busy(t) for t in tickers)

    return bool(poll_until(read))


def drained_until(
    r: Rig, kept: list[FeedMessage], wanted: Callable[[list[FeedMessage]], bool]
) -> bool:
    """Drain the feed into `kept` until `wanted(kept)`, within a deadline."""

    def look() -> bool:
        kept.extend(r.feed.drain_messages())
        return wanted(kept)

    return bool(poll_until(look))


def yes_ask(r: Rig, ticker: str) -> Decimal | None:
    book = r.feed.book(ticker)
    return None if book is None or book.yes_ask is None else book.yes_ask[0]


def yes_bid(r: Rig, ticker: str) -> Decimal | None:
    book = r.feed.book(ticker)
    return None if book is None or book.best_yes_bid is None else book.best_yes_bid[0]
