"""Reading a data set back: records in time order, and the books they rebuild.

`iter_records` yields `(recv_ns, value, is_local)` for every record in file order; `BookReplay`
applies the frames to local books as the live feed does (`feed.book.LocalBook`,
`feed.book.Subscriptions`), checking sequence numbers per subscription. Nothing in the data is
fatal: what cannot be used is skipped and counted under its reason (docs/data.md "Reading: what
is skipped and why"). A `connected` record restarts sequence tracking; without one, a snapshot
restarts its subscription's.

A recorded frame is decoded here, once, for every reader of a data set: msgspec reads a line
into its envelope and its frame into the feed's Structs (feed/messages.py), a `local` record into
a `LocalNote`. A line msgspec refuses is parsed as `json.loads` would and converted by
`messages.convert_frame`, so each line gives what `json.loads` gives (docs/data.md "How lines
are decoded").
"""

from __future__ import annotations

import itertools
import json
import json.scanner
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import InvalidOperation
from pathlib import Path
from typing import Any, cast

import msgspec

from kalshi_cli.data.segments import iter_line_blocks
from kalshi_cli.feed.book import (
    GAP,
    GET_SNAPSHOT,
    NEXT,
    ORDERBOOK,
    REPEAT,
    LocalBook,
    SeqTracker,
    Subscriptions,
    read_in_old_prices,
    refused_command,
    sent_number,
)
from kalshi_cli.feed.messages import (
    BOOK_TYPES,
    TYPE_OF,
    DeltaMessage,
    Error,
    Message,
    Misshapen,
    SnapshotMessage,
    Subscribed,
    TradeMessage,
    UnknownMessage,
    Unsubscribed,
    convert_frame,
)
from kalshi_cli.vocabulary.units import is_fraction, parse_count


class LocalNote(msgspec.Struct, frozen=True, gc=False):
    """A recording's own record (`local`): what the recorder's connection did (the recording's
    key `event`, kept for the files already written; `connected` starts a new one), the prices
    its orderbook NO levels came in (`orderbook_prices`, `UNSET` when the record does not say)
    and the feed's reason (an `error`'s names the command refused). Read as found: an odd value
    is one the replay does not act on."""

    event: Any = None  # the recording's key
    orderbook_prices: Any = msgspec.UNSET
    reason: Any = ""


RecordedFrame = Message | UnknownMessage | Misshapen
Record = tuple[int, RecordedFrame | LocalNote, bool]
# (recv_ns, kind, ticker, reason): "fresh", "stale" or "gap" (a channel without snapshots)
ReplayListener = Callable[[int, str, str | None, str], None]


class _Line(msgspec.Struct, gc=False):
    """A recorded line as msgspec decodes it in one pass; any line this refuses is read the
    long way (`_read_parsed`)."""

    recv_ns: int
    frame: Message | None = None
    local: LocalNote | None = None
    frame_text: str | None = None


# how far past the reading's clock a receive time may be (clocks of two machines differ)
FUTURE_SLACK_NS = 86_400 * 1_000_000_000
# the sequenced messages other than the book's: the lifecycle channels' event messages take
# their subscription's numbers too (asyncapi `eventLifecyclePayload`, `eventFeeUpdatePayload`)
_SEQUENCED = frozenset(
    {
        "trade",
        "market_lifecycle_v2",
        "event_lifecycle",
        "event_fee_update",
        "multivariate_market_lifecycle",
    }
)
_WHITESPACE = " \t\n\r"  # JSON's insignificant whitespace, all json.loads skips at the end
# the scanner json.loads runs (the C one when built); typeshed types its argument as a scanner
_scan = json.scanner.make_scanner(cast(Any, json.JSONDecoder()))


def loads_stdlib(line: bytes) -> Any:
    """`json.loads(line)`, through the C scanner on the UTF-8 text when the line is plain (no
    leading whitespace or byte-order mark, valid UTF-8); anything else goes to `json.loads`."""
    try:
        text = line.decode()
        obj, end = _scan(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        return json.loads(line)
    if end != len(text) and text[end:].strip(_WHITESPACE):
        return json.loads(line)  # extra data: json.loads raises the same error it always did
    return obj


_decode = msgspec.json.Decoder().decode
# msgspec's ValidationError is a DecodeError; its nesting limit is not the standard library's
_REFUSED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def parse_line(line: bytes) -> Any:
    """`json.loads(line)`: through msgspec, and through the standard library when msgspec
    refuses the line (see the module's "Speed")."""
    try:
        return _decode(line)
    except _REFUSED:
        return loads_stdlib(line)


def fractional_market(frame: RecordedFrame) -> str | None:
    """The market whose counts this frame shows in fractions of a contract (a book level's
    size, a book delta, a trade's count), else None. Kalshi's market answer no longer says
    whether a market trades fractions (3.31.0 dropped `fractional_trading_enabled`): its book
    and trades do, and the recorder and the import keep what they show in the manifest
    (`markets.T.fractional`), so a backtest's venue matches the market at that granularity."""
    ticker: str | None
    counts: list[Any]
    if type(frame) is DeltaMessage:
        # as the book reads it: a string's text or a JSON number, either way exactly
        ticker = frame.msg.market_ticker
        try:
            counts = [sent_number(frame.msg.delta_fp)]
        except (TypeError, ValueError, ArithmeticError):
            return None
    elif type(frame) is TradeMessage:
        ticker, counts = frame.msg.market_ticker, [frame.msg.count]
    elif type(frame) is SnapshotMessage:
        body = frame.msg
        ticker = body.market_ticker
        counts = [
            size for side in (body.yes_dollars_fp, body.no_dollars_fp) for _, size in side or ()
        ]
    else:
        return None
    if ticker is None:
        return None
    for count in counts:
        try:
            if is_fraction(parse_count(count)):
                return ticker
        except (TypeError, ValueError, ArithmeticError):
            continue
    return None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_frame = msgspec.json.Decoder(Message).decode


def _read_parsed(rec: Any) -> Record | None:
    """A line parsed to what `json.loads` gives, as its record; None when it is malformed (not
    an object, no integer `recv_ns`, no frame). Raises what reading a non-object raises."""
    ns = rec["recv_ns"]
    frame = rec.get("frame")
    if type(ns) is not int:
        return None
    if type(frame) is dict:
        return ns, convert_frame(frame), False
    local = rec.get("local")
    if type(local) is dict:
        prices = local.get("orderbook_prices", msgspec.UNSET)
        return ns, LocalNote(local.get("event"), prices, local.get("reason", "")), True
    text = rec.get("frame_text")
    return _read_text(ns, text) if isinstance(text, str) else None


def _read_text(ns: int, text: str) -> Record | None:
    """A `frame_text` record (a frame the recorder kept as the text it came in, not one line):
    decoded as a live frame is, else parsed by `json.loads` and converted."""
    try:
        return ns, _decode_frame(text), False
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return (ns, convert_frame(frame), False) if type(frame) is dict else None


def _read_line(line: bytes, parse: Callable[[bytes], Any] | None) -> Record | None:
    """One line as its record, None when it is malformed."""
    if parse is None:
        try:
            decoded = _decode_line(line)
        except (msgspec.DecodeError, RecursionError):
            pass  # read the long way, as json.loads reads it
        else:
            if decoded.frame is not None:
                return decoded.recv_ns, decoded.frame, False
            return _read_unframed(decoded)
        parse = parse_line
    try:
        return _read_parsed(parse(line))
    # RecursionError: a line nested deeper than the parser goes (json.loads raises it too)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _read_unframed(decoded: _Line) -> Record | None:
    """A decoded line without a `frame`: a `local` record, a `frame_text` one, else None."""
    if decoded.local is not None:
        return decoded.recv_ns, decoded.local, True
    if decoded.frame_text is not None:
        return _read_text(decoded.recv_ns, decoded.frame_text)
    return None


def _lines(blocks: Iterable[Iterable[bytes]]) -> Iterator[bytes]:
    return itertools.chain.from_iterable(blocks)


def iter_records(
    root: Path,
    skipped: Counter[str],
    parse: Callable[[bytes], Any] | None = None,
    *,
    now_ns: int | None = None,
    blocks: Iterable[Iterable[bytes]] | None = None,
) -> Iterator[Record]:
    """`parse`, when given, is the line parser every line goes through (`json.loads` for a reference
    reading); by default a line is decoded straight into its Structs. `now_ns` bounds the receive
    times: one more than a day past it is `future_time`, skipped. `blocks` are the segments'
    lines when already in memory; by default they are read from `root`.

    Time order is kept with one record held back: a record earlier than the one before is
    `out_of_order`, unless the one before had jumped ahead of both neighbours: then that one is
    skipped instead, so a single bad receive time costs one record."""
    latest = (time.time_ns() if now_ns is None else now_ns) + FUTURE_SLACK_NS
    last = 0  # the receive time of the last record yielded
    held: Record | None = None
    held_ns = 0  # its receive time
    # a line with a frame that msgspec reads in one pass, nearly every line, is read here
    # without a further call: a replay reads millions (`_read_line` reads the rest alike)
    decode, refused = _decode_line, (msgspec.DecodeError, RecursionError)
    record: Record | None
    if blocks is None:
        blocks = iter_line_blocks(root, skipped)
    for line in _lines(blocks):
        if parse is not None:
            record = _read_line(line, parse)
        else:
            try:
                decoded = decode(line)
            except refused:
                record = _read_line(line, parse_line)
            else:
                frame = decoded.frame
                if frame is not None:
                    record = decoded.recv_ns, frame, False
                else:
                    record = _read_unframed(decoded)
        if record is None:
            skipped["malformed"] += 1
            continue
        ns = record[0]
        if ns > latest:
            skipped["future_time"] += 1
            continue
        if ns < last:
            skipped["out_of_order"] += 1
            continue
        if held is not None:
            if ns < held_ns:
                skipped["out_of_order"] += 1
                if not last:  # nothing read before `held` to tell which of the two is wrong
                    continue
                # `held` jumped ahead of the records on either side of it: it is the one skipped
            else:
                last = held_ns
                yield held
        held, held_ns = record, ns
    if held is not None:
        yield held


class BookReplay:
    """Local books rebuilt from recorded frames; `books` holds every market seen."""

    def __init__(self, listener: ReplayListener | None = None) -> None:
        self.books: dict[str, LocalBook] = {}
        self.skipped: Counter[str] = Counter()
        self.applied = 0  # snapshots and deltas applied to an exact book
        # frames by type (`frames`): the deltas, most of them, in a plain int, whose count
        # costs a replay far less than a Counter's
        self._frames: Counter[str] = Counter()
        self._deltas = 0
        # each subscription's next number, and which subscription of a channel is read, by
        # the live feed's own rules
        self._seq = SeqTracker()
        self._subs = Subscriptions()
        # a `connected` record was seen: the data says where each connection began, so a
        # number below the next one is a repeat, as live; without (imported data) a snapshot so
        # numbered starts a new subscription
        self._connections_known = False
        self._sid_tickers: dict[int, dict[str, None]] = {}  # ordered sets
        self._listener = listener
        # the prices the orderbook NO levels come in, as the recording's `local` records say
        # (`orderbook_prices`); a recording made before it says nothing: the NO-leg of old
        self.yes_priced = False

    @property
    def frames(self) -> Counter[str]:
        """The frames read, by type."""
        frames = self._frames.copy()
        if self._deltas:
            frames["orderbook_delta"] += self._deltas
        return frames

    def _emit(self, ns: int, kind: str, ticker: str | None, reason: str = "") -> None:
        if self._listener is not None:
            self._listener(ns, kind, ticker, reason)

    def new_connection(self, ns: int) -> None:
        self._seq = SeqTracker()
        self._subs = Subscriptions()
        self._connections_known = True
        self._sid_tickers.clear()
        self._all_stale(ns, "reconnect")

    def _all_stale(self, ns: int, reason: str) -> None:
        for book in self.books.values():
            if book.fresh:
                book.fresh = False
                self._emit(ns, "stale", book.ticker, reason)

    def apply_record(self, ns: int, obj: RecordedFrame | LocalNote, is_local: bool) -> None:
        if isinstance(obj, LocalNote):
            if obj.event == "connected":
                self.new_connection(ns)
                self.yes_priced = obj.orderbook_prices == "yes_leg"
            elif obj.orderbook_prices is not msgspec.UNSET:
                self._read_prices(ns, obj.orderbook_prices == "yes_leg", None)
            elif obj.event == "error" and refused_command(obj.reason) == GET_SNAPSHOT:
                self._snapshot_refused(ns)
            return
        self.apply(ns, obj)

    def _snapshot_refused(self, ns: int) -> None:
        """The exchange refused a `get_snapshot`, the recording's `error` record says (the
        frame names only the command's id): the live feed then resubscribed the orderbook
        channel, every book stale until the new subscription's snapshots and the old one's
        late frames dropped (`FeedSession._on_error`). So here."""
        sid = self._subs.sids.get(ORDERBOOK)
        if sid is not None:
            self._ended(ns, sid, "resubscribe")
        self._all_stale(ns, "resubscribe")

    def apply(self, ns: int, msg: RecordedFrame) -> None:
        # the delta first: it is most of the traffic
        if type(msg) is DeltaMessage:
            self.delta(ns, msg)
        elif type(msg) is SnapshotMessage:
            self._frames["orderbook_snapshot"] += 1
            self._snapshot(ns, msg)
        elif isinstance(msg, UnknownMessage):
            self._frames[msg.type or "?"] += 1
            self.skipped["unknown_type"] += 1
        elif isinstance(msg, Misshapen):
            self._misshapen(ns, msg)
        else:
            kind = TYPE_OF[type(msg)]
            self._frames[kind] += 1
            self._place(ns, kind, msg.sid, msg.seq)
            if type(msg) is Subscribed:
                self._subscribed(msg)
            elif type(msg) is Unsubscribed and msg.sid is not None:
                self._ended(ns, msg.sid, "resubscribe")
            elif type(msg) is Error and msg.terminal and msg.sid is not None:
                self._ended(ns, msg.sid, "channel_error")

    def reads(self, frame: RecordedFrame) -> bool:
        """Whether the frame is of a subscription the live feed reads: a trade, a lifecycle
        message or an index value of another is applied nowhere, as live."""
        sid = getattr(frame, "sid", None)
        return sid is None or sid not in self._subs.unread

    def _unread(self, sid: int) -> bool:
        """Whether a frame is of a subscription the live feed does not read (`Subscriptions`):
        a second one of its channel, or one ended whose frames still came. Counted."""
        if sid in self._subs.unread:
            self.skipped["unread_subscription"] += 1
            return True
        return False

    def _subscribed(self, msg: Subscribed) -> None:
        """A `subscribed` answer: a subscription read from now on is numbered anew, as live."""
        channel, sid = msg.msg.channel, msg.msg.sid
        if channel is not None and sid is not None and self._subs.granted(channel, sid):
            self._seq.forget(sid)

    def _sequenced(self, ns: int, sid: int, seq: int) -> bool:
        """A delta's place on its subscription: False for one already seen (`duplicate`)."""
        return self._placed(ns, sid, self._seq.place(sid, seq))

    def _placed(self, ns: int, sid: int, place: int) -> bool:
        """`_sequenced` once the place is known."""
        if place == REPEAT:
            self.skipped["duplicate"] += 1
            return False
        if place == GAP:
            self._gap(ns, sid, None)
        return True

    def delta(self, ns: int, msg: DeltaMessage) -> LocalBook | None:
        """`apply` of an `orderbook_delta`, the replay's most frequent step, for a reader that
        knows the frame's type already (the backtest's driver); `_unread` and `_sequenced`
        inline for the usual case. Returns the market's book when it is fresh after the delta
        (applied, or not to be applied: a repeat, a subscription not read), else None."""
        self._deltas += 1
        sid = msg.sid
        body = msg.msg
        book = self.books.get(body.market_ticker)
        if sid in self._subs.unread:
            self.skipped["unread_subscription"] += 1
        elif (place := self._seq.place(sid, msg.seq)) != NEXT and not self._placed(ns, sid, place):
            pass
        elif book is None or not book.fresh:
            self.skipped["stale_delta"] += 1
            return None
        elif book.apply_delta(body.side, body.price_dollars, body.delta_fp, self.yes_priced):
            self.applied += 1
            return book
        else:
            self.skipped["bad_delta"] += 1
            self._emit(ns, "stale", book.ticker, "bad_delta")
            return None
        return book if book is not None and book.fresh else None

    def _snapshot(self, ns: int, msg: SnapshotMessage) -> None:
        book = self._snapshot_book(ns, msg.sid, msg.seq, msg.msg.market_ticker)
        if book is None:
            return
        was_fresh = book.fresh
        try:
            yes_priced = book.take_snapshot(msg.msg, yes_priced=self.yes_priced)
        except (ValueError, InvalidOperation, TypeError):
            self._bad_snapshot(ns, book, was_fresh)
            return
        self._read_prices(ns, yes_priced, book)
        self.applied += 1
        if not was_fresh:
            self._emit(ns, "fresh", book.ticker)

    def _read_prices(self, ns: int, yes_priced: bool, switched_by: LocalBook | None) -> None:
        """The NO levels' prices from now on; a switch leaves every other book stale, as live
        (`feed.book.read_in_old_prices`)."""
        if yes_priced == self.yes_priced:
            return
        self.yes_priced = yes_priced
        for ticker in read_in_old_prices(self.books.values(), switched_by):
            self._emit(ns, "stale", ticker, "orderbook_prices")

    def _snapshot_book(self, ns: int, sid: int, seq: int, ticker: str) -> LocalBook | None:
        """The book a snapshot is for, after its place on its subscription is taken; None for
        a repeat (`duplicate`), which would take the book back to before the deltas since, or
        for a subscription not read."""
        if self._unread(sid):
            return None
        place = self._seq.place(sid, seq)
        if place == REPEAT:
            if self._connections_known:
                self.skipped["duplicate"] += 1
                return None
            # imported data: a new connection's subscription, numbered anew; the others of the
            # old one are not known current
            self._seq.forget(sid)
            self._seq.place(sid, seq)
            place = GAP
        if place == GAP:
            self._gap(ns, sid, ticker)
        self._sid_tickers.setdefault(sid, {})[ticker] = None
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = LocalBook(ticker)
        return book

    def _bad_snapshot(self, ns: int, book: LocalBook, was_fresh: bool) -> None:
        book.fresh = False
        self.skipped["bad_snapshot"] += 1
        if was_fresh:
            self._emit(ns, "stale", book.ticker, "bad_snapshot")

    def _misshapen(self, ns: int, msg: Misshapen) -> None:
        """A frame of a known type not in its shape: a book frame is `bad_frame` (a snapshot
        naming its market and place whose levels are not levels: `bad_snapshot`, its book
        stale), taking its place on its subscription when it states one; any other is read for
        its place alone, as a well-shaped one is. A delta carried a change that is lost: the
        books it may have changed are stale (the live feed resyncs every book on it)."""
        kind, sid, seq, ticker = msg.type, msg.sid, msg.seq, msg.market_ticker
        self._frames[kind] += 1
        if kind not in BOOK_TYPES:
            self._place(ns, kind, sid, seq)
        elif kind == "orderbook_snapshot":
            if sid is None or seq is None or ticker is None:
                self.skipped["bad_frame"] += 1  # it replaces no book: none is the worse for it
            else:
                book = self._snapshot_book(ns, sid, seq, ticker)
                if book is not None:
                    self._bad_snapshot(ns, book, book.fresh)
        elif sid is not None and self._unread(sid):
            return
        elif sid is None or seq is None or self._sequenced(ns, sid, seq):
            known = None if ticker is None else self.books.get(ticker)
            if ticker is not None and (known is None or not known.fresh):
                self.skipped["stale_delta"] += 1  # read before its fields, as a delta's is
            else:
                self.skipped["bad_frame"] += 1
                self._lost_change(ns, sid, ticker)

    def _lost_change(self, ns: int, sid: int | None, ticker: str | None) -> None:
        """A delta that cannot be read changed its market's book, or, naming none, any book of
        its subscription, or, naming neither, any book at all: those are stale."""
        if ticker is not None:
            tickers: Iterable[str] = (ticker,)
        elif sid is not None:
            tickers = self._sid_tickers.get(sid, ())
        else:
            tickers = list(self.books)
        for name in tickers:
            book = self.books.get(name)
            if book is not None and book.fresh:
                book.fresh = False
                self._emit(ns, "stale", name, "bad_frame")

    def _ended(self, ns: int, sid: int, reason: str) -> None:
        """The subscription ended: by a terminal channel error (the live feed resubscribes),
        or unsubscribed (the live feed resubscribes a channel so). Its books may have lost
        messages and are stale until their next snapshot, which comes on a new subscription;
        its late frames are not read, as live."""
        self._subs.end(sid)
        self._seq.forget(sid)
        for ticker in self._sid_tickers.pop(sid, ()):
            book = self.books.get(ticker)
            if book is not None and book.fresh:
                book.fresh = False
                self._emit(ns, "stale", ticker, reason)

    def _gap(self, ns: int, sid: int, except_ticker: str | None) -> None:
        self.skipped["seq_gap"] += 1
        for ticker in self._sid_tickers.get(sid, ()):
            book = self.books.get(ticker)
            if ticker != except_ticker and book is not None and book.fresh:
                book.fresh = False
                self._emit(ns, "stale", ticker, "seq_gap")

    def _place(self, ns: int, kind: str, sid: int | None, seq: int | None) -> None:
        """The place of a message other than a book's on its subscription: a reply (an `ok`,
        an `error`) at the next number takes it, as live (`FeedSession._on_reply`); a gap on a
        sequenced channel is counted and told."""
        if sid is None or seq is None:
            return
        if kind not in _SEQUENCED:
            self._seq.accept_if_next(sid, seq)
            return
        if self._unread(sid):
            return
        if self._seq.place(sid, seq) == GAP:
            self.skipped[f"{kind}_seq_gap"] += 1
            self._emit(ns, "gap", None, kind)


def replay(
    root: Path,
    listener: ReplayListener | None = None,
    parse: Callable[[bytes], Any] | None = None,
) -> BookReplay:
    """Every record of the data set through a `BookReplay`; read-side skips are merged into
    its `skipped`. `parse` as in `iter_records`."""
    books = BookReplay(listener)
    read_skips: Counter[str] = Counter()
    apply, apply_record = books.apply, books.apply_record
    for ns, obj, is_local in iter_records(root, read_skips, parse):
        if isinstance(obj, LocalNote):
            apply_record(ns, obj, is_local)
        else:
            apply(ns, obj)
    books.skipped.update(read_skips)
    return books
