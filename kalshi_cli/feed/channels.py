"""The feed's messages that keep no book, a part of a `FeedSession` (session.py): trades, the
account's fills, orders and positions, tickers, lifecycle and index values, each checked for
the subscription it came on and its sequence, then passed on as a `FeedEvent`.
"""

from __future__ import annotations

from kalshi_cli.feed import messages
from kalshi_cli.feed.book import (
    GAP,
    BookSet,
    EventKind,
    EventSink,
    FeedEvent,
    SeqTracker,
    Subscriptions,
)
from kalshi_cli.feed.index import IndexBoard, IndexMessageError, decode_tick
from kalshi_cli.vocabulary.models import Order

TRADE = "trade"
LIFECYCLE = "market_lifecycle_v2"


class ChannelMessages:
    """The messages of one connection's subscriptions that are passed on as they come (the
    session's own reading of `subs` and `seq`, which it renews with each connection)."""

    def __init__(
        self,
        subs: Subscriptions,
        seq: SeqTracker,
        *,
        books: BookSet,
        sink: EventSink,
        followed: set[str],
        index_board: IndexBoard,
    ) -> None:
        self._subs = subs
        self._seq = seq
        self._books = books
        self._sink = sink
        # markets with no book whose orders and lifecycle are passed on (`FeedSession.follow`)
        self._followed = followed
        self._index_board = index_board

    def sequenced(self, msg: messages.Frame, reason: str) -> bool:
        """False for a message of a subscription not read; a GAP event when one of its channel
        was lost (a channel with no snapshot to resync from). A message numbered below the next
        one (sent twice, or a lost one arriving late) is passed on and is no gap, and the
        baseline stays: taken as the new one, it made the next message a gap too. Its reader
        tells a trade applied already by its id."""
        sid, seq = msg.sid, msg.seq
        if sid in self._subs.unread:
            return False
        if sid is not None and seq is not None and self._seq.place(sid, seq) == GAP:
            self._sink(FeedEvent(EventKind.GAP, reason=reason))
        return True

    def trade(self, msg: messages.TradeMessage) -> None:
        if self.sequenced(msg, TRADE):
            self._sink(FeedEvent(EventKind.TRADE, msg.msg.market_ticker, message=msg.msg))

    def account(
        self,
        kind: EventKind,
        msg: messages.Frame,
        ticker: str | None,
        message: messages.FillNotice | Order | messages.UnreadableOrder | None,
    ) -> None:
        if self.sequenced(msg, kind.value):  # these carry no seq: never a gap
            self._sink(FeedEvent(kind, ticker, message=message))

    def lifecycle(self, msg: messages.Frame, body: messages.Lifecycle | None) -> None:
        # lifecycle has no snapshot to resync from: a GAP says so (the trade loop reads its
        # markets' state again over REST); the event messages share its numbers, only a
        # market's is passed on
        self.sequenced(msg, LIFECYCLE)
        ticker = None if body is None else body.market_ticker
        if ticker is not None and (self._books.get(ticker) is not None or ticker in self._followed):
            self._sink(FeedEvent(EventKind.LIFECYCLE, ticker, message=body))

    def index(self, msg: messages.IndexValueMessage) -> None:
        kind = str(msg.__struct_config__.tag)
        # a lost value has nothing to resync from; the next one supersedes it
        if not self.sequenced(msg, kind):
            return
        try:
            tick = decode_tick(msg)
        except IndexMessageError as exc:  # one bad value: no book is touched by it
            self._sink(FeedEvent(EventKind.ERROR, reason=f"bad index message: {exc}"[:200]))
            return
        if self._index_board.apply(tick):
            self._sink(FeedEvent(EventKind.INDEX, tick.index_id, reason=tick.channel))

    def index_list(self, msg: messages.IndexListMessage, channel: str) -> None:
        """The ids an index channel offers, answering the `list` command of `channel` (""
        when the reply names no command: the channel of its sid then)."""
        sid = msg.sid
        if not channel and sid is not None:
            channel = self._subs.channel_of(sid) or ""
        self._sink(FeedEvent(EventKind.INDEX_LIST, data={"ids": msg.msg.ids}, reason=channel))
