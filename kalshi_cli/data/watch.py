"""`kalshi watch CHANNEL`: the channel's messages as NDJSON, one frame per line, as received.

The feed (`WsFeed`) does the work: the signed connection, reconnects and resubscription, snapshots
after a sequence gap. Its frame sink prints the watched channel's frames exactly as they came; its
event sink prints a stderr line for each disconnect, reconnect and gap. Orderbook needs markets; the
reference index channels take index ids (`all` unless named), and with `list_ids` the ids the
channel offers are printed first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from kalshi_cli.feed.book import RECONNECTED, FeedMessage, MessageKind
from kalshi_cli.feed.index import CFB, CFB_5HZ, INDEX_CHANNELS, LIST_TYPES, PYTH
from kalshi_cli.feed.messages import decode, type_of
from kalshi_cli.feed.ws import RECONNECT_BACKOFF, HeaderSigner, WsFeed
from kalshi_cli.vocabulary.clock import Backoff
from kalshi_cli.vocabulary.errors import NotFoundError, TransportError, UsageError

# name on the command line -> (WebSocket channel, message types printed)
CHANNELS: dict[str, tuple[str, frozenset[str]]] = {
    "orderbook": ("orderbook_delta", frozenset({"orderbook_snapshot", "orderbook_delta"})),
    "ticker": ("ticker", frozenset({"ticker"})),
    "trades": ("trade", frozenset({"trade"})),
    "fills": ("fill", frozenset({"fill"})),
    "orders": ("user_orders", frozenset({"user_order"})),
    "positions": ("market_positions", frozenset({"market_position"})),
    "lifecycle": (
        "market_lifecycle_v2",
        frozenset({"market_lifecycle_v2", "event_lifecycle", "event_fee_update"}),
    ),
    # the reference indices (feed/index.py), followed by id (`--index`; every one by default)
    "cfbenchmarks": (CFB, frozenset({CFB, "cfbenchmarks_value_indexlist"})),
    "cfbenchmarks5hz": (CFB_5HZ, frozenset({CFB_5HZ, "cfbenchmarks_value_5hz_indexlist"})),
    "pyth": (PYTH, frozenset({PYTH, "pyth_value_underlying_list"})),
}
if TYPE_CHECKING:
    from kalshi_cli.vocabulary.models import Market

# tickers named in one `GET /markets?tickers=...` (a URL of a hundred tickers stays short)
_TICKERS_PER_REQUEST = 100


class ListsMarkets(Protocol):
    """A client's `markets`, as far as `check_tickers` reads it."""

    def iter_markets(self, **filters: Any) -> Iterator[Market]: ...


def check_tickers(markets_api: ListsMarkets, tickers: list[str]) -> list[Market]:
    """Every ticker names a market of the exchange, asked over REST before the feed is opened:
    the feed answers an unknown ticker with a subscribe error and an unreachable exchange with
    reconnects without end, so `watch` and `record` would wait (or exit 0) on nothing. An
    unknown ticker raises NotFoundError naming each (exit 6), an unreachable exchange the
    client's TransportError (exit 7), after its bounded retries. Returns the markets read."""
    markets: dict[str, Market] = {}
    for start in range(0, len(tickers), _TICKERS_PER_REQUEST):
        chunk = tickers[start : start + _TICKERS_PER_REQUEST]
        markets.update((m.ticker, m) for m in markets_api.iter_markets(tickers=chunk))
    found = set(markets)
    unknown = [t for t in tickers if t not in found]
    if unknown:
        raise NotFoundError(
            f"unknown ticker{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            status=404,
            code="UNKNOWN_TICKER",
            hint="`kalshi markets` lists tickers",
        )
    return list(markets.values())


@dataclass(frozen=True)
class WatchSummary:
    events: int
    reconnects: int
    gaps: int


class Watcher:
    def __init__(
        self,
        channel: str,
        tickers: list[str],
        *,
        ws_url: str,
        auth: HeaderSigner | None,
        out: TextIO,
        err: TextIO,
        max_events: int | None = None,
        backoff: Backoff = RECONNECT_BACKOFF,
        idle_timeout: float = 30.0,  # a duration
        index_ids: list[str] | None = None,
        list_ids: bool = False,
    ) -> None:
        if channel not in CHANNELS:
            raise UsageError(f"unknown channel {channel!r}", hint=f"one of {', '.join(CHANNELS)}")
        ws_channel, self.types = CHANNELS[channel]
        if ws_channel == "orderbook_delta" and not tickers:
            raise UsageError("watch orderbook needs --tickers", hint="e.g. --tickers KXBTCD-X")
        if ws_channel in INDEX_CHANNELS and tickers:
            raise UsageError(
                f"watch {channel} follows indices, not markets",
                hint="give --index BRTI (or none for every index) instead of --tickers",
            )
        if index_ids and ws_channel not in INDEX_CHANNELS:
            raise UsageError(
                f"--index is for cfbenchmarks, cfbenchmarks5hz and pyth, not {channel}"
            )
        self.ws_channel = ws_channel
        self.list_ids = list_ids and ws_channel in INDEX_CHANNELS
        # ids named on the command line are checked against the channel's own list, as
        # tickers are against the markets: an id the channel does not offer streams nothing
        self.named_ids = [i for i in index_ids or [] if i != "all"]
        self.offered: list[str] | None = None
        self.last_failure: str | None = None
        indices = {ws_channel: index_ids or ["all"]} if ws_channel in INDEX_CHANNELS else None
        self.out, self.err = out, err
        self.max_events = max_events
        self.events = self.reconnects = self.gaps = 0
        self.done = threading.Event()
        self._connected_before = False
        self.broken: BrokenPipeError | None = None
        self.feed = WsFeed(
            ws_url,
            tickers,
            sink=self._message,
            auth=auth,
            channels=(ws_channel,),
            backoff=backoff,
            idle_timeout=idle_timeout,
            frame_sink=self._frame,
            unfiltered=True,
            indices=indices,
        )

    def _frame(self, data: bytes, recv_ns: int) -> None:
        if self.done.is_set():
            return
        text = data.decode("utf-8", "replace").strip()
        try:
            kind = type_of(decode(text))
        except ValueError:
            return  # the feed reports it as a bad message and resyncs
        if kind not in self.types or (kind in LIST_TYPES and not self.list_ids):
            return  # a list asked only to check the ids named is not printed
        if "\n" in text or "\r" in text:
            text = json.dumps(json.loads(text), separators=(",", ":"))
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except BrokenPipeError as exc:  # `kalshi watch ... | head`: the reader is gone
            self.broken = exc
            self.done.set()
            return
        self.events += 1
        if self.max_events is not None and self.events >= self.max_events:
            self.done.set()

    def _message(self, message: FeedMessage) -> None:
        note: str | None = None
        if message.kind is MessageKind.INDEX_LIST:
            self.offered = list((message.data or {}).get("ids") or [])
        elif message.kind is MessageKind.DISCONNECTED:
            self.last_failure = message.reason
            note = f"disconnected: {message.reason}; reconnecting"
        elif message.kind is MessageKind.CONNECTED:
            if message.reason == RECONNECTED:  # a connection after an earlier one (feed/ws.py)
                self.reconnects += 1
                note = "reconnected: resubscribed"
            self._connected_before = True
        elif message.kind is MessageKind.STALE and message.reason == "seq_gap":
            self.gaps += 1
            note = f"sequence gap: {message.ticker} resnapshotting"
        elif message.kind is MessageKind.GAP:
            self.gaps += 1
            note = f"sequence gap on {message.reason}: messages were lost"
        elif message.kind is MessageKind.ERROR:
            note = f"server error: {message.reason}"
        if note is not None:
            self.err.write(f"watch: {note}\n")
            self.err.flush()

    def run(
        self, *, duration_s: float | None, stop: Callable[[], bool] = lambda: False
    ) -> WatchSummary:
        deadline = None if duration_s is None else time.monotonic() + duration_s
        self.feed.start()
        asked = not (self.list_ids or self.named_ids)
        try:
            while not self.done.is_set() and not stop():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if not asked:  # once subscribed: the action names the subscription
                    asked = self.feed.session.list_indices(self.ws_channel) != 0
                self._check_named_ids()
                self.done.wait(0.05)
        finally:
            self.feed.stop()
        if self.broken is not None:
            raise self.broken
        if not self._connected_before:
            # the stream never opened: a run that printed nothing is not a clean one
            raise TransportError(
                f"the WebSocket at {self.feed.url} never connected"
                + (f": {self.last_failure}" if self.last_failure else ""),
                hint="check KALSHI_WS_URL and that the exchange's WebSocket is reachable",
            )
        return WatchSummary(self.events, self.reconnects, self.gaps)

    def _check_named_ids(self) -> None:
        if self.offered is None or not self.named_ids:
            return
        unknown = [i for i in self.named_ids if i not in self.offered]
        self.named_ids = []  # checked once
        if unknown:
            offered = ", ".join(self.offered) or "none"
            raise NotFoundError(
                f"{self.ws_channel} offers no {', '.join(unknown)}",
                status=404,
                code="UNKNOWN_INDEX",
                hint=f"it offers: {offered}",
            )
