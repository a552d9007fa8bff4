"""REST polling fallback: whole books from `GET /markets/{ticker}/orderbook` at an interval.

Used by `MarketData` when the WebSocket cannot be had. Every poll replaces the market's book, so no
sequence can be lost; a market is fresh while its last good poll is younger than `stale_after`. The
books and messages are the WebSocket's (`BookSet`, `source="rest"`). Only books are polled. The
thread runs from `start()` to `stop()` but polls only while `active`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from typing import Protocol

from kalshi_cli.feed.background import BackgroundThread, ThreadedSource
from kalshi_cli.feed.book import BookSet, FeedMessage, MessageKind, MessageSink
from kalshi_cli.vocabulary.clock import Clock, SystemClock
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.models import Orderbook

log = logging.getLogger(__name__)

# how often the thread looks for a stop or a pause, in seconds: what a stop may wait
_TICK = 0.05


class OrderbookSource(Protocol):
    """What the poller reads: `kalshi_cli.client.KalshiClient` fits."""

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook: ...


class RestPoller(ThreadedSource):
    def __init__(
        self,
        source: OrderbookSource,
        tickers: Iterable[str],
        *,
        sink: MessageSink,
        clock: Clock | None = None,
        interval: float = 1.0,
        stale_after: float | None = None,
    ) -> None:
        self._source = source
        self._sink = sink
        self._clock = clock or SystemClock()
        self.interval = interval
        self.stale_after = stale_after if stale_after is not None else 3 * interval
        self.books = BookSet(sink, source="rest")
        self.books.add(tickers)
        self._last_ok: dict[str, float] = {}
        self._last_any = -math.inf
        self._active = threading.Event()
        self._background = BackgroundThread(self._run, "kalshi-rest-poller")
        self._stop = self._background.stopping  # what the loop watches

    @property
    def active(self) -> bool:
        return self._active.is_set()

    def set_active(self, active: bool) -> None:
        if active:
            self._active.set()
        else:
            self._active.clear()
            self.books.mark_stale(None, "paused")

    def add_markets(self, tickers: Iterable[str]) -> None:
        self.books.add(tickers)

    def remove_markets(self, tickers: Iterable[str]) -> None:
        gone = list(tickers)
        self.books.remove(gone)
        for ticker in gone:
            self._last_ok.pop(ticker, None)

    def poll_once(self) -> None:
        """Fetch every market's book once, then mark the ones not refreshed in time stale."""
        for ticker in self.books.tickers():
            try:
                orderbook = self._source.get_orderbook(ticker)
            except KalshiError as exc:
                self._sink(
                    FeedMessage(
                        MessageKind.ERROR, ticker, reason=exc.one_line(), source="rest", error=exc
                    )
                )
                self.books.mark_stale([ticker], "poll_failed")
                continue
            self._last_ok[ticker] = self._last_any = self._clock.monotonic()
            self.books.replace(ticker, orderbook)
        self.expire()

    def expire(self) -> None:
        now = self._clock.monotonic()
        late = [
            t for t in self.books.tickers() if now - self._last_ok.get(t, -1e18) > self.stale_after
        ]
        self.books.mark_stale(late, "poll_late")

    def is_fresh(self, ticker: str) -> bool:
        last = self._last_ok.get(ticker)
        return (
            self.active
            and last is not None
            and self._clock.monotonic() - last <= self.stale_after
            and self.books.is_fresh(ticker)
        )

    def book(self, ticker: str) -> Orderbook | None:
        return self.books.orderbook(ticker) if self.is_fresh(ticker) else None

    def data_age(self, ticker: str) -> float:
        """Seconds since the market's last successful poll; inf unless its book is fresh."""
        last = self._last_ok.get(ticker)
        if last is None or not self.is_fresh(ticker):
            return math.inf
        return self._clock.monotonic() - last

    def last_message_age(self) -> float:
        return self._clock.monotonic() - self._last_any

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._active.wait(_TICK):
                continue
            try:
                self.poll_once()
            except Exception as exc:
                # a bug must not end polling for good; the books go stale until it recovers
                log.exception("rest poller failed")
                self._sink(FeedMessage(MessageKind.ERROR, reason=f"internal error: {exc!r}"))
                self.books.mark_stale(None, "poll_failed")
            end = self._clock.monotonic() + self.interval
            while not self._stop.is_set() and self._active.is_set():
                left = end - self._clock.monotonic()
                if left <= 0:
                    break
                self._clock.sleep(min(_TICK, left))
