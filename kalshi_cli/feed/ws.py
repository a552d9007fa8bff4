"""The WebSocket feed's socket: `WsFeed` runs a thread that connects with the signed handshake,
starts a fresh `FeedSession` (session.py, no I/O) on every connection, runs the idle watchdog and
hands raw frames to an optional `frame_sink`. Backoff and watchdog: docs/feed.md.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlparse

import websocket

from kalshi_cli.feed.background import BackgroundThread, ThreadedSource
from kalshi_cli.feed.book import (
    RECONNECTED,
    BookSet,
    FeedMessage,
    MessageKind,
    MessageSink,
)
from kalshi_cli.feed.index import (
    IndexBoard,
)
from kalshi_cli.feed.session import (
    DEFAULT_CHANNELS,
    IDLE_TIMEOUT_S,
    RESNAPSHOT_TIMEOUT_S,
    STALE_AFTER_S,
    FeedSession,
)
from kalshi_cli.vocabulary.clock import Backoff, Clock, SystemClock
from kalshi_cli.vocabulary.models import Orderbook

log = logging.getLogger(__name__)


class HeaderSigner(Protocol):
    """What signs the handshake: `kalshi_cli.client.signing.KalshiAuth` fits."""

    def headers_for(self, method: str, path: str) -> dict[str, str]: ...


class FeedSocket(Protocol):
    """The part of `websocket.WebSocket` the feed uses (a fake in unit tests)."""

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]: ...

    def send(self, payload: str) -> Any: ...

    def settimeout(self, timeout: float | None) -> None: ...

    def close(self) -> None: ...

    def shutdown(self) -> None: ...


Connector = Callable[[str, Mapping[str, str], float], FeedSocket]
# (the frame's bytes exactly as received, local receive time in Unix nanoseconds)
FrameSink = Callable[[bytes, int], None]


def websocket_connect(url: str, headers: Mapping[str, str], timeout: float) -> FeedSocket:
    conn: FeedSocket = websocket.create_connection(
        url,
        header=dict(headers),
        timeout=timeout,
        # json.loads rejects bad UTF-8 anyway; the library's pure-Python check would halve
        # the throughput of the delta path.
        skip_utf8_validation=True,
        enable_multithread=True,
    )
    return conn


# the reconnect waits: full jitter under `min(30 s, 0.5 s * 2**n)` for the n-th in a row from 0
RECONNECT_BACKOFF = Backoff(0.5, 30.0)


class Watchdog:
    """Time since the last channel message; the connection is idle once it reaches
    `idle_timeout`."""

    def __init__(self, idle_timeout: float, clock: Clock) -> None:
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._last = clock.monotonic()

    def touch(self) -> None:
        self._last = self._clock.monotonic()

    def age(self) -> float:
        return self._clock.monotonic() - self._last

    def expired(self) -> bool:
        return self.age() >= self._idle_timeout


class WsFeed(ThreadedSource):
    """The feed's connection thread. `sink` receives every `FeedMessage` on that thread."""

    def __init__(
        self,
        url: str,
        tickers: Iterable[str],
        *,
        sink: MessageSink,
        auth: HeaderSigner | None = None,
        clock: Clock | None = None,
        channels: Iterable[str] = DEFAULT_CHANNELS,
        idle_timeout: float = IDLE_TIMEOUT_S,
        connect_timeout: float = 5.0,
        backoff: Backoff = RECONNECT_BACKOFF,
        rng: random.Random | None = None,
        resnapshot_timeout: float = RESNAPSHOT_TIMEOUT_S,
        poll_tick: float = 0.05,
        connector: Connector = websocket_connect,
        stable_after: float = 10.0,
        stale_after: float = STALE_AFTER_S,
        frame_sink: FrameSink | None = None,
        unfiltered: bool = False,
        wall_ns: Callable[[], int] = time.time_ns,
        indices: Mapping[str, Iterable[str]] | None = None,
        yes_priced: bool = True,
    ) -> None:
        """`yes_priced`: ask for orderbook NO levels in YES-leg prices (`use_yes_price`, the
        convention Kalshi announced it will make the only one) and read them so; False asks
        for, and reads, the NO-leg prices of old (a recording that began with them)."""
        self.url = url
        # the reference indices followed (channel -> ids): their channels join `channels`
        self.index = IndexBoard()
        self._frame_sink = frame_sink
        self._wall_ns = wall_ns
        self._stale_after = stale_after
        self._stable_after = stable_after
        self._sink = sink
        self._auth = auth
        self._clock = clock or SystemClock()
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._tick = poll_tick
        self._connector = connector
        self.books = BookSet(sink, source="ws", yes_priced=yes_priced)
        self.books.add(tickers)
        self.session = FeedSession(
            self.books,
            sink,
            clock=self._clock,
            channels=channels,
            resnapshot_timeout=resnapshot_timeout,
            stale_after=stale_after,
            # a live subscription answers a probe with data before either limit is reached
            probe_after=min(stale_after, idle_timeout) / 2,
            unfiltered=unfiltered,
            indices=indices,
            index_board=self.index,
        )
        self._watchdog = Watchdog(idle_timeout, self._clock)
        self._background = BackgroundThread(self._run, "kalshi-ws-feed")
        self._stop = self._background.stopping  # what the loop watches
        self.connected = False
        self.connections = 0  # successful handshakes, for tests and status
        # attempts that ended without a single channel message from the server (refused, failed
        # handshake, silent, pings and replies only), since the last one that delivered;
        # MarketData falls back on it
        self.consecutive_failures = 0
        self._delivered = False
        self._connected_at: float | None = None  # monotonic, while a connection is served

    # ---------------------------------------------------------------- public

    def add_markets(self, tickers: Iterable[str]) -> None:
        new = [t for t in tickers if self.books.get(t) is None]
        if new:
            self.books.add(new)
            self.session.add_markets(new)

    def add_indices(self, channel: str, ids: Iterable[str]) -> None:
        self.session.add_indices(channel, list(ids))

    def remove_markets(self, tickers: Iterable[str]) -> None:
        gone = [t for t in tickers if self.books.get(t) is not None]
        if gone:
            self.session.remove_markets(gone)
            self.books.remove(gone)

    def last_message_age(self) -> float:
        """Seconds since the last orderbook data message (pings and replies do not count)."""
        return self.session.data_age()

    def data_age(self, ticker: str) -> float:
        """How old the market's book is: inf unless it is fresh."""
        return self.session.data_age() if self.is_fresh(ticker) else math.inf

    def is_fresh(self, ticker: str) -> bool:
        return (
            self.connected
            and self._watchdog.age() < self._idle_timeout
            and self.session.data_age() < self._stale_after
            and self.books.is_fresh(ticker)
        )

    def book(self, ticker: str) -> Orderbook | None:
        return self.books.orderbook(ticker) if self.is_fresh(ticker) else None

    # ---------------------------------------------------------------- the thread

    def _run(self) -> None:
        retry = 0  # reconnects since a connection last stayed up
        while not self._stop.is_set():
            try:
                delivered, reason = self._connect_and_serve()
            except Exception as exc:
                # A bug must not end the feed for good: the books are already stale (see
                # _connect_and_serve), so report it and keep reconnecting.
                log.exception("websocket feed failed")
                delivered, reason = False, f"internal error: {type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            if not delivered:
                self.consecutive_failures += 1
            if self._stayed_up():
                retry = 0
            self._sink(FeedMessage(MessageKind.DISCONNECTED, reason=reason))
            retry += 1
            self._wait(self._backoff.delay(retry, self._rng))

    def _stayed_up(self) -> bool:
        """Whether the connection just ended had been up `stable_after` seconds."""
        since, self._connected_at = self._connected_at, None
        return since is not None and self._clock.monotonic() - since >= self._stable_after

    def _connect_and_serve(self) -> tuple[bool, str]:
        """One connection attempt: whether it delivered any message, and why it ended."""
        path = urlparse(self.url).path
        headers = self._auth.headers_for("GET", path) if self._auth is not None else {}
        self._delivered = False
        try:
            conn = self._connector(self.url, headers, self._connect_timeout)
        except (OSError, websocket.WebSocketException) as exc:
            return False, f"connect failed: {type(exc).__name__}: {exc}"
        self.connections += 1
        try:
            reason = self._serve(conn)
        finally:
            self.connected = False
            self.session.close()
            self.books.mark_stale(None, "disconnected")
            # the connection is being thrown away; a failed close changes nothing. `close()`
            # returns at once when the server's close frame already arrived, leaving the
            # socket open; `shutdown()` closes it whatever state the library thinks it is in.
            with contextlib.suppress(OSError, websocket.WebSocketException):
                conn.close()
            conn.shutdown()
        return self._delivered, reason

    def _serve(self, conn: FeedSocket) -> str:
        """Subscribe, then read until the connection ends; returns why it ended."""
        self._watchdog.touch()
        self.connected = True
        self._connected_at = self._clock.monotonic()
        again = RECONNECTED if self.connections > 1 else ""
        self._sink(FeedMessage(MessageKind.CONNECTED, reason=again))
        try:
            conn.settimeout(self._tick)
            self.session.open(conn.send)
            while not self._stop.is_set():
                try:
                    opcode, data = conn.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    pass
                else:
                    # pings, pongs and command replies are not market data: only a channel
                    # message feeds the watchdog and makes the attempt count as delivered
                    if opcode == websocket.ABNF.OPCODE_TEXT and self._frame_sink is not None:
                        self._frame_sink(data, self._wall_ns())
                    if opcode == websocket.ABNF.OPCODE_TEXT and self._handle(data):
                        self._watchdog.touch()
                        if not self._delivered:
                            self._delivered = True
                            self.consecutive_failures = 0
                    elif opcode == websocket.ABNF.OPCODE_CLOSE:
                        return "closed by server"
                if self._watchdog.expired():
                    self.books.mark_stale(None, "idle")
                    return "idle"
                self.session.tick()
        except (OSError, websocket.WebSocketException) as exc:
            return f"connection lost: {type(exc).__name__}: {exc}"
        return "stopped"

    def _handle(self, data: bytes) -> bool:
        try:
            return self.session.handle(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # a malformed frame: the books may have missed something, so resync them all
            self._sink(FeedMessage(MessageKind.ERROR, reason=f"bad message: {exc!r}"[:200]))
            self.books.mark_stale(None, "bad_message")
            self.session.request_snapshots(self.books.tickers())
            return False

    def _wait(self, seconds: float) -> None:
        end = self._clock.monotonic() + seconds
        while not self._stop.is_set():
            left = end - self._clock.monotonic()
            if left <= 0:
                return
            self._clock.sleep(min(self._tick, left))
