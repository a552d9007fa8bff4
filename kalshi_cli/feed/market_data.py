"""MarketData: the one market-data object the trade loop reads, whatever the source. It runs the
WebSocket feed, falls back to the REST poller when that cannot be had, and answers the loop's
three questions: a market's book (`book`, None when neither source is fresh, so a stale book is
never traded on), whether it may place an order there (`is_fresh`), and what happened since it
last asked (`drain_messages`, `wait_for_messages`). See docs/feed.md "Fallback" and "Messages".
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping

import msgspec

from kalshi_cli.feed.book import MESSAGES_DROPPED, FeedMessage, MessageKind
from kalshi_cli.feed.channels import NEW_MARKET_EVENTS
from kalshi_cli.feed.poller import OrderbookSource, RestPoller
from kalshi_cli.feed.session import (
    DEFAULT_CHANNELS,
    IDLE_TIMEOUT_S,
    RESNAPSHOT_TIMEOUT_S,
    STALE_AFTER_S,
)
from kalshi_cli.feed.ws import (
    RECONNECT_BACKOFF,
    Connector,
    HeaderSigner,
    WsFeed,
    websocket_connect,
)
from kalshi_cli.strategy_api.index import IndexView
from kalshi_cli.vocabulary.clock import Backoff, Clock, SystemClock
from kalshi_cli.vocabulary.models import Orderbook

# Kinds said once per market (an index: once per index) until the next drain: what they tell is
# only that something changed, read from the source (`book`, `index_view`) or not at all
# (`ticker`, `position`: the loop takes prices from the book and positions over REST). A busy
# market's thousand changes between two drains hold one message.
_ONCE_PER_DRAIN = frozenset(
    {MessageKind.BOOK, MessageKind.INDEX, MessageKind.TICKER, MessageKind.POSITION}
)
# The rest (order updates, fills, lifecycle, public trades, the feed's own notices) are held
# each, up to this many. A loop drains every tick (`trade.tick_budget_s`, 0.1 s): this is
# seconds of the busiest account's order updates (the top tier writes 4,000 orders a second),
# minutes of an ordinary one's. Past it the loop is far behind, and what a drop costs is the
# reads it then makes (its fills, its markets' state: docs/feed.md "Messages"), where holding
# 100,000 order updates took some 170 MB; this many, some 17 MB.
MAX_MESSAGES = 10_000


class MarketData:
    def __init__(
        self,
        tickers: Iterable[str],
        *,
        ws_url: str | None,
        auth: HeaderSigner | None = None,
        rest: OrderbookSource | None = None,
        clock: Clock | None = None,
        idle_timeout: float = IDLE_TIMEOUT_S,
        stale_after: float = STALE_AFTER_S,
        fallback_after: int = 3,
        poll_interval: float = 1.0,
        backoff: Backoff = RECONNECT_BACKOFF,
        resnapshot_timeout: float = RESNAPSHOT_TIMEOUT_S,
        channels: Iterable[str] = DEFAULT_CHANNELS,
        connector: Connector = websocket_connect,
        max_messages: int = MAX_MESSAGES,
        indices: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        if ws_url is None and rest is None:
            raise ValueError("MarketData needs a WebSocket URL, a REST source, or both")
        self.tickers = list(dict.fromkeys(tickers))
        self.fallback_after = fallback_after
        clock = clock or SystemClock()
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: deque[FeedMessage] = deque(maxlen=max_messages)
        self._queued = threading.Event()  # set while a message waits to be drained
        # (kind, market or index) of each `_ONCE_PER_DRAIN` message held until the next drain
        self._held_once: set[tuple[MessageKind, str]] = set()
        self._fresh: dict[str, bool] = {}
        self._dropped = 0  # messages the full queue dropped since the last drain
        self.ws = (
            WsFeed(
                ws_url,
                self.tickers,
                sink=self._on_message,
                auth=auth,
                clock=clock,
                channels=channels,
                idle_timeout=idle_timeout,
                backoff=backoff,
                resnapshot_timeout=resnapshot_timeout,
                connector=connector,
                stale_after=stale_after,
                indices=indices,
            )
            if ws_url is not None
            else None
        )
        self.poller = (
            RestPoller(
                rest, self.tickers, sink=self._on_message, clock=clock, interval=poll_interval
            )
            if rest is not None
            else None
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self.poller is not None:
            self.poller.start()
            if self.ws is None:
                self._switch_poller(self.poller, True)
        if self.ws is not None:
            self.ws.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop both sources' threads, waiting for them `timeout_s` in all. Both are told
        first: waited for one after the other, a connect and a poll that a slow exchange held
        took 5 s each, 10 s past a trade loop's stop deadline, beyond the room the service
        manager's stop timeout leaves it. A thread still in its call then is a daemon: it ends
        with the process."""
        sources = [s for s in (self.ws, self.poller) if s is not None]
        for source in sources:
            source.begin_stop()
        end = time.monotonic() + timeout_s
        for source in sources:
            source.stop(max(0.0, end - time.monotonic()))

    def __enter__(self) -> MarketData:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- what the loop asks

    @property
    def mode(self) -> str:
        """ "rest" while the poller is on, else "ws"."""
        return "rest" if self.poller is not None and self.poller.active else "ws"

    def is_fresh(self, ticker: str) -> bool:
        return (self.ws is not None and self.ws.is_fresh(ticker)) or (
            self.poller is not None and self.poller.is_fresh(ticker)
        )

    def book(self, ticker: str) -> Orderbook | None:
        """The market's book from a fresh source, or None: never a stale one."""
        found = self.ws.book(ticker) if self.ws is not None else None
        if found is None and self.poller is not None:
            found = self.poller.book(ticker)
        return found

    def data_age(self, ticker: str) -> float:
        """How old the market's freshest book is: seconds since the last data message of its
        WebSocket subscription, or since its last successful poll; inf when no source holds a
        fresh book. Pings and command replies never make a book younger."""
        ages = [math.inf]
        if self.ws is not None:
            ages.append(self.ws.data_age(ticker))
        if self.poller is not None:
            ages.append(self.poller.data_age(ticker))
        return min(ages)

    def last_message_age(self) -> float:
        """Seconds since the active source last delivered market data (not pings)."""
        ages = []
        if self.ws is not None:
            ages.append(self.ws.last_message_age())
        if self.poller is not None and self.poller.active:
            ages.append(self.poller.last_message_age())
        return min(ages)

    def index_view(self, index_id: str) -> IndexView | None:
        """The reference index as the WebSocket last gave it (None before its first value, or
        with no WebSocket: REST polling has no index). Its `ts` says how old it is."""
        return None if self.ws is None else self.ws.index.view(index_id)

    def drain_messages(self) -> list[FeedMessage]:
        """What happened since the last drain, in order; led by a gap (`MESSAGES_DROPPED`,
        `data["n"]`) when the full queue dropped its oldest, which may have been any kind."""
        with self._lock:
            messages = list(self._messages)
            if self._dropped:
                dropped = {"n": self._dropped}
                messages.insert(
                    0, FeedMessage(MessageKind.GAP, None, dropped, MESSAGES_DROPPED, "feed")
                )
                self._dropped = 0
            self._messages.clear()
            self._held_once.clear()
            self._queued.clear()
        return messages

    def wait_for_messages(self, timeout_s: float) -> bool:
        """Block until a message is queued (True) or `timeout_s` passed (False): the trade
        loop's wake-up, instead of polling `drain_messages`. Set under the queue's lock with the
        message and cleared with the drain, so a message is never missed and a drained queue
        never wakes anyone."""
        return self._queued.wait(timeout_s)

    def wake(self) -> None:
        """Wake the loop waiting in `wait_for_messages` without a message: an exchange call's
        answer is back for it to book (runner/execution/dispatch.py)."""
        with self._lock:
            self._queued.set()

    def follow(self, tickers: Iterable[str]) -> None:
        """Hear the orders and lifecycle of markets it keeps no book of (`FeedSession.follow`)."""
        if self.ws is not None:
            self.ws.session.follow(tickers)

    def hear_new_markets(self) -> None:
        """Pass on every market's `created` and `activated` lifecycle messages, one it keeps
        no book of included: a market that opens while the trade loop runs may be one of its
        selection (runner/loop/new_markets.py)."""
        if self.ws is not None:
            self.ws.session.of_any_market.update(NEW_MARKET_EVENTS)

    def add_markets(self, tickers: Iterable[str]) -> None:
        new = [t for t in dict.fromkeys(tickers) if t not in self.tickers]
        self.tickers.extend(new)
        if self.ws is not None:
            self.ws.add_markets(new)
        if self.poller is not None:
            self.poller.add_markets(new)

    def remove_markets(self, tickers: Iterable[str]) -> None:
        gone = [t for t in tickers if t in self.tickers]
        self.tickers = [t for t in self.tickers if t not in gone]
        if self.ws is not None:
            self.ws.remove_markets(gone)
        if self.poller is not None:
            self.poller.remove_markets(gone)
        with self._lock:
            for ticker in gone:
                self._fresh.pop(ticker, None)

    # ---------------------------------------------------------------- the sink (feed threads)

    def _push(self, message: FeedMessage) -> None:
        with self._lock:
            if len(self._messages) == self._messages.maxlen:
                self._dropped += 1
            self._messages.append(message)
            self._queued.set()

    def _on_message(self, message: FeedMessage) -> None:
        kind = message.kind
        if kind in _ONCE_PER_DRAIN:
            self._once_per_drain(message)
            return
        if kind is MessageKind.STALE or kind is MessageKind.FRESH:
            if message.ticker is not None:
                self._freshness_changed(message.ticker, message.reason)
            if kind is MessageKind.FRESH and message.source == "ws":
                self._maybe_leave_fallback()
            return
        self._push(message)
        if kind is MessageKind.DISCONNECTED and message.source == "ws":
            self._maybe_fall_back()

    def _once_per_drain(self, message: FeedMessage) -> None:
        kind = message.kind
        key = (kind, message.ticker or "")
        with self._lock:
            if key in self._held_once:
                return
            self._held_once.add(key)
        # a book change or an index value is stamped with the first change's arrival, what the
        # loop measures its lag from
        if kind is MessageKind.BOOK:
            at = self._clock.monotonic()
            message = FeedMessage(kind, message.ticker, source=message.source, at=at)
        elif kind is MessageKind.INDEX:
            message = msgspec.structs.replace(message, at=self._clock.monotonic())
        self._push(message)

    def _freshness_changed(self, ticker: str, reason: str) -> None:
        # Asked before taking our lock: the sources' locks are never taken inside it.
        fresh = self.is_fresh(ticker)
        with self._lock:
            if ticker not in self.tickers or self._fresh.get(ticker, False) == fresh:
                return
            self._fresh[ticker] = fresh
        kind = MessageKind.FRESH if fresh else MessageKind.STALE
        self._push(FeedMessage(kind, ticker, reason="" if fresh else reason, source="feed"))

    def _maybe_fall_back(self) -> None:
        ws, poller = self.ws, self.poller
        if poller is None or ws is None or poller.active:
            return
        if ws.consecutive_failures >= self.fallback_after:
            self._switch_poller(poller, True)

    def _maybe_leave_fallback(self) -> None:
        ws, poller = self.ws, self.poller
        if poller is None or ws is None or not poller.active:
            return
        if all(ws.is_fresh(t) for t in self.tickers):
            self._switch_poller(poller, False)

    def _switch_poller(self, poller: RestPoller, on: bool) -> None:
        poller.set_active(on)
        self._push(FeedMessage(MessageKind.MODE, reason="rest" if on else "ws", source="feed"))
