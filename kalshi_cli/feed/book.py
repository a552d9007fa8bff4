"""Local order books from a snapshot plus deltas (`LocalBook`: exact, in integer ticks, read out
as `Decimal`), the sequence check (`SeqTracker`), which subscription is read (`Subscriptions`),
and one source's books behind one lock (`BookSet`). A book is fresh only between a snapshot and
the first sign it may be wrong; while stale no new order goes to its market. docs/feed.md
"Keeping books exact".
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import msgspec

from kalshi_cli.feed.messages import BookSnapshot, FeedTrade, FillNotice, Lifecycle, UnreadableOrder
from kalshi_cli.vocabulary.models import (
    Level,
    Order,
    Orderbook,
    best_first_kept,
    level_ticks,
    tick_bids_cross,
    tick_side,
)
from kalshi_cli.vocabulary.units import (
    PRICE_TICKS,
    count_hundredths,
    hundredths_count,
    price_ticks,
    ticks_price,
)

# The channel of the books, and the command that asks it for a market's snapshot again.
ORDERBOOK = "orderbook_delta"
GET_SNAPSHOT = "get_snapshot"


class MessageKind(StrEnum):
    BOOK = "book"  # a market's book changed (coalesced by MarketData)
    TICKER = "ticker"
    TRADE = "trade"
    FILL = "fill"
    USER_ORDER = "user_order"
    POSITION = "position"
    LIFECYCLE = "lifecycle"
    STALE = "stale"  # a market's book may be wrong: no new orders until FRESH
    FRESH = "fresh"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    # a sequence gap on a channel that has no snapshot to resync from, or (lifecycle) a new
    # subscription of it after a reconnect: what the channel said meanwhile is lost
    GAP = "gap"
    ERROR = "error"  # the server refused a command
    MODE = "mode"  # MarketData switched between the WebSocket and REST polling
    INDEX = "index"  # a reference index has a new value (`ticker` is its id; feed/index.py)
    INDEX_LIST = "index_list"  # the ids an index channel offers (`data["ids"]`)


MESSAGES_DROPPED = "events_dropped"  # a GAP's reason: MarketData's full queue dropped `data["n"]`
# a CONNECTED's reason: a connection after an earlier one (feed/ws.py). What any channel said
# between the two was read by no one: an order's and a fill's messages have no sequence numbers
# to tell the loss by, so the reconnect itself says it (a lifecycle subscription says its own gap)
RECONNECTED = "reconnected"


class FeedMessage(msgspec.Struct, frozen=True):
    kind: MessageKind
    ticker: str | None = None
    # an ERROR, INDEX_LIST or a convention message: what the feed says of it
    data: Mapping[str, Any] | None = None
    reason: str = ""
    source: str = "ws"  # "ws", "rest" or "feed"
    # a BOOK message from MarketData: when (the feed clock's monotonic seconds) the first change
    # not yet drained arrived, so the loop can tell how long a change waited for its decision
    at: float | None = None  # monotonic seconds
    # an ERROR message of a failed request (a REST poll): the error itself, so the loop's API
    # error guard judges it as it judges any call's (a 5xx counts, a 404 does not)
    error: BaseException | None = None
    # a TRADE, LIFECYCLE, FILL or USER_ORDER message: the channel message's `msg`, decoded
    # (feed/messages.py); a user_order's as an `Order`, else an `UnreadableOrder`
    payload: FeedTrade | Lifecycle | FillNotice | Order | UnreadableOrder | None = None


MessageSink = Callable[[FeedMessage], None]


class LocalBook:
    """One market's bids, exact: each side held in integers (`yes_ticks`, `no_ticks`: price in
    ticks of $0.0001 -> size in hundredths of a contract, units "Integer money"), so a delta,
    the common step, is int arithmetic on one level; read out in Decimal (`to_orderbook`,
    `yes`, `no`). Each side's prices are also kept in order (`yes_prices`, `no_prices`,
    lowest first), updated by the delta that adds or removes a level, and each level read out
    (`Level`), so a read-out sorts nothing and converts only the levels changed since the
    last, and the best bid is the last price. Not thread-safe on its own: `BookSet` holds
    the lock."""

    __slots__ = (
        "_built",
        "_no_at",
        "_no_changed",
        "_no_levels",
        "_yes_at",
        "_yes_changed",
        "_yes_levels",
        "fresh",
        "no_prices",
        "no_ticks",
        "ticker",
        "yes_prices",
        "yes_ticks",
    )

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.yes_ticks: dict[int, int] = {}
        self.no_ticks: dict[int, int] = {}
        # each side's prices in ticks, lowest first: the keys of `yes_ticks` / `no_ticks`
        self.yes_prices: list[int] = []
        self.no_prices: list[int] = []
        # each side's levels as last read out (`Level`: Decimal dollars and contracts) by price
        # in ticks, and the prices changed since, whose levels the next read-out reads anew
        self._yes_at: dict[int, Level] = {}
        self._no_at: dict[int, Level] = {}
        self._yes_changed: list[int] = []
        self._no_changed: list[int] = []
        self.fresh = False
        # each side best first, and the whole book, as `to_orderbook` last built them: dropped
        # by whatever changes them, so a book read several times between two changes (the
        # loop's pass, the strategy, the marks) is built once, and a change to one side sorts
        # that side alone
        self._yes_levels: tuple[Level, ...] | None = None
        self._no_levels: tuple[Level, ...] | None = None
        self._built: Orderbook | None = None

    @property
    def yes(self) -> dict[Decimal, Decimal]:
        """The YES bids, price -> size, in Decimal dollars and contracts."""
        return {ticks_price(p): hundredths_count(s) for p, s in self.yes_ticks.items()}

    @property
    def no(self) -> dict[Decimal, Decimal]:
        """The NO bids, price -> size, in Decimal dollars and contracts."""
        return {ticks_price(p): hundredths_count(s) for p, s in self.no_ticks.items()}

    def apply_snapshot(self, msg: BookSnapshot, *, yes_priced: bool = False) -> None:
        """Replace the book from an `orderbook_snapshot` msg; an absent side is an empty one.
        `yes_priced`: its NO levels come in YES-leg prices (`use_yes_price`), so a level at p is
        a NO bid at 1 - p. A book that would be crossed raises `CrossedBook`, nothing taken:
        no exchange holds one, so its NO levels are in the other convention."""
        yes = _levels(_side(msg.yes_dollars_fp, msg.yes, msg.yes_dollars))
        no = _levels(_side(msg.no_dollars_fp, msg.no, msg.no_dollars), flip=yes_priced)
        if yes and no and tick_bids_cross(max(yes), max(no)):
            raise CrossedBook(
                f"{self.ticker}: best YES bid {ticks_price(max(yes))} and NO bid "
                f"{ticks_price(max(no))} cross "
                f"(read in {'YES' if yes_priced else 'NO'}-leg prices)"
            )
        self._take(yes, no)
        self.fresh = True

    def _take(self, yes: dict[int, int], no: dict[int, int]) -> None:
        """Both sides replaced whole, their order and their levels read out with them."""
        self.yes_ticks, self.no_ticks = yes, no
        self.yes_prices, self.no_prices = sorted(yes), sorted(no)
        self._yes_at, self._yes_changed = {}, list(yes)
        self._no_at, self._no_changed = {}, list(no)
        self._yes_levels = self._no_levels = self._built = None

    def take_snapshot(self, msg: BookSnapshot, *, yes_priced: bool) -> bool:
        """`apply_snapshot` in the declared convention, else, when that reading crosses, in
        the other (an exchange that ignored the flag, or no longer knows it); returns the
        convention that applied, which the owner reads the subscription's messages in from
        then on. Raises as `apply_snapshot` does when neither reading makes a book."""
        try:
            self.apply_snapshot(msg, yes_priced=yes_priced)
        except CrossedBook:
            self.apply_snapshot(msg, yes_priced=not yes_priced)
            return not yes_priced
        return yes_priced

    def replace(self, book: Orderbook) -> bool:
        """Take a whole book (from REST, its levels checked by `decode_orderbook`); True when
        it differs from what was held."""
        yes, no = tick_side(book.yes_bids), tick_side(book.no_bids)
        changed = not self.fresh or yes != self.yes_ticks or no != self.no_ticks
        self._take(yes, no)
        self.fresh = True
        return changed

    def apply_delta(self, side: str, price: str, delta: str, yes_priced: bool = False) -> bool:
        """Apply one signed size change (`yes_priced`: a NO level's price is YES-leg, as in
        `apply_snapshot`). False means the delta cannot be right (unknown side, a price off
        (0, 1), a level driven below zero, not a number, a new level that crosses the other
        side, a size that is not a finite number, a price or size finer than a tick or a
        hundredth): the book is then stale and must be resnapshotted. A stale book ignores
        deltas and returns True. `yes_priced` may be passed by place: a call with a keyword
        costs a replay's every delta some 200 instructions more."""
        if not self.fresh:
            return True
        # each name bound on its own: four names bound from one tuple build it and take it
        # apart again
        yes = side == "yes"
        if yes:
            levels = self.yes_ticks
            prices = self.yes_prices
            changed = self._yes_changed
            other = self.no_prices
        elif side == "no":
            levels = self.no_ticks
            prices = self.no_prices
            changed = self._no_changed
            other = self.yes_prices
        else:
            self.fresh = False
            return False
        try:
            # the replay's innermost step: a text seen before is a known good price or size
            p = _PRICES.get(price)
            d = _SIZES.get(delta)
        except TypeError:  # an unhashable value (a list) is no number
            p = d = None
        if p is None or d is None:
            p, d = _price(price), _size(delta)
            if p is None or d is None:
                self.fresh = False
                return False
        if yes_priced and not yes:
            p = PRICE_TICKS - p
        held = levels.get(p)
        size = d if held is None else held + d
        if size > 0:
            if held is None:
                # a new level only can cross (a size change keeps a price both sides allowed)
                if other and tick_bids_cross(p, other[-1]):
                    self.fresh = False
                    return False
                insort(prices, p)
            levels[p] = size
        elif size == 0:
            if held is None:
                return True  # no level, and none made
            del levels[p]
            del prices[bisect_left(prices, p)]
        else:
            self.fresh = False
            return False
        changed.append(p)
        if yes:
            self._yes_levels = None
        else:
            self._no_levels = None
        self._built = None
        return True

    def to_orderbook(self) -> Orderbook:
        """The book, each side best first: built once for each change (`__init__`), in the
        order kept, only the levels changed since the last read-out read out anew."""
        built = self._built
        if built is None:
            yes = self._yes_levels
            if yes is None:
                yes = best_first_kept(
                    self.yes_ticks, self.yes_prices, self._yes_at, self._yes_changed
                )
                self._yes_levels = yes
            no = self._no_levels
            if no is None:
                no = best_first_kept(self.no_ticks, self.no_prices, self._no_at, self._no_changed)
                self._no_levels = no
            built = self._built = Orderbook(self.ticker, yes, no)
        return built


# The ticks or hundredths of a price or size text seen before (a feed repeats few distinct texts,
# and a parse costs more than a dict look-up: a replay applies millions of deltas). Keys are
# strings only, so any other value misses and is parsed (or refused) as before; prices are kept
# only once known inside (0, 1). Past _KEPT_MAX texts each, new ones are parsed every time.
_PRICES: dict[str, int] = {}
_SIZES: dict[str, int] = {}
_KEPT_MAX = 1 << 16


def sent_number(value: Any) -> Decimal:
    """A delta's price or size as the message wrote it: a JSON number with a fraction is read
    through its shortest text (`repr`), exact for up to 15 significant digits, never
    `Decimal(float)`'s binary error. Anything else (`true`, a list, null) is TypeError."""
    kind = type(value)
    if kind is str or kind is int:  # not bool, an int subclass: `true` is not 1 contract
        return Decimal(value)
    if kind is float:
        return Decimal(repr(value))
    raise TypeError(f"not a number: {value!r}")


def _price(text: Any) -> int | None:
    """A delta's price in ticks, None when it is no price of a level (not a number, off (0, 1),
    finer than a tick)."""
    try:
        ticks = price_ticks(sent_number(text))
    except (ArithmeticError, TypeError, ValueError):
        return None
    if not 0 < ticks < PRICE_TICKS:
        return None
    if type(text) is str and len(_PRICES) < _KEPT_MAX:
        _PRICES[text] = ticks
    return ticks


def _size(text: Any) -> int | None:
    """A delta's signed size in hundredths, None when it is none (not a finite number, finer
    than a hundredth)."""
    try:
        hundredths = count_hundredths(sent_number(text))
    except (ArithmeticError, TypeError, ValueError):
        return None
    if type(text) is str and len(_SIZES) < _KEPT_MAX:
        _SIZES[text] = hundredths
    return hundredths


def refusal_reason(purpose: str, code: object) -> str:
    """The reason of the `error` message of a command the exchange refused: what the command was
    for and the exchange's code (`get_snapshot: 18`). `kalshi record` writes it down, and a
    replay reads the command back from it (`refused_command`)."""
    return f"{purpose or 'server'}: {code}"


def refused_command(reason: object) -> str:
    """What the refused command was for, read from its `error` message's reason
    (`refusal_reason`); "" for any other reason. The refusal of a `get_snapshot` resubscribes
    the orderbook channel, live and in a replay of its recording."""
    if type(reason) is not str:
        return ""
    purpose, colon, _ = reason.partition(": ")
    return purpose if colon else ""


def orderbook_prices(yes_priced: bool) -> str:
    """The convention's name in recordings and the log: `yes_leg` or `no_leg`."""
    return "yes_leg" if yes_priced else "no_leg"


def convention_message(ticker: str | None, yes_priced: bool, source: str) -> FeedMessage:
    """The feed found the NO levels in the other convention than the one it asked for."""
    reason = f"orderbook NO levels arrive as {orderbook_prices(yes_priced)} prices; read so on"
    data = {"orderbook_prices": orderbook_prices(yes_priced)}
    return FeedMessage(MessageKind.ERROR, ticker, data=data, reason=reason, source=source)


def read_in_old_prices(books: Iterable[LocalBook], switched_by: LocalBook | None) -> list[str]:
    """The NO levels turned out to come in the other prices (`take_snapshot`): a book that did not
    cross may hold its NO bids mirrored, and the deltas after it would be read in the new prices.
    Each fresh book turns stale until its next snapshot; returns those."""
    turned: list[str] = []
    for book in books:
        if book is not switched_by and book.fresh:
            book.fresh = False
            turned.append(book.ticker)
    return turned


class CrossedBook(ValueError):
    """A snapshot whose best bids cross, read in the prices its subscription declared."""


def _side(levels: Any, *older: Any) -> Any:
    """One side's `_dollars_fp` levels. Absent, the side is empty, unless a field of before
    them holds levels (cents in `yes`, dollars in `yes_dollars`: a recording from then): that
    side is not known, and the book is refused rather than taken for one nobody bids in."""
    if levels is None and any(older):
        raise ValueError("levels only in fields from before `_dollars_fp` (cents or dollars)")
    return levels


def _levels(raw: Any, *, flip: bool = False) -> dict[int, int]:
    """One side's levels in ticks and hundredths; `flip`: NO levels given in YES-leg prices,
    each p kept as 1 - p. A price listed twice (0.40 and 0.4000) has no one size: the snapshot
    is refused, as is a level that is none (`level_ticks`)."""
    levels: dict[int, int] = {}
    seen: set[int] = set()
    for price, size in raw or ():
        try:
            p, s = level_ticks(price, size)
            if p in seen:
                raise ValueError("a price listed twice")
        except ValueError as exc:
            raise ValueError(f"bad snapshot level [{price!r}, {size!r}]: {exc}") from None
        seen.add(p)
        if s:
            levels[PRICE_TICKS - p if flip else p] = s
    return levels


# `SeqTracker.place`: a message's place on its subscription
NEXT, GAP, REPEAT = 0, 1, 2


class SeqTracker:
    """Expected next `seq` per subscription id, for every sequenced channel alike (`place`).
    The first message of a subscription sets the baseline; after a gap the received message
    becomes the new baseline, so one lost message reports one gap, not one per message that
    follows; a message numbered below the next one leaves it, so it reports none."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[int, int] = {}

    def place(self, sid: int, seq: int) -> int:
        """Where a message stands on `sid`: `NEXT` (or the first seen), `GAP` (some were lost;
        it is the new baseline) or `REPEAT` (numbered below the next one: the baseline stays).
        A book's repeat was applied already, or its loss was a gap whose snapshot, numbered
        after it, holds its change: the live feed and a replay skip it alike. A trade's or a
        lifecycle message's is no loss either (sent twice, or a lost one arriving late)."""
        expected = self._next.get(sid)
        if expected is None or seq == expected:
            self._next[sid] = seq + 1
            return NEXT
        if seq < expected:
            return REPEAT
        self._next[sid] = seq + 1
        return GAP

    def accept_if_next(self, sid: int, seq: int) -> None:
        """Advance only when `seq` is exactly the next one; anything else is left alone."""
        if self._next.get(sid) == seq:
            self._next[sid] = seq + 1

    def forget(self, sid: int) -> None:
        self._next.pop(sid, None)


class Subscriptions:
    """Which subscription of each channel is read: one at a time, the first granted. The
    exchange grants a second subscription of a channel, and every message of the channel then
    comes twice, under two sids: a book delta applied twice is a book the exchange does not
    hold. A second one granted while the channel holds one is not read, nor is an ended one
    (unsubscribed, or ended by the exchange) whose late messages still come. The live feed
    (`FeedSession`) and a replay of its recording (`BookReplay`) read by this one rule."""

    __slots__ = ("_channel_of", "sids", "unread")

    def __init__(self) -> None:
        self.sids: dict[str, int] = {}  # channel -> the subscription read
        self._channel_of: dict[int, str] = {}
        # the sids whose messages are dropped: a set, as the delta path checks it each time
        self.unread: set[int] = set()

    def granted(self, channel: str, sid: int) -> bool:
        """A `subscribed` answer: True when `sid` is now the channel's subscription (the first,
        or one granted again under the sid it holds, numbered anew); False for a second one,
        whose messages are not read."""
        held = self.sids.get(channel)
        if held is not None and held != sid:
            self.unread.add(sid)
            return False
        self.unread.discard(sid)
        self.sids[channel] = sid
        self._channel_of[sid] = channel
        return True

    def end(self, sid: int) -> str | None:
        """The subscription `sid` ended: its late messages are not read, and its channel, which
        it returns, is free for the next one granted. None for a sid never granted (data
        without its `subscribed` answers: nothing is known of it) or not read already."""
        channel = self._channel_of.pop(sid, None)
        if channel is None:
            return None
        self.unread.add(sid)
        del self.sids[channel]
        return channel

    def channel_of(self, sid: int) -> str | None:
        """The channel of a subscription read, else None."""
        return self._channel_of.get(sid)


class BookSet:
    """The books of one feed source for a set of markets, one lock, freshness transitions
    reported to `sink` (called with the lock released)."""

    def __init__(self, sink: MessageSink, *, source: str, yes_priced: bool = False) -> None:
        self._sink = sink
        self._source = source
        self._books: dict[str, LocalBook] = {}
        self.lock = threading.Lock()
        # the NO levels' prices its messages carry: YES-leg (`use_yes_price`) or NO-leg
        self.yes_priced = yes_priced

    def tickers(self) -> list[str]:
        with self.lock:
            return list(self._books)

    def add(self, tickers: Iterable[str]) -> None:
        with self.lock:
            for ticker in tickers:
                self._books.setdefault(ticker, LocalBook(ticker))

    def remove(self, tickers: Iterable[str]) -> None:
        with self.lock:
            for ticker in tickers:
                self._books.pop(ticker, None)

    def get(self, ticker: str) -> LocalBook | None:
        """The live book, for the owner's hot path; hold `lock` while touching it."""
        return self._books.get(ticker)

    def orderbook(self, ticker: str) -> Orderbook | None:
        with self.lock:
            book = self._books.get(ticker)
            return book.to_orderbook() if book is not None and book.fresh else None

    def is_fresh(self, ticker: str) -> bool:
        with self.lock:
            book = self._books.get(ticker)
            return book is not None and book.fresh

    def snapshot(self, ticker: str, msg: BookSnapshot) -> list[str]:
        """Take a market's snapshot; returns the other markets whose books it made stale (a
        switch of prices, `read_in_old_prices`), which the owner resnapshots."""
        turned: list[str] = []
        with self.lock:
            book = self._books.get(ticker)
            if book is None:
                return turned
            was_fresh = book.fresh
            declared = self.yes_priced
            try:
                self.yes_priced = book.take_snapshot(msg, yes_priced=declared)
            except (ValueError, InvalidOperation, TypeError):
                book.fresh = False
            now_fresh = book.fresh
            if self.yes_priced != declared:
                turned = read_in_old_prices(self._books.values(), book)
        if self.yes_priced != declared:
            self._sink(convention_message(ticker, self.yes_priced, self._source))
            for other in turned:
                self._sink(
                    FeedMessage(
                        MessageKind.STALE, other, reason="orderbook_prices", source=self._source
                    )
                )
        if not now_fresh:
            if was_fresh:
                self._sink(
                    FeedMessage(
                        MessageKind.STALE, ticker, reason="bad_snapshot", source=self._source
                    )
                )
            return turned
        if not was_fresh:
            self._sink(FeedMessage(MessageKind.FRESH, ticker, source=self._source))
        self._sink(FeedMessage(MessageKind.BOOK, ticker, source=self._source))
        return turned

    def replace(self, ticker: str, orderbook: Orderbook) -> None:
        with self.lock:
            book = self._books.get(ticker)
            if book is None:
                return
            was_fresh = book.fresh
            changed = book.replace(orderbook)
        if not was_fresh:
            self._sink(FeedMessage(MessageKind.FRESH, ticker, source=self._source))
        if changed:
            self._sink(FeedMessage(MessageKind.BOOK, ticker, source=self._source))

    def mark_stale(self, tickers: Iterable[str] | None, reason: str) -> list[str]:
        """Mark the given markets (all when None) stale; returns those that were fresh."""
        turned: list[str] = []
        with self.lock:
            books = (
                list(self._books.values())
                if tickers is None
                else [b for t in tickers if (b := self._books.get(t)) is not None]
            )
            for book in books:
                if book.fresh:
                    book.fresh = False
                    turned.append(book.ticker)
        for ticker in turned:
            self._sink(FeedMessage(MessageKind.STALE, ticker, reason=reason, source=self._source))
        return turned
