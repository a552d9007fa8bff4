"""The feed's data messages, a part of a `FeedSession` (session.py), each checked for the
subscription it came on and its sequence. The orderbook's deltas and snapshots are applied to
the books, a lost one making every book of the subscription suspect (stale, its snapshot asked
for again); trades, the account's fills, orders and positions, tickers, lifecycle and index
values are passed on as a `FeedMessage`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet

from kalshi_cli.feed import messages
from kalshi_cli.feed.book import (
    GAP,
    REPEAT,
    BookSet,
    FeedMessage,
    MessageKind,
    MessageSink,
    SeqTracker,
    Subscriptions,
)
from kalshi_cli.feed.index import IndexBoard, IndexMessageError, decode_tick
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import Order

TRADE = "trade"
LIFECYCLE = "market_lifecycle_v2"
# a market listed (`created`) and opened for trading (`activated`): asyncapi.yaml's lifecycle events
NEW_MARKET_EVENTS = frozenset({"created", "activated"})


class ChannelMessages:
    """The data messages of one connection's subscriptions (the session's own reading of `subs`
    and `seq`, which it renews with each connection). `asked` (ticker -> when its snapshot was
    asked for) is the session's, which asks through `ask_snapshots`; a snapshot answers it."""

    def __init__(
        self,
        subs: Subscriptions,
        seq: SeqTracker,
        *,
        books: BookSet,
        sink: MessageSink,
        clock: Clock,
        asked: dict[str, float],
        ask_snapshots: Callable[[Iterable[str]], None],
        followed: set[str],
        of_any_market: AbstractSet[str] = frozenset(),
        index_board: IndexBoard,
    ) -> None:
        self._subs = subs
        self._seq = seq
        self._books = books
        self._sink = sink
        self._clock = clock
        self._asked = asked
        self._ask_snapshots = ask_snapshots
        self._book_messages: dict[str, FeedMessage] = {}
        self.heard_at: float | None = None
        """Monotonic: the orderbook subscription's last data message (None: none yet)."""
        # markets with no book whose orders and lifecycle are passed on (`FeedSession.follow`)
        self._followed = followed
        # lifecycle event types passed on whatever the market (`FeedSession.hear_new_markets`)
        self._of_any_market = of_any_market
        self._index_board = index_board

    def delta(self, msg: messages.DeltaMessage) -> None:
        sid = msg.sid
        if sid in self._subs.unread:
            return
        place = self._seq.place(sid, msg.seq)
        if place == REPEAT:  # applied already, or held by the snapshot its gap asked for
            return
        self.heard_at = self._clock.monotonic()
        if place == GAP:
            self._gap(None)
            return
        body = msg.msg
        ticker = body.market_ticker
        books = self._books
        with books.lock:
            book = books.get(ticker)
            if book is None:
                return
            was_fresh = book.fresh
            ok = book.apply_delta(
                body.side, body.price_dollars, body.delta_fp, yes_priced=books.yes_priced
            )
        if not ok:
            self._sink(FeedMessage(MessageKind.STALE, ticker, reason="bad_delta"))
            self._ask_snapshots([ticker])
        elif was_fresh:
            message = self._book_messages.get(ticker)
            if message is None:  # the same immutable message every time: no allocation per delta
                message = self._book_messages[ticker] = FeedMessage(MessageKind.BOOK, ticker)
            self._sink(message)

    def snapshot(self, msg: messages.SnapshotMessage) -> None:
        sid = msg.sid
        if sid in self._subs.unread:
            return
        place = self._seq.place(sid, msg.seq)
        if place == REPEAT:  # older than the book: taken, it would undo the deltas since
            return
        now = self.heard_at = self._clock.monotonic()
        body = msg.msg
        ticker = body.market_ticker
        self._asked.pop(ticker, None)
        if place == GAP:
            self._gap(ticker)
        read_in_old_prices = self._books.snapshot(ticker, body)
        if read_in_old_prices:  # the NO levels' prices switched: read those books again
            self._ask_snapshots(read_in_old_prices)
        if self._books.get(ticker) is not None and not self._books.is_fresh(ticker):
            # refused (an impossible level): no answer, so asked for again after
            # `resnapshot_timeout` as an unanswered request is (`FeedSession.tick`); a busy
            # subscription is never probed. Not at once: a book sent so again would cost a
            # command a round trip.
            self._asked[ticker] = now

    def _gap(self, except_ticker: str | None) -> None:
        """A message of the orderbook subscription was lost: any of its markets may be wrong."""
        suspects = [t for t in self._books.tickers() if t != except_ticker]
        self._books.mark_stale(suspects, "seq_gap")
        self._ask_snapshots(suspects)

    def sequenced(self, msg: messages.Frame, reason: str) -> bool:
        """False for a message of a subscription not read; a GAP message when one of its channel
        was lost (a channel with no snapshot to resync from). A message numbered below the next
        one (sent twice, or a lost one arriving late) is passed on and is no gap, and the
        baseline stays: taken as the new one, it made the next message a gap too. Its reader
        tells a trade applied already by its id."""
        sid, seq = msg.sid, msg.seq
        if sid in self._subs.unread:
            return False
        if sid is not None and seq is not None and self._seq.place(sid, seq) == GAP:
            self._sink(FeedMessage(MessageKind.GAP, reason=reason))
        return True

    def trade(self, msg: messages.TradeMessage) -> None:
        if self.sequenced(msg, TRADE):
            self._sink(FeedMessage(MessageKind.TRADE, msg.msg.market_ticker, payload=msg.msg))

    def account(
        self,
        kind: MessageKind,
        msg: messages.Frame,
        ticker: str | None,
        message: messages.FillNotice | Order | messages.UnreadableOrder | None,
    ) -> None:
        if self.sequenced(msg, kind.value):  # these carry no seq: never a gap
            self._sink(FeedMessage(kind, ticker, payload=message))

    def lifecycle(self, msg: messages.Frame, body: messages.Lifecycle | None) -> None:
        # lifecycle has no snapshot to resync from: a GAP says so (the trade loop reads its
        # markets' state again over REST); the event messages share its numbers, only a
        # market's is passed on
        self.sequenced(msg, LIFECYCLE)
        ticker = None if body is None else body.market_ticker
        if ticker is None:
            return
        kind = body.event_type if body is not None else None
        if (
            self._books.get(ticker) is not None
            or ticker in self._followed
            or kind in self._of_any_market
        ):
            self._sink(FeedMessage(MessageKind.LIFECYCLE, ticker, payload=body))

    def index(self, msg: messages.IndexValueMessage) -> None:
        kind = str(msg.__struct_config__.tag)
        # a lost value has nothing to resync from; the next one supersedes it
        if not self.sequenced(msg, kind):
            return
        try:
            tick = decode_tick(msg)
        except IndexMessageError as exc:  # one bad value: no book is touched by it
            self._sink(FeedMessage(MessageKind.ERROR, reason=f"bad index message: {exc}"[:200]))
            return
        if self._index_board.apply(tick):
            self._sink(FeedMessage(MessageKind.INDEX, tick.index_id, reason=tick.channel))

    def index_list(self, msg: messages.IndexListMessage, channel: str) -> None:
        """The ids an index channel offers, answering the `list` command of `channel` (""
        when the reply names no command: the channel of its sid then)."""
        sid = msg.sid
        if not channel and sid is not None:
            channel = self._subs.channel_of(sid) or ""
        self._sink(FeedMessage(MessageKind.INDEX_LIST, data={"ids": msg.msg.ids}, reason=channel))
