"""The WebSocket feed's protocol, with no I/O: `FeedSession`, handed each text frame, keeps the
subscriptions, their sequence numbers and the books, and writes commands through a `send`
function; `WsFeed` (ws.py) owns the socket it reads them from. The recovery rules (sequence
gaps, impossible deltas, staleness measured by market data only, terminal channel errors) and
the reference-index channels are docs/feed.md's.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from kalshi_cli.feed import messages
from kalshi_cli.feed.book import (
    GET_SNAPSHOT,
    ORDERBOOK,
    BookSet,
    FeedMessage,
    MessageKind,
    MessageSink,
    SeqTracker,
    Subscriptions,
    refusal_reason,
)
from kalshi_cli.feed.channels import LIFECYCLE, TRADE, ChannelMessages
from kalshi_cli.feed.commands import CommandDesk, Refusals
from kalshi_cli.feed.index import ACTIONS, ID_PARAM, INDEX_CHANNELS, IndexBoard
from kalshi_cli.vocabulary.clock import Clock

log = logging.getLogger(__name__)

# Channels filtered by market (`market_tickers`); lifecycle always covers every market.
USER_ORDERS = "user_orders"
FILL = "fill"
MARKET_CHANNELS = (ORDERBOOK, "ticker", TRADE, FILL, USER_ORDERS, "market_positions")
# What the trade loop subscribes to.
DEFAULT_CHANNELS = (ORDERBOOK, "ticker", FILL, USER_ORDERS, LIFECYCLE)
# The account's channels, without numbers or a snapshot: what one said while none of its
# subscriptions was read is lost, a gap of it (the lifecycle channel says its own when granted)
ACCOUNT_CHANNELS = (USER_ORDERS, FILL)

# The feed's defaults, each named once: FeedSession, WsFeed and MarketData all take them from here.
# No channel message for this long and the connection is taken for dead (reconnect).
IDLE_TIMEOUT_S = 30.0
# No data for a market for this long and its book is stale (the trade loop passes its risk
# rule's own `stale_after_s` instead).
STALE_AFTER_S = 10.0
# How long a requested snapshot may take before the subscription is resubscribed.
RESNAPSHOT_TIMEOUT_S = 5.0


class CarriedMarkets:
    """The markets a subscription carries, as the exchange answered (`subscribed`, or `ok` to
    an `add_markets`): an order placed there before that answer was told by no message of it,
    so whoever reads the market's orders once it is carried (runner/loop/orders_read_again.py)
    misses none. A new connection carries none until its subscribe is answered. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._carried: set[str] = set()

    def now(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._carried)

    def granted(self, tickers: Iterable[str]) -> None:
        with self._lock:
            self._carried.update(tickers)

    def dropped(self, tickers: Iterable[str]) -> None:
        with self._lock:
            self._carried.difference_update(tickers)

    def ended(self) -> None:
        """The subscription ended (unsubscribed, or its connection closed): it carries none."""
        with self._lock:
            self._carried.clear()


class FeedSession:
    """The WebSocket protocol for one connection, without I/O. Thread-safe."""

    def __init__(
        self,
        books: BookSet,
        sink: MessageSink,
        *,
        clock: Clock,
        channels: Iterable[str] = DEFAULT_CHANNELS,
        resnapshot_timeout: float = RESNAPSHOT_TIMEOUT_S,
        stale_after: float = STALE_AFTER_S,
        probe_after: float | None = None,
        unfiltered: bool = False,
        indices: Mapping[str, Iterable[str]] | None = None,
        index_board: IndexBoard | None = None,
    ) -> None:
        self._books = books
        # channel -> the index ids (or Pyth underlyings) wanted on it, in order
        self.indices: dict[str, dict[str, None]] = {
            c: dict.fromkeys(ids) for c, ids in (indices or {}).items()
        }
        self.index_board = index_board if index_board is not None else IndexBoard()
        # with no market: subscribe the channels that allow it to every market (`kalshi watch
        # trades`); the orderbook channel always needs markets
        self.unfiltered = unfiltered
        self._sink = sink
        self._clock = clock
        base = tuple(channels)
        # an index channel joins the channels subscribed when ids are wanted on it
        self.channels = (*base, *(c for c in self.indices if c not in base))
        self.resnapshot_timeout = resnapshot_timeout
        self.stale_after = stale_after
        self.probe_after = stale_after / 2 if probe_after is None else probe_after
        self._lock = threading.RLock()
        # a subscription of the lifecycle channel was read before: a new one begins with a gap
        self._lifecycle_read = False
        # markets with no book whose orders and lifecycle are passed on (`follow`)
        self._followed: set[str] = set()
        # lifecycle event types passed on for every market, one with no book included
        # (`MarketData.hear_new_markets`)
        self.of_any_market: set[str] = set()
        # the markets the `user_orders` subscription carries, as the exchange answered
        self.orders_carried = CarriedMarkets()
        self._reset()

    def _reset(self, send: Callable[[str], Any] | None = None) -> None:
        self._commands = CommandDesk(send)
        # each channel's subscription read; an ended one's late messages, and a second one's,
        # are dropped
        self._subs = Subscriptions()
        self._seq = SeqTracker()
        self._resnap: dict[str, float] = {}  # ticker -> when a snapshot was requested
        self._channel_messages = ChannelMessages(
            self._subs,
            self._seq,
            books=self._books,
            sink=self._sink,
            clock=self._clock,
            asked=self._resnap,
            ask_snapshots=self.request_snapshots,
            followed=self._followed,
            of_any_market=self.of_any_market,
            index_board=self.index_board,
        )
        self._refusals = Refusals()  # what to ask for again (`tick`), each channel's streak
        self._probes = 0  # quiet-subscription probes sent, to rotate through the markets
        self._unknown_types: set[str | None] = set()  # logged once each
        self.orders_carried.ended()  # a new connection carries none

    @property
    def sids(self) -> dict[str, int]:
        """Each channel's subscription (channel -> sid), as read."""
        return self._subs.sids

    # ---------------------------------------------------------------- connection lifecycle

    def open(self, send: Callable[[str], Any]) -> None:
        """A new connection: forget the old one's subscriptions and subscribe everything."""
        with self._lock:
            self._reset(send)
            for channel in self.channels:
                self.subscribe(channel)

    def close(self) -> None:
        """The connection closed: its subscriptions carry no market any more."""
        with self._lock:
            self._commands.close()
            self.orders_carried.ended()

    # ---------------------------------------------------------------- commands

    def subscribe(self, channel: str) -> int:
        """Subscribe one channel (one command per channel, so each reply names its `sid`),
        unless it is subscribed or a subscribe of it awaits its reply (0). The exchange grants
        a second subscription of a channel, and every message of it would then come twice:
        a book delta applied twice is a book the exchange does not hold."""
        with self._lock:
            if channel in self.sids or self._commands.subscribing(channel):
                return 0
            params: dict[str, Any] = {"channels": [channel]}
            if channel in INDEX_CHANNELS:
                ids = list(self.indices.get(channel, ()))
                if not ids:
                    return 0  # subscribed without ids, nothing flows: wait for one
                params[ID_PARAM[channel]] = ids
            elif channel in MARKET_CHANNELS:
                tickers = self._wanted(channel)
                if tickers:
                    params["market_tickers"] = tickers
                elif channel == ORDERBOOK or not self.unfiltered:
                    return 0  # no filter would mean every market; wait for one
                if channel == ORDERBOOK:
                    # sent either way: the exchange's default is to flip, then the flag to go
                    params["use_yes_price"] = self._books.yes_priced
            # the new subscription carries every market: nothing refused before is owed
            self._refusals.owed_none(channel)
            carried = tuple(params.get("market_tickers", ()))
            return self._commands.send("subscribe", params, "subscribe", channel, carried)

    def _wanted(self, channel: str) -> list[str]:
        """The markets a market channel's subscription is to carry: each with a book, and on
        `user_orders` each followed too."""
        tickers = self._books.tickers()
        return tickers + sorted(self._followed) if channel == USER_ORDERS else tickers

    def unsubscribe(self, sids: list[int]) -> int:
        with self._lock:
            for sid in sids:
                if self._subs.channel_of(sid) == USER_ORDERS:
                    self.orders_carried.ended()
                self._subs.end(sid)
                self._seq.forget(sid)
            return self._commands.send("unsubscribe", {"sids": sids}, "unsubscribe", "")

    def update_subscription(self, sid: int, action: str, tickers: list[str]) -> int:
        with self._lock:
            channel = self._subs.channel_of(sid) or ""
            params = {"sids": [sid], "market_tickers": tickers, "action": action}
            return self._commands.send(
                "update_subscription", params, action, channel, tuple(tickers)
            )

    def add_indices(self, channel: str, ids: list[str]) -> None:
        """Follow more indices on an index channel (`subscribe_indices`, or
        `subscribe_underlyings` on Pyth), subscribing it first if it is not yet."""
        with self._lock:
            wanted = self.indices.setdefault(channel, {})
            new = [i for i in ids if i not in wanted]
            wanted.update(dict.fromkeys(new))
            if channel not in self.channels:
                self.channels = (*self.channels, channel)
            sid = self.sids.get(channel)
            if sid is not None:
                if new:
                    self._commands.update_ids(sid, channel, ACTIONS[channel][0], new)
            else:
                self.subscribe(channel)

    def list_indices(self, channel: str) -> int:
        """Ask an index channel which ids it offers (`indexlist`, `underlying_list`); the answer
        comes as an `INDEX_LIST` message. 0 when the channel is not subscribed."""
        with self._lock:
            sid = self.sids.get(channel)
            if sid is None:
                return 0
            return self._commands.update_ids(sid, channel, ACTIONS[channel][2], None)

    def follow(self, tickers: Iterable[str]) -> None:
        """Markets whose orders (`user_orders`) and lifecycle are passed on with no book kept
        of them: the trade loop's events' markets that it does not trade."""
        with self._lock:
            new = [t for t in tickers if t not in self._followed and self._books.get(t) is None]
            self._followed.update(new)
            sid = self.sids.get(USER_ORDERS)
            if new and sid is not None:
                self.update_subscription(sid, "add_markets", new)

    def add_markets(self, tickers: list[str]) -> None:
        with self._lock:
            for channel in self.channels:
                if channel not in MARKET_CHANNELS:
                    continue
                sid = self.sids.get(channel)
                if sid is not None:
                    self.update_subscription(sid, "add_markets", tickers)
                else:
                    self.subscribe(channel)

    def remove_markets(self, tickers: list[str]) -> None:
        with self._lock:
            for channel in self.channels:
                sid = self.sids.get(channel)
                if channel in MARKET_CHANNELS and sid is not None:
                    self.update_subscription(sid, "delete_markets", tickers)
            for ticker in tickers:
                self._resnap.pop(ticker, None)

    def request_snapshots(self, tickers: Iterable[str]) -> None:
        with self._lock:
            sid = self.sids.get(ORDERBOOK)
            if sid is None:  # the subscription is (re)starting: its snapshots are on the way
                return
            # a market outside the subscription would get a snapshot and none of its deltas: a
            # book frozen as fresh
            outside = self._outside(ORDERBOOK)
            want = [t for t in tickers if t not in self._resnap and t not in outside]
            if not want:
                return
            now = self._clock.monotonic()
            for ticker in want:
                self._resnap[ticker] = now
            self.update_subscription(sid, GET_SNAPSHOT, want)

    def tick(self) -> None:
        """Repeat snapshot requests that went unanswered and refused subscriptions; probe a
        quiet orderbook subscription, and mark its books stale once it has delivered no data
        for `stale_after`."""
        with self._lock:
            now = self._clock.monotonic()
            late = [t for t, at in self._resnap.items() if now - at >= self.resnapshot_timeout]
            for ticker in late:
                del self._resnap[ticker]
            if late:
                self.request_snapshots(late)
            for channel, refused in self._refusals.due(now, self.resnapshot_timeout):
                self._ask_again(channel, refused)
            heard_at = self._channel_messages.heard_at
            if heard_at is None or ORDERBOOK not in self.sids:
                return
            age = now - heard_at
            tickers = self._books.tickers()
            if not tickers:
                return
            if age >= self.stale_after:
                self._books.mark_stale(tickers, "no_data")
                self.request_snapshots(tickers)
            elif age >= self.probe_after and not self._resnap:
                self.request_snapshots([tickers[self._probes % len(tickers)]])
                self._probes += 1

    def _ask_again(self, channel: str, tickers: tuple[str, ...]) -> None:
        """Ask again for a refused subscription, or for the markets a refused `add_markets`
        would have added to it. The other channels keep the connection up, so waiting for a
        reconnect would go without the channel (no book fresh, no fill or order update heard)
        for as long."""
        sid = self.sids.get(channel)
        if sid is None:
            self.subscribe(channel)  # with every market wanted now
            return
        still = set(self._wanted(channel))
        wanted = [t for t in tickers if t in still]
        if wanted:
            self.update_subscription(sid, "add_markets", wanted)

    def _outside(self, channel: str) -> set[str]:
        """The markets not (yet) in the channel's subscription: an `add_markets` of them awaits
        its answer, or was refused and is to be asked again."""
        return self._refusals.markets(channel) | self._commands.adding(channel)

    def data_age(self) -> float:
        """Seconds since the orderbook subscription's last data message (inf: none yet)."""
        at = self._channel_messages.heard_at
        return math.inf if at is None else self._clock.monotonic() - at

    def _resubscribe(self, channel: str) -> None:
        sid = self.sids.get(channel)
        if sid is not None:
            self.unsubscribe([sid])
        if channel in ACCOUNT_CHANNELS:
            # what it said until the new subscription is lost, as in a reconnect
            self._sink(FeedMessage(MessageKind.GAP, reason=channel))
        if channel == ORDERBOOK:
            self._books.mark_stale(None, "resubscribe")
            self._resnap.clear()
        self.subscribe(channel)

    # ---------------------------------------------------------------- messages

    def handle(self, text: str | bytes) -> bool:
        """One text frame from the server; True when it was a channel message (market or
        account data), False for a command reply or a message of an unknown type. Raises a
        `ValueError` for a frame that is not a known message's shape (`WsFeed` resyncs)."""
        msg = messages.decode(text)
        with self._lock:
            data = self._channel_messages
            # the delta first: it is most of the traffic
            if type(msg) is messages.DeltaMessage:
                data.delta(msg)
            elif type(msg) is messages.SnapshotMessage:
                data.snapshot(msg)
            elif isinstance(msg, messages.TradeMessage):
                data.trade(msg)
            elif isinstance(msg, messages.FillMessage):
                data.account(MessageKind.FILL, msg, msg.msg.market_ticker, msg.msg)
            elif isinstance(msg, messages.UserOrderMessage):
                update = messages.order_update(msg.msg)
                data.account(MessageKind.USER_ORDER, msg, update.ticker or None, update)
            elif isinstance(msg, messages.TickerMessage):
                data.account(MessageKind.TICKER, msg, msg.msg.market_ticker, None)
            elif isinstance(msg, messages.PositionMessage):
                data.account(MessageKind.POSITION, msg, msg.msg.market_ticker, None)
            elif isinstance(msg, messages.LifecycleMessage):
                data.lifecycle(msg, msg.msg)
            elif isinstance(msg, messages.EventLifecycleMessage | messages.EventFeeUpdateMessage):
                data.lifecycle(msg, None)
            elif isinstance(msg, messages.IndexValueMessage):
                data.index(msg)
            else:
                self._on_reply(msg)
                return False
            return True

    def _on_reply(self, msg: messages.Message | messages.UnknownMessage) -> None:
        if isinstance(msg, messages.UnknownMessage):
            if msg.type not in self._unknown_types:
                self._unknown_types.add(msg.type)
                log.info("websocket message of unknown type %r skipped", msg.type)
            return
        sid, seq = msg.sid, msg.seq
        # Whether a reply consumes a sequence number is not documented (asyncapi.yaml gives an
        # error scoped to a sequenced subscription its `seq`, and an `ok` was seen taking one):
        # take it only when it is exactly the next one, so neither reading makes a false gap.
        if sid is not None and seq is not None:
            self._seq.accept_if_next(sid, seq)
        if isinstance(msg, messages.IndexListMessage):
            command = self._commands.answered(msg.id)
            self._channel_messages.index_list(msg, command.channel)
        elif isinstance(msg, messages.Subscribed):
            self._on_subscribed(msg)
        elif isinstance(msg, messages.Ok):
            self._on_ok(msg)
        elif isinstance(msg, messages.Error):
            self._on_error(msg)
        elif isinstance(msg, messages.Unsubscribed):
            self._commands.answered(msg.id)

    def _on_subscribed(self, msg: messages.Subscribed) -> None:
        command = self._commands.answered(msg.id)
        channel, sid = msg.msg.channel, msg.msg.sid
        if channel is not None and sid is not None:
            if not self._subs.granted(channel, sid):
                # a second subscription of a subscribed channel: each of its messages is one
                # of the first one's again, so they are dropped, and it is ended
                self.unsubscribe([sid])
                return
            # a new subscription, numbered anew, though it may carry an ended one's sid (the
            # old one's messages all came before this answer)
            self._seq.forget(sid)
            # granted: a later refusal is news, and asked again after the first wait
            self._refusals.granted(channel)
            if channel == LIFECYCLE:
                # no snapshot: what the channel said while none of its subscriptions was read
                # (a reconnect, the resubscribe after a terminal error) is never said on the
                # new one, so that is a gap of it, as a lost number is (the trade loop reads
                # its markets' state again)
                if self._lifecycle_read:
                    self._sink(FeedMessage(MessageKind.GAP, reason=LIFECYCLE))
                self._lifecycle_read = True
            if channel == USER_ORDERS:
                self.orders_carried.granted(command.tickers)
            # a market added while the subscribe was unanswered was left to it, and it did not
            # carry it: outside the subscription no delta of it comes, and a snapshot asked
            # for it (a probe's) would make its book fresh and frozen
            if command.purpose == "subscribe" and command.tickers:
                missing = [t for t in self._wanted(channel) if t not in command.tickers]
                if missing:
                    self.update_subscription(sid, "add_markets", missing)

    def _on_ok(self, msg: messages.Ok) -> None:
        command = self._commands.answered(msg.id)
        if command.purpose == "add_markets":
            self._refusals.granted(command.channel)  # as a subscribe
        if command.channel == USER_ORDERS and command.purpose == "add_markets":
            self.orders_carried.granted(command.tickers)
        elif command.channel == USER_ORDERS and command.purpose == "delete_markets":
            self.orders_carried.dropped(command.tickers)
        if command.purpose == "add_markets" and command.channel == ORDERBOOK:
            # added now: a snapshot withheld while they were outside (after a gap) is owed
            self.request_snapshots(t for t in command.tickers if not self._books.is_fresh(t))

    def _on_error(self, msg: messages.Error) -> None:
        purpose, channel, tickers = self._commands.answered(msg.id)
        code, sid = msg.msg.code, msg.sid
        ended = self._subs.channel_of(sid) if msg.terminal and sid is not None else None
        reason = refusal_reason(purpose, code)
        if ended is None and purpose in ("subscribe", "add_markets") and channel in self.channels:
            if channel == ORDERBOOK:  # no delta of these markets comes until it is granted
                refused = None if purpose == "subscribe" else tickers
                self._books.mark_stale(refused, "subscribe_refused")
            refused_tickers = () if purpose == "subscribe" else tickers
            refusals = self._refusals.refuse(
                channel, refused_tickers, code, self._clock.monotonic()
            )
            if not refusals:
                return  # said already: counted, and said with the count at the cap
            if refusals > 1:
                reason += f" ({channel}, refusal {refusals} in a row)"
        body = msgspec.structs.asdict(msg.msg)
        self._sink(FeedMessage(MessageKind.ERROR, data=body, reason=reason))
        if purpose == GET_SNAPSHOT:
            self._resubscribe(ORDERBOOK)
        elif ended is not None:
            self._resubscribe(ended)
