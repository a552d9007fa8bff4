"""Reading a data set back: records in time order, and the books they rebuild.

`iter_records` yields `(recv_ns, object, is_local)` for every record of every segment in file
order (time order); `BookReplay` applies the frames to local books exactly as the live feed
does (`feed.book.LocalBook`) and checks sequence numbers per subscription. Nothing in the data
is fatal: a line or frame it cannot use is skipped and counted under its reason (the table in
docs/data.md "Reading: what is skipped and why"). A recorder's `connected` record starts a new
connection, so sequence tracking restarts; in imported data without one, a snapshot restarts
its subscription's sequence. A line is parsed by msgspec's JSON decoder, and one msgspec refuses
by the standard library's, so each line gives exactly what `json.loads` gives (docs/data.md
"How lines are decoded"). A snapshot is then converted to the feed's `BookSnapshot` and a public
trade to its `FeedTrade` (feed/messages.py, the one reading of those messages); a delta's four
fields are read from the parsed line: converting each recorded delta to its Struct would add
about 0.3 us to the 3 us a replayed delta costs, a tenth of the replay's innermost loop.
"""

from __future__ import annotations

import json
import json.scanner
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import InvalidOperation
from pathlib import Path
from typing import Any, cast

import msgspec

from kalshi_cli.data.segments import iter_lines
from kalshi_cli.feed.book import LocalBook
from kalshi_cli.feed.index import LIST_TYPES, VALUE_TYPES
from kalshi_cli.feed.messages import BookSnapshot, convert_trade
from kalshi_cli.vocabulary.units import is_fraction, parse_count

Record = tuple[int, dict[str, Any], bool]
# (recv_ns, kind, ticker, reason): "fresh", "stale" or "gap" (a channel without snapshots)
ReplayListener = Callable[[int, str, str | None, str], None]

KNOWN_TYPES = frozenset(
    {
        "subscribed",
        "unsubscribed",
        "ok",
        "error",
        "list_subscriptions",
        "ticker",
        "trade",
        "fill",
        "user_order",
        "market_position",
        "market_lifecycle_v2",
        "event_lifecycle",
        "event_fee_update",
        "multivariate_market_lifecycle",
        "order_group_updates",
        # the reference indices (feed/index.py): read by the backtest's driver, not the books
        *VALUE_TYPES,
        *LIST_TYPES,
    }
)
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


def fractional_market(frame: Mapping[str, Any]) -> str | None:
    """The market whose counts this frame shows in fractions of a contract (a book level's
    size, a book delta, a trade's count), else None. Kalshi's market answer no longer says
    whether a market trades fractions (3.31.0 dropped `fractional_trading_enabled`): its book
    and trades do, and the recorder and the import keep what they show in the manifest
    (`markets.T.fractional`), so a backtest's venue matches the market at that granularity."""
    msg = frame.get("msg")
    if type(msg) is not dict:
        return None
    kind = frame.get("type")
    if kind == "orderbook_delta":
        counts: list[Any] = [msg.get("delta_fp")]
    elif kind == "trade":
        trade = convert_trade(msg)
        counts = [] if trade is None else [trade.count]
    elif kind == "orderbook_snapshot":
        counts = [
            level[1]
            for side in ("yes_dollars_fp", "no_dollars_fp")
            for level in msg.get(side) or ()
            if type(level) is list and len(level) == 2
        ]
    else:
        return None
    ticker = msg.get("market_ticker")
    if type(ticker) is not str:
        return None
    for count in counts:
        try:
            if is_fraction(parse_count(count)):
                return ticker
        except (TypeError, ValueError, ArithmeticError):
            continue
    return None


def iter_records(
    root: Path,
    skipped: Counter[str],
    parse: Callable[[bytes], Any] = parse_line,
    *,
    now_ns: int | None = None,
    lines: Iterable[bytes] | None = None,
) -> Iterator[Record]:
    """`parse` is the line parser: `parse_line`, or `json.loads` for a reference reading.
    `now_ns` (default: the system clock) bounds the receive times: one more than a day past it
    is `future_time`, a clock set to another century, skipped. `lines` are the segments' lines
    when they are already at hand (held in memory); by default they are read from `root`.

    Time order is kept with one record held back: a record earlier than the one before it is
    `out_of_order`, unless the one before it had jumped ahead of both its neighbours (the
    records after it go on from the one before it): then that one is skipped instead, so a
    single bad receive time costs one record, not every record after it. (Before any record
    is read, the first of two is the one kept.)"""
    latest = (time.time_ns() if now_ns is None else now_ns) + FUTURE_SLACK_NS
    last = 0  # the receive time of the last record yielded
    held: Record | None = None
    for line in iter_lines(root, skipped) if lines is None else lines:
        try:
            rec = parse(line)
            ns = rec["recv_ns"]
            frame = rec.get("frame")
        # RecursionError: a line nested deeper than the parser goes (json.loads raises it too)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            skipped["malformed"] += 1
            continue
        if type(ns) is not int:
            skipped["malformed"] += 1
            continue
        if ns > latest:
            skipped["future_time"] += 1
            continue
        if ns < last:
            skipped["out_of_order"] += 1
            continue
        record: Record
        if type(frame) is dict:
            record = (ns, frame, False)
        else:
            local = rec.get("local")
            if type(local) is dict:
                record = (ns, local, True)
            else:
                text = rec.get("frame_text")
                try:
                    frame = json.loads(text) if isinstance(text, str) else None
                except (ValueError, RecursionError):
                    frame = None
                if type(frame) is not dict:
                    skipped["malformed"] += 1
                    continue
                record = (ns, frame, False)
        if held is not None and ns < held[0]:
            skipped["out_of_order"] += 1
            if not last:  # nothing read before `held` to tell which of the two is wrong
                continue
            # `held` jumped ahead of the records on either side of it: it is the one skipped
        elif held is not None:
            last = held[0]
            yield held
        held = record
    if held is not None:
        yield held


class BookReplay:
    """Local books rebuilt from recorded frames; `books` holds every market seen."""

    def __init__(self, listener: ReplayListener | None = None) -> None:
        self.books: dict[str, LocalBook] = {}
        self.skipped: Counter[str] = Counter()
        self.applied = 0  # snapshots and deltas applied to an exact book
        self.frames: Counter[str] = Counter()  # frames by type
        self._next: dict[int, int] = {}  # sid -> next seq expected
        self._sid_tickers: dict[int, dict[str, None]] = {}  # ordered sets
        self._listener = listener
        # the prices the orderbook NO levels come in, as the recording's `local` records say
        # (`orderbook_prices`); a recording made before it says nothing: the NO-leg of old
        self.yes_priced = False

    def _emit(self, ns: int, kind: str, ticker: str | None, reason: str = "") -> None:
        if self._listener is not None:
            self._listener(ns, kind, ticker, reason)

    def new_connection(self, ns: int) -> None:
        self._next.clear()
        self._sid_tickers.clear()
        for book in self.books.values():
            if book.fresh:
                book.fresh = False
                self._emit(ns, "stale", book.ticker, "reconnect")

    def apply_record(self, ns: int, obj: dict[str, Any], is_local: bool) -> None:
        if is_local:
            if obj.get("event") == "connected":
                self.new_connection(ns)
                self.yes_priced = obj.get("orderbook_prices") == "yes_leg"
            elif "orderbook_prices" in obj:
                self.yes_priced = obj["orderbook_prices"] == "yes_leg"
            return
        self.apply(ns, obj)

    def apply(self, ns: int, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        self.frames[kind if isinstance(kind, str) else "?"] += 1
        try:
            if kind == "orderbook_delta":
                self._delta(ns, msg)
            elif kind == "orderbook_snapshot":
                self._snapshot(ns, msg)
            elif kind in KNOWN_TYPES:
                self._other(ns, kind, msg)
            else:
                self.skipped["unknown_type"] += 1
        except (KeyError, TypeError, AttributeError):
            self.skipped["bad_frame"] += 1

    def _delta(self, ns: int, msg: dict[str, Any]) -> None:
        sid, seq, body = msg["sid"], msg["seq"], msg["msg"]
        expected = self._next.get(sid)
        if expected is not None and seq != expected:
            if seq < expected:
                self.skipped["duplicate"] += 1
                return
            self._gap(ns, sid, None)
        self._next[sid] = seq + 1
        ticker = body["market_ticker"]
        book = self.books.get(ticker)
        if book is None or not book.fresh:
            self.skipped["stale_delta"] += 1
            return
        if book.apply_delta(
            body["side"], body["price_dollars"], body["delta_fp"], yes_priced=self.yes_priced
        ):
            self.applied += 1
        else:
            self.skipped["bad_delta"] += 1
            self._emit(ns, "stale", ticker, "bad_delta")

    def _snapshot(self, ns: int, msg: dict[str, Any]) -> None:
        sid, seq, body = msg["sid"], msg["seq"], msg["msg"]
        ticker = body["market_ticker"]
        expected = self._next.get(sid)
        if expected is not None and seq > expected:
            self._gap(ns, sid, ticker)
        self._next[sid] = seq + 1  # a lower seq: a new subscription reusing the sid
        self._sid_tickers.setdefault(sid, {})[ticker] = None
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = LocalBook(ticker)
        was_fresh = book.fresh
        try:
            snapshot = msgspec.convert(body, BookSnapshot)
            self.yes_priced = book.take_snapshot(snapshot, yes_priced=self.yes_priced)
        except (ValueError, InvalidOperation, TypeError):
            book.fresh = False
            self.skipped["bad_snapshot"] += 1
            if was_fresh:
                self._emit(ns, "stale", ticker, "bad_snapshot")
            return
        self.applied += 1
        if not was_fresh:
            self._emit(ns, "fresh", ticker)

    def _gap(self, ns: int, sid: int, except_ticker: str | None) -> None:
        self.skipped["seq_gap"] += 1
        for ticker in self._sid_tickers.get(sid, ()):
            book = self.books.get(ticker)
            if ticker != except_ticker and book is not None and book.fresh:
                book.fresh = False
                self._emit(ns, "stale", ticker, "seq_gap")

    def _other(self, ns: int, kind: str, msg: dict[str, Any]) -> None:
        if kind == "ok":
            sid, seq = msg.get("sid"), msg.get("seq")
            if isinstance(sid, int) and isinstance(seq, int) and self._next.get(sid) == seq:
                self._next[sid] = seq + 1
            return
        if kind not in _SEQUENCED:
            return
        sid, seq = msg.get("sid"), msg.get("seq")
        if not isinstance(sid, int) or not isinstance(seq, int):
            return
        expected = self._next.get(sid)
        self._next[sid] = seq + 1
        if expected is not None and seq > expected:
            self.skipped[f"{kind}_seq_gap"] += 1
            self._emit(ns, "gap", None, kind)


def replay(
    root: Path, listener: ReplayListener | None = None, parse: Callable[[bytes], Any] = parse_line
) -> BookReplay:
    """Every record of the data set through a `BookReplay`; read-side skips are merged into
    its `skipped`. `parse` as in `iter_records`."""
    books = BookReplay(listener)
    read_skips: Counter[str] = Counter()
    apply, apply_record = books.apply, books.apply_record
    for ns, obj, is_local in iter_records(root, read_skips, parse):
        if is_local:
            apply_record(ns, obj, is_local)
        else:
            apply(ns, obj)
    books.skipped.update(read_skips)
    return books
