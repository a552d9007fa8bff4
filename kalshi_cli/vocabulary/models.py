"""Money, counts, directions and the shapes the exchange sends, shared by every layer. Prices and
counts are parsed to `Decimal` at the boundary and written back as strings, so no float ever
holds a price, a count, a balance or a P&L; `to_book()` and `from_book()` are the only place the
trader's "buy NO at 0.40" is mapped to the book's "ask at 0.60"; answers are decoded straight
from their bytes into frozen `Answer` Structs, and a field a safety decision rests on has no
default. See docs/library.md "Errors and answers" and docs/orders.md "The trader's words and
the book's".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from functools import cache, cached_property, partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self, TypeGuard, TypeVar, get_args

import msgspec
from msgspec import field

from kalshi_cli.vocabulary.units import (
    CENT,
    ONE,
    PRICE_TICKS,
    ZERO,
    Action,
    BookSide,
    Side,
    book_side_of,
    cents_to_dollars,
    count_hundredths,
    fmt_dollars,
    hundredths_count,
    parse_decimal,
    price_ticks,
    side_held,
    ticks_price,
)

# --------------------------------------------------------------------------------------------
# Market lifecycle

# `market_lifecycle_v2` event types by what they do to trading (asyncapi.yaml). `deactivated` is
# a pause, which `activated` ends, and the simulator also sends it when a market closes.
LIFECYCLE_STOPS = frozenset({"deactivated", "closed"})  # no trading from now
LIFECYCLE_RESUMES = "activated"  # a pause ended: trading again
LIFECYCLE_RESULT = frozenset({"determined", "settled"})  # the result is known: no trading ever

# A market's REST `status` (openapi.yaml `Market.status`) as the lifecycle event that leads to
# it: what a reader that lost the message (a lifecycle gap) applies in its place. `initialized`
# and `inactive` trade no more than a paused market; `disputed` and `amended` follow a result.
_LIFECYCLE_OF_STATUS = {
    "initialized": "deactivated",
    "inactive": "deactivated",
    "active": LIFECYCLE_RESUMES,
    "open": LIFECYCLE_RESUMES,  # the list filter's word for `active`
    "closed": "closed",
    "determined": "determined",
    "disputed": "determined",
    "amended": "determined",
    "finalized": "settled",
    "settled": "settled",  # the list filter's word for `finalized`
}


def lifecycle_of_status(status: str, result: str = "") -> str | None:
    """The `market_lifecycle_v2` event type a market's REST `status` and `result` stand for, or
    None for a status this code does not know (nothing is learned from it). A result named is
    a result known, whatever the status says."""
    if result and status not in ("finalized", "settled"):
        return "determined"
    return _LIFECYCLE_OF_STATUS.get(status)


# --------------------------------------------------------------------------------------------
# Decoding an answer


class Answer(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """Something the exchange sent, decoded (see the module docstring). `raw` is the item as
    sent: kept as the bytes of the answer it came in and decoded to a dict the first time it is
    read, so a listing nobody prints verbatim never builds those dicts (an Answer built in code
    has an empty one). It is no field: it is neither compared nor shown."""

    @cached_property
    def raw(self) -> dict[str, Any]:
        wire = self.__dict__.get(_WIRE)
        if wire is None:
            return {}
        decoded: dict[str, Any] = msgspec.json.decode(wire)
        return decoded

    def with_raw(self, raw: Mapping[str, Any]) -> Self:
        """A copy whose `raw` is `raw` (the backtest adds a market's terms to what it read)."""
        copy = msgspec.structs.replace(self)
        copy.__dict__["raw"] = dict(raw)
        return copy


_WIRE = "_wire"  # an Answer's bytes as sent, in its `__dict__` (no field: never decoded into)
S = TypeVar("S", bound=msgspec.Struct)


@cache
def _decoder(cls: type[Any]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(cls)


def decode_answer(cls: type[S], data: bytes | msgspec.Raw | Mapping[str, Any]) -> S:
    """`data` (the JSON bytes of one item, or the item already decoded, as a WebSocket message
    is) as `cls`, an `Answer` keeping it as `raw`. Raises `msgspec.ValidationError` (a
    ValueError) for an answer that lacks or garbles a field without a default."""
    if isinstance(data, Mapping):
        item = msgspec.convert(data, cls)
        if isinstance(item, Answer):
            item.__dict__["raw"] = data if isinstance(data, dict) else dict(data)
        return item
    item = _decoder(cls).decode(data)
    if isinstance(item, Answer):
        item.__dict__[_WIRE] = data
    return item


def _require_text(value: str, name: str) -> None:
    """Refuse an empty `value` of a field a safety decision rests on (an order's status):
    present but empty says no more than absent."""
    if not value:
        raise ValueError(f"`{name}` is empty")


def _require_finite(item: msgspec.Struct, *names: str) -> None:
    """Refuse money or a count (the Decimal fields `names` of `item`) that is no finite number,
    naming its wire field as the field declares it (no defaults in money: an `Infinity` passes
    every comparison a check makes)."""
    cls = type(item)
    for name in names:
        value: Decimal = getattr(item, name)
        if not value.is_finite():
            wire = cls.__struct_encode_fields__[cls.__struct_fields__.index(name)]
            raise ValueError(f"`{wire}` is not a finite number: {value}")


def _set(item: msgspec.Struct, name: str, value: Any) -> None:
    """Set a field of a frozen Struct in its `__post_init__` (a value derived from the wire)."""
    msgspec.structs.force_setattr(item, name, value)


def _book_side(side: str, action: str) -> BookSide:
    """An older order or fill without `book_side`: derived from its side and action, both
    sent (a ValueError for either missing: no direction is guessed)."""
    return book_side_of(Side(side), Action(action))


# --------------------------------------------------------------------------------------------
# Price grid


class PriceRange(msgspec.Struct, frozen=True):
    """A band of prices, from `start` to `end`, on which an order's price moves by `step`."""

    start: Decimal
    end: Decimal
    step: Decimal

    def to_api(self) -> dict[str, str]:
        return {
            "start": fmt_dollars(self.start),
            "end": fmt_dollars(self.end),
            "step": fmt_dollars(self.step),
        }


# The structures Kalshi documents; a market's own `price_ranges` always win when present.
PRICE_STRUCTURES: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": (PriceRange(Decimal("0.01"), Decimal("0.99"), Decimal("0.01")),),
    "deci_cent": (PriceRange(Decimal("0.001"), Decimal("0.999"), Decimal("0.001")),),
    "tapered_deci_cent": (
        PriceRange(Decimal("0.001"), Decimal("0.1"), Decimal("0.001")),
        PriceRange(Decimal("0.1"), Decimal("0.9"), Decimal("0.01")),
        PriceRange(Decimal("0.9"), Decimal("0.999"), Decimal("0.001")),
    ),
}


def price_on_grid(price: Decimal, ranges: tuple[PriceRange, ...] | list[PriceRange]) -> bool:
    """True when `price` is a valid tick: inside some range and a whole number of steps from
    its start. Range ends are inclusive (adjacent ranges share their boundary)."""
    return any(r.start <= price <= r.end and (price - r.start) % r.step == 0 for r in ranges)


def price_bounds(ranges: tuple[PriceRange, ...] | list[PriceRange]) -> tuple[Decimal, Decimal]:
    return min(r.start for r in ranges), max(r.end for r in ranges)


def min_tick(ranges: tuple[PriceRange, ...] | list[PriceRange]) -> Decimal:
    return min(r.step for r in ranges)


def fractional_flag(body: Mapping[str, Any]) -> bool | None:
    """What a market's body (a REST answer, a scenario's market) says of fractional trading:
    True or False, or None when it does not say. 3.31.0 dropped `fractional_trading_enabled`
    from the market; a data set's own counts say it instead (data/replay.py
    `fractional_market`)."""
    flag = body.get("fractional_trading_enabled")
    return flag if isinstance(flag, bool) else None


def whole_contracts(body: Mapping[str, Any]) -> bool | None:
    """True when a market's body says it trades whole contracts only, False when it says
    fractions are allowed, None when it does not say (`fractional_flag`)."""
    flag = fractional_flag(body)
    return None if flag is None else not flag


def price_ranges_of(data: Any) -> tuple[PriceRange, ...]:
    """A market's `price_ranges` as sent (a list of `{start, end, step}`), or () for none."""
    return msgspec.convert(data or (), tuple[PriceRange, ...])


# --------------------------------------------------------------------------------------------
# Markets


class Market(Answer, frozen=True, kw_only=True):
    """A market as the exchange lists it: prices and counts as Decimal, its price grid (the
    market's own `price_ranges`, else the documented ones of its `price_level_structure`)."""

    ticker: str = ""
    event_ticker: str = ""
    status: str = ""
    title: str = ""  # the market's `yes_sub_title` when it has no title
    yes_sub_title: str = ""
    yes_bid: Decimal = field(default=ZERO, name="yes_bid_dollars")
    yes_ask: Decimal = field(default=ZERO, name="yes_ask_dollars")
    no_bid: Decimal = field(default=ZERO, name="no_bid_dollars")
    no_ask: Decimal = field(default=ZERO, name="no_ask_dollars")
    last_price: Decimal = field(default=ZERO, name="last_price_dollars")
    volume: Decimal = field(default=ZERO, name="volume_fp")
    volume_24h: Decimal = field(default=ZERO, name="volume_24h_fp")
    open_interest: Decimal = field(default=ZERO, name="open_interest_fp")
    open_time: str = ""
    close_time: str = ""
    latest_expiration_time: str = ""
    result: str = ""
    price_level_structure: str = "linear_cent"
    price_ranges: tuple[PriceRange, ...] = ()
    rules_primary: str = ""
    rules_secondary: str = ""
    # 3.31.0: "default" (YES settles at $1.00 or $0.00) or "floor" (YES settles at
    # `settlement_floor` or above, so a NO result still pays YES the floor and NO the rest)
    settlement_bounds_type: str = "default"
    settlement_floor: Decimal | None = field(default=None, name="settlement_floor_dollars")
    # the exchange shard (matching engine) the market lives on; None: the answer did not say
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        if not self.title:
            _set(self, "title", self.yes_sub_title)
        if not self.price_ranges:
            grid = PRICE_STRUCTURES.get(self.price_level_structure, PRICE_STRUCTURES["linear_cent"])
            _set(self, "price_ranges", grid)
        if not self.settlement_bounds_type:
            _set(self, "settlement_bounds_type", "default")

    @property
    def whole_contracts(self) -> bool | None:
        return whole_contracts(self.raw)

    @property
    def is_open(self) -> bool:
        # the list filter says `open`; the object says `active`
        return self.status in ("active", "open")


def quoted(price: Decimal) -> Decimal | None:
    """A market listing's best bid or ask (`Market.yes_bid`, `.yes_ask`, ...), or None when
    that side of its book has no order. The exchange answers an empty side with a price no
    order can have, a bid of 0.0000 and an ask of 1.0000 (the fields are required; the
    simulator's quote answers so), and a field left out decodes to 0: a level is always
    priced inside (0, 1) (`level_problem`)."""
    return price if ZERO < price < ONE else None


class Level(NamedTuple):
    """One price level of a book side: its price and the contracts bid there (`size`). A
    tuple, so `price, size = level` and `level[0]` read it as before the fields had names; the
    wire's `["0.5600", "10.00"]` decodes to one."""

    price: Decimal
    size: Decimal


class Orderbook(msgspec.Struct, frozen=True):
    """Bids only, as Kalshi sends them. A YES bid at p is a NO ask at 1 - p.

    Levels given as bare (price, size) pairs are named; `decode_orderbook` keeps them sorted
    best first (highest price first) whatever order the wire used.
    """

    ticker: str
    yes_bids: tuple[Level, ...]
    no_bids: tuple[Level, ...]

    if TYPE_CHECKING:
        # levels may be given as bare (price, size) pairs; `__post_init__` names them
        def __init__(
            self,
            ticker: str,
            yes_bids: tuple[tuple[Decimal, Decimal], ...],
            no_bids: tuple[tuple[Decimal, Decimal], ...],
        ) -> None: ...

    def __post_init__(self) -> None:
        # the feed, the venue and `decode_orderbook` build `Level`s already, so this costs them
        # one type check per side (a replay builds a book per change it decides on)
        yes, no = self.yes_bids, self.no_bids
        if yes and type(yes[0]) is not Level:
            _set(self, "yes_bids", tuple(Level(*lv) for lv in yes))
        if no and type(no[0]) is not Level:
            _set(self, "no_bids", tuple(Level(*lv) for lv in no))

    @classmethod
    def of(cls, ticker: str, yes: Mapping[int, int], no: Mapping[int, int]) -> Orderbook:
        """The book of two sides held in integers, price ticks -> size hundredths (a local
        book's, the venue's: units "Integer money"), each side best first."""
        return cls(ticker, best_first_levels(yes), best_first_levels(no))

    @property
    def best_yes_bid(self) -> Level | None:
        return self.yes_bids[0] if self.yes_bids else None

    @property
    def best_no_bid(self) -> Level | None:
        return self.no_bids[0] if self.no_bids else None

    @property
    def yes_ask(self) -> Level | None:
        """The implied YES ask: 1 - best NO bid, with that bid's size."""
        no = self.no_bids
        return implied_ask(no[0]) if no else None

    @property
    def no_ask(self) -> Level | None:
        yes = self.yes_bids
        return implied_ask(yes[0]) if yes else None

    @property
    def spread(self) -> Decimal | None:
        bid, ask = self.best_yes_bid, self.yes_ask
        return ask[0] - bid[0] if bid and ask else None

    @property
    def mid(self) -> Decimal | None:
        bid, ask = self.best_yes_bid, self.yes_ask
        return (bid[0] + ask[0]) / 2 if bid and ask else None


# a (price, size) pair as a `Level` without a Python call (`Level._make` is one): the feed's
# and the venue's books are read this way once per change, a strategy its asks once per call
_level = partial(tuple.__new__, Level)
_price_of = itemgetter(0)


def same_top(book: Orderbook, before: Orderbook) -> bool:
    """Each side's best bid, price and size, as `before`'s: all of a book a strategy that
    `reads_top` reads (strategy_api/strategy.py)."""
    yes, no, was_yes, was_no = book.yes_bids, book.no_bids, before.yes_bids, before.no_bids
    # a feed builds each level once (`best_first_levels`): most compare by identity
    if yes and was_yes:
        if yes[0] != was_yes[0]:
            return False
    elif yes or was_yes:
        return False
    if no and was_no:
        return no[0] == was_no[0]
    return not no and not was_no


def tick_side(levels: Iterable[tuple[Decimal, Decimal]]) -> dict[int, int]:
    """A side's levels held in integers, price ticks -> size hundredths (`best_first_levels`
    back); ValueError for one that is no level (`level_ticks`)."""
    return dict(level_ticks(price, size) for price, size in levels)


def best_first_levels(side: Mapping[int, int]) -> tuple[Level, ...]:
    """A side held in integers (price ticks -> size hundredths), its levels best (highest
    price) first, in Decimal dollars and contracts. Each level is the one built before for the
    same (ticks, hundredths) when there was one (`_LEVELS_OUT`): a book is read out once per
    change, and a change moves one level, so most of a side's levels were built already."""
    # by price alone (one level a price): an int compare, not a tuple's
    held = sorted(side.items(), key=_price_of, reverse=True)
    levels = tuple(map(_LEVELS_OUT.get, held))
    if None in levels:  # a level not read out before
        return tuple([_LEVELS_OUT.get(lv) or _level_out(lv) for lv in held])
    return levels  # type: ignore[return-value]  # no None in it


# the `Level` of each (price ticks, size hundredths) read out so far (`best_first_levels`); a
# Level is an immutable tuple of immutable Decimals, so one is shared by every book that holds it.
# Bounded for a book of endless sizes: past _LEVELS_KEPT, a new one is built every time
_LEVELS_OUT: dict[tuple[int, int], Level] = {}
_LEVELS_KEPT = 1 << 16


def best_first_kept(
    side: Mapping[int, int], prices: Sequence[int], read: dict[int, Level], changed: list[int]
) -> tuple[Level, ...]:
    """`best_first_levels` of a side whose holder keeps its prices in order (`prices`, lowest
    first) and its levels as last read out, best first (`read`: price -> `Level`): only the
    levels at the prices `changed` since are read anew (and `changed` emptied), each in its
    place, and the read-out is `read`'s levels as they stand. Nothing is sorted: a new price
    goes last, in order when it is the side's lowest, and otherwise `read` is put in order
    again from `prices`."""
    get = _LEVELS_OUT.get
    in_order = True
    for p in changed:
        size = side.get(p)
        if size is None:
            read.pop(p, None)
            continue
        if in_order and p not in read and p != prices[0]:
            in_order = False
        read[p] = get((p, size)) or _level_out((p, size))
    changed.clear()
    if not in_order:
        for p in reversed(prices):  # each taken out and put back last: best first again
            read[p] = read.pop(p)
    return tuple(read.values())


def _level_out(held: tuple[int, int]) -> Level:
    level = _level((ticks_price(held[0]), hundredths_count(held[1])))
    if len(_LEVELS_OUT) < _LEVELS_KEPT:
        _LEVELS_OUT[held] = level
        _ASKS[id(level)] = (level, _ask_of(level))
    return level


def implied_ask(bid: tuple[Decimal, Decimal]) -> Level:
    """The ask a bid implies on the other side of the book: 1 - its price, with its size. A
    level shared by the books read out (`_LEVELS_OUT`) has its ask worked out once, as it is
    read out first (`_ASKS`): a strategy reads the asks of each book it is handed, and most of
    a book's best bids are levels read out before."""
    kept = _ASKS.get(id(bid))
    if kept is not None and kept[0] is bid:
        return kept[1]
    return _ask_of(bid)


def _ask_of(bid: tuple[Decimal, Decimal]) -> Level:
    return _level((ONE - bid[0], bid[1]))


# id of a level kept in `_LEVELS_OUT` -> (that level, its implied ask). The level is held beside
# its ask, so its id names no other object while the entry lives (`implied_ask` checks it is
# the same object); as bounded as `_LEVELS_OUT`, which fills it
_ASKS: dict[int, tuple[Level, Level]] = {}


class _BookSides(msgspec.Struct, frozen=True):
    # a side with no bids may be sent empty or null
    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None


class _BookAnswer(_BookSides, frozen=True):
    """`GET /markets/{ticker}/orderbook`'s `{"orderbook_fp": {...}}`, an item of
    `GET /markets/orderbooks` (which adds `ticker`), or the sides alone."""

    ticker: str = ""
    orderbook_fp: _BookSides | None = None


def _best_first(levels: list[Level] | None) -> tuple[Level, ...]:
    """A side's levels best first, without the levels of no contracts: a level listed with
    none bids nothing (a WebSocket snapshot's is left out too, feed/book.py), and kept it
    would be the best bid a position is marked by."""
    return tuple(sorted((lv for lv in levels or () if lv[1]), key=lambda lv: lv[0], reverse=True))


def decode_orderbook(ticker: str, data: bytes | msgspec.Raw | Mapping[str, Any]) -> Orderbook:
    """An order book answer (see `_BookAnswer`) as the `Orderbook` of `ticker`."""
    if isinstance(data, Mapping):
        answer = msgspec.convert(data, _BookAnswer)
    else:
        answer = _decoder(_BookAnswer).decode(data)
    return _orderbook(ticker, answer)


class _BookList(msgspec.Struct, frozen=True):
    orderbooks: list[_BookAnswer]


def decode_orderbooks(data: bytes) -> dict[str, Orderbook]:
    """`GET /markets/orderbooks`' answer: ticker -> its `Orderbook`."""
    return {b.ticker: _orderbook(b.ticker, b) for b in _decoder(_BookList).decode(data).orderbooks}


def _orderbook(ticker: str, answer: _BookAnswer) -> Orderbook:
    sides: _BookSides = answer.orderbook_fp or answer
    for side in (sides.yes_dollars, sides.no_dollars):
        # a price listed twice (0.40 and 0.4000) has no one size, as a WebSocket snapshot's
        seen: set[Decimal] = set()
        for price, size in side or ():
            problem = level_problem(price, size) or (
                "a price listed twice" if price in seen else None
            )
            if problem is not None:
                raise msgspec.ValidationError(
                    f"{ticker}: bad orderbook level [{price}, {size}]: {problem}"
                )
            seen.add(price)
    book = Orderbook(ticker, _best_first(sides.yes_dollars), _best_first(sides.no_dollars))
    yes, no = book.best_yes_bid, book.best_no_bid
    if yes is not None and no is not None and bids_cross(yes.price, no.price):
        raise msgspec.ValidationError(
            f"{ticker}: best YES bid {yes.price} and NO bid {no.price} cross: no exchange holds "
            "bids that together pay $1 or more"
        )
    return book


def bids_cross(yes_bid: Decimal, no_bid: Decimal) -> bool:
    """True when a YES bid and a NO bid cannot both rest: together they pay $1 or more (a NO
    bid at q is a YES ask at 1 - q), so the exchange would have matched them. A locked book
    (exactly $1) matches too, as the simulator's does (sim/core/book.py). The one rule a book
    from the exchange is checked by: a REST book (`decode_orderbook`), and in ticks
    (`tick_bids_cross`) a WebSocket snapshot and a delta's new level (feed/book.py)."""
    return yes_bid + no_bid >= ONE


def tick_bids_cross(yes_bid: int, no_bid: int) -> bool:
    """`bids_cross` of two bids held in ticks (units "Integer money")."""
    return yes_bid + no_bid >= PRICE_TICKS


def level_problem(price: Decimal, size: Decimal) -> str | None:
    """Why (price, size) is no level of a book (a REST book's, a WebSocket snapshot's), or
    None (`level_ticks`)."""
    try:
        level_ticks(price, size)
    except ValueError as exc:
        return str(exc)
    return None


def level_ticks(price: Decimal, size: Decimal) -> tuple[int, int]:
    """A book level in integers (price ticks, size hundredths: units "Integer money"), or
    ValueError saying why it is no level. No defaults in money: an endless or undefined size,
    or a price off (0, 1), is never kept (a venue would fill against it, a mark would price a
    position by it); nor is a price or size finer than any market quotes or counts."""
    if not (price.is_finite() and size.is_finite()):
        raise ValueError("not a finite number")
    if not ZERO < price < ONE:
        raise ValueError("a price outside (0, 1)")
    if size < ZERO:
        raise ValueError("a negative size")
    try:
        return price_ticks(price), count_hundredths(size)
    except ValueError:
        raise ValueError("a price finer than $0.0001 or a size finer than 0.01 contract") from None


# --------------------------------------------------------------------------------------------
# The portfolio


class Order(Answer, frozen=True, kw_only=True):
    """An order as the exchange shows it. `status`, `fill_count` and `remaining_count` are what
    reconciliation and the kill switch's proof decide on, and the price and the direction
    what the exposure rule prices it by: never a default (module docstring). The direction is
    `book_side`, else `outcome_side` (the same bit: `yes` is a bid), else the older `side` and
    `action` together; an order naming none of them does not decode (read as a YES bid, an
    ask counted the other way), nor does one without `yes_price_dollars` (read as $0)."""

    order_id: str = ""
    client_order_id: str = ""
    ticker: str = ""
    # absent in the older shape: derived in `__post_init__`
    book_side: BookSide = None  # type: ignore[assignment]
    outcome_side: Side | None = None
    side: str = ""
    action: str = ""
    status: str
    yes_price: Decimal = field(name="yes_price_dollars")
    fill_count: Decimal = field(name="fill_count_fp")
    remaining_count: Decimal = field(name="remaining_count_fp")
    initial_count: Decimal = field(default=ZERO, name="initial_count_fp")
    taker_fees: Decimal = field(default=ZERO, name="taker_fees_dollars")
    maker_fees: Decimal = field(default=ZERO, name="maker_fees_dollars")
    taker_fill_cost: Decimal = field(default=ZERO, name="taker_fill_cost_dollars")
    maker_fill_cost: Decimal = field(default=ZERO, name="maker_fill_cost_dollars")
    created_time: str | None = None
    expiration_time: str | None = None
    subaccount: int | None = field(default=None, name="subaccount_number")  # a cancel names it
    # not in the spec's Order; read when an answer carries it (an order reconcile imports)
    time_in_force: str = "good_till_canceled"

    def __post_init__(self) -> None:
        _require_text(self.status, "status")
        if self.book_side is None:  # absent on the wire (the annotation holds once set here)
            if self.outcome_side is not None:  # type: ignore[unreachable]
                bid = self.outcome_side is Side.YES
                _set(self, "book_side", BookSide.BID if bid else BookSide.ASK)
            elif self.side and self.action:
                _set(self, "book_side", _book_side(self.side, self.action))
            else:
                raise ValueError("an order without `book_side`, `outcome_side` or `side`+`action`")
        if not (self.yes_price.is_finite() and ZERO <= self.yes_price <= ONE):
            raise ValueError(f"`yes_price_dollars` {self.yes_price} is not a price")
        for count, name in (
            (self.fill_count, "fill_count_fp"),
            (self.remaining_count, "remaining_count_fp"),
        ):
            if not (count.is_finite() and count >= ZERO):
                raise ValueError(f"`{name}` {count} is not a count")

    @property
    def fees(self) -> Decimal:
        return self.taker_fees + self.maker_fees


class Fill(Answer, frozen=True, kw_only=True):
    """One fill. The spec's `ticker` and `market_ticker` are the same market; a fill without
    `fill_id` is named by its `trade_id`. No defaults in money: a fill lacking its contracts,
    price, fee, direction, order or market does not decode, and the listings quarantine it
    (`client.fill_quarantine.FillQuarantine`)."""

    fill_id: str = ""
    trade_id: str = ""
    order_id: str = ""
    ticker: str = ""
    market_ticker: str = ""
    book_side: BookSide = None  # type: ignore[assignment]  # see Order
    side: str = ""
    action: str = ""
    count: Decimal = field(name="count_fp")
    yes_price: Decimal = field(name="yes_price_dollars")
    is_taker: bool = False
    fee: Decimal = field(name="fee_cost")
    created_time: str = ""
    ts: int | None = None
    # as sent (any JSON value: a fill is never refused for it); `subaccount` reads it
    subaccount_number: Any = None

    def __post_init__(self) -> None:
        if self.book_side is None:  # absent on the wire (the annotation holds once set here)
            if not (self.side and self.action):  # type: ignore[unreachable]
                raise ValueError("a fill without `book_side` (nor `side` and `action`)")
            _set(self, "book_side", _book_side(self.side, self.action))
        if self.market_ticker:
            _set(self, "ticker", self.market_ticker)
        if not self.fill_id:
            _set(self, "fill_id", self.trade_id)
        for value, name in ((self.fill_id, "fill_id"), (self.ticker, "ticker")):
            _require_text(value, name)
        _require_text(self.order_id, "order_id")
        finite = self.count.is_finite() and self.yes_price.is_finite() and self.fee.is_finite()
        # a fee is charged, never paid out: a negative one is as good as missing
        if not (finite and self.count > 0 and ZERO <= self.yes_price <= ONE and self.fee >= 0):
            raise ValueError(
                f"a fill of {self.count} contracts at {self.yes_price} with fee {self.fee}"
            )

    @property
    def subaccount(self) -> int | None:
        """The subaccount the fill names, None when it names none (absent, null, or anything
        but an integer: a boolean is no subaccount number)."""
        number = self.subaccount_number
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    @property
    def signed_count(self) -> Decimal:
        """Change in the netted position: + for YES bought (bid), - for YES sold (ask)."""
        return self.count if self.book_side is BookSide.BID else -self.count


class QuarantinedFill(msgspec.Struct, frozen=True):
    """A listed fill that lacks a field the spec requires: kept as sent, with why, never
    applied. `key` names it across reads (its fill id, else its trade id, else its text)."""

    key: str
    ticker: str | None
    order_id: str | None
    reason: str
    raw: Mapping[str, Any]

    @classmethod
    def of(cls, raw: Mapping[str, Any], reason: str) -> QuarantinedFill:
        def text(name: str) -> str | None:
            value = raw.get(name)
            return value if isinstance(value, str) and value else None

        key = text("fill_id") or text("trade_id") or json.dumps(raw, sort_keys=True, default=str)
        ticker = text("market_ticker") or text("ticker")
        return cls(key, ticker, text("order_id"), reason, dict(raw))


class EventPosition(Answer, frozen=True, kw_only=True):
    """An event's line of `/portfolio/positions` (`event_positions`): what the exchange holds
    against the event's positions (`event_exposure_dollars`, less under collateral return)."""

    event_ticker: str = ""
    exposure: Decimal = field(name="event_exposure_dollars")


class Position(Answer, frozen=True, kw_only=True):
    """A market position as the exchange lists it. No defaults in money: the size and the
    dollar figures the spec requires have none (read as $0, a position's exposure passed
    `kalshi check exposure` and its P&L and fees showed as differences), so a position lacking
    one does not decode and the read of the positions fails."""

    ticker: str = ""
    position: Decimal = field(name="position_fp")  # positive YES, negative NO
    exposure: Decimal = field(name="market_exposure_dollars")
    realized_pnl: Decimal = field(name="realized_pnl_dollars")
    fees_paid: Decimal = field(name="fees_paid_dollars")
    total_traded: Decimal = field(name="total_traded_dollars")
    # the shard the market lives on (required in 3.31.0; None from an exchange before shards)
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        _require_finite(self, "position", "exposure", "realized_pnl", "fees_paid", "total_traded")

    @property
    def side(self) -> Side | None:
        return side_held(self.position)


# what a market is determined with (openapi `Settlement.market_result`): a `scalar` result pays
# YES its value, from $0 to $1, and NO the rest; any other (void) pays no side: the cost comes back
MarketResult = Literal["yes", "no", "scalar"]


def is_market_result(value: str) -> TypeGuard[MarketResult]:
    return value in get_args(MarketResult)


class Settlement(Answer, frozen=True, kw_only=True):
    """A market's settlement of the account's contracts. No defaults in money: the counts,
    costs, revenue and fee the spec requires have none, nor has the time, which puts its
    realized P&L in a day (the day the circuit breaker sums). Read as zeros, a win was booked
    as the loss of its cost; without its time, it was dated 1970. An answer lacking one does
    not decode, so the read of the settlements fails."""

    ticker: str
    event_ticker: str = ""
    market_result: str = ""
    yes_count: Decimal = field(name="yes_count_fp")
    yes_total_cost: Decimal = field(name="yes_total_cost_dollars")
    no_count: Decimal = field(name="no_count_fp")
    no_total_cost: Decimal = field(name="no_total_cost_dollars")
    revenue_cents: int = field(name="revenue")  # the wire sends integer cents
    fee: Decimal = field(name="fee_cost")
    settled_time: str

    def __post_init__(self) -> None:
        _require_text(self.ticker, "ticker")
        _require_text(self.settled_time, "settled_time")
        _require_finite(self, "yes_count", "yes_total_cost", "no_count", "no_total_cost", "fee")

    @property
    def revenue(self) -> Decimal:
        """In dollars."""
        return cents_to_dollars(self.revenue_cents)


class ShardBalance(msgspec.Struct, frozen=True):
    """One shard's line of a balance's `balance_breakdown` (`IndexedBalance`): the money on that
    shard's matching engine, which is all an order there can use."""

    exchange_index: int
    balance: Decimal  # dollars

    def __post_init__(self) -> None:
        if not self.balance.is_finite():
            raise ValueError(f"shard {self.exchange_index}'s balance is not a finite number")


class Balance(Answer, frozen=True, kw_only=True):
    """`balance` in dollars from `balance_dollars` (4 decimals: fees are charged to $0.0001, so
    the balance has sub-cent digits); the integer-cent `balance` truncates them and is used
    only when `balance_dollars` is missing (before spec 3.29). An answer with neither is
    refused, and so is one whose `balance_dollars` is not a finite number (no defaults in
    money): an `Infinity` let any buy past the local balance check."""

    balance_cents: int | None = field(default=None, name="balance")
    balance_dollars: Decimal | None = None
    # required by the spec, yet only shown: absent, it is unknown (None), never $0
    portfolio_value_cents: int | None = field(default=None, name="portfolio_value")
    updated_ts: int = 0
    # per shard, by `exchange_index`; None: the answer gave none (a key restricted to a
    # subaccount, an exchange before shards): the split is unknown, never "all on shard 0"
    breakdown: tuple[ShardBalance, ...] | None = field(default=None, name="balance_breakdown")

    def __post_init__(self) -> None:
        if self.balance_cents is None and self.balance_dollars is None:
            raise ValueError("no `balance_dollars` and no `balance`")
        if self.balance_dollars is not None:
            _require_finite(self, "balance_dollars")
        if self.breakdown is not None:
            _set(self, "breakdown", tuple(sorted(self.breakdown, key=lambda b: b.exchange_index)))

    def on_shard(self, exchange_index: int) -> Decimal | None:
        """The money on one shard: $0 for a shard the breakdown does not list, None when the
        answer has no breakdown."""
        if self.breakdown is None:
            return None
        found = (b.balance for b in self.breakdown if b.exchange_index == exchange_index)
        return next(found, ZERO)

    @property
    def balance(self) -> Decimal:
        if self.balance_dollars is not None:
            return self.balance_dollars
        return cents_to_dollars(self.balance_cents or 0)

    def shards(self) -> dict[int, Decimal] | None:
        """Each shard's balance by its `exchange_index` (None: the answer gave none)."""
        if self.breakdown is None:
            return None
        return {part.exchange_index: part.balance for part in self.breakdown}

    @property
    def portfolio_value(self) -> Decimal | None:
        """In dollars; None when the answer left it out."""
        cents = self.portfolio_value_cents
        return None if cents is None else cents_to_dollars(cents)


class Trade(Answer, frozen=True, kw_only=True):
    trade_id: str = ""
    ticker: str = ""
    count: Decimal = field(default=ZERO, name="count_fp")
    yes_price: Decimal = field(default=ZERO, name="yes_price_dollars")
    taker_book_side: str = ""
    created_time: str = ""


class ShardStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One shard's status (`ExchangeIndexStatus`): each matching engine opens, pauses and takes
    transfers on its own."""

    exchange_index: int
    description: str = ""
    exchange_active: bool
    trading_active: bool
    intra_exchange_transfers_active: bool

    @property
    def trades(self) -> bool:
        """Whether an order there may trade now: the shard takes state changes (not under
        maintenance, `exchange_active`) and permits trading (`trading_active`). The one rule of
        a paused shard, for the checks, the commands and the trade loop."""
        return self.exchange_active and self.trading_active


class ExchangeStatus(Answer, frozen=True, kw_only=True):
    """`GET /exchange/status`. The top-level fields are shard 0's (the spec); `shards` lists
    each shard's own when the exchange gives them (`exchange_index_statuses`)."""

    exchange_active: bool = False
    trading_active: bool = False
    intra_exchange_transfers_active: bool | None = None
    shards: tuple[ShardStatus, ...] = field(default=(), name="exchange_index_statuses")

    def __post_init__(self) -> None:
        _set(self, "shards", tuple(sorted(self.shards, key=lambda s: s.exchange_index)))

    def per_shard(self) -> tuple[ShardStatus, ...]:
        """Each shard's status; without the per-shard list, shard 0's from the top-level
        fields (what the spec says they are), transfers unknown read as not active."""
        if self.shards:
            return self.shards
        top = ShardStatus(
            exchange_index=0,
            exchange_active=self.exchange_active,
            trading_active=self.trading_active,
            intra_exchange_transfers_active=bool(self.intra_exchange_transfers_active),
        )
        return (top,)

    def shard(self, exchange_index: int) -> ShardStatus | None:
        return next((s for s in self.per_shard() if s.exchange_index == exchange_index), None)


# --------------------------------------------------------------------------------------------
# Fees
# The one fee model: the simulator charges it, the strategies' edge and the backtest venue use it.
# Kalshi's trade fee per fill is rate x C x P x (1 - P) rounded *up to $0.0001* (REFERENCE.md
# "Observed on the real wire"). The rate depends on the series' `fee_type` (taker 0.07; makers
# 0.0175 with maker fees, 0.035 with combo maker fees), times `fee_multiplier`; an event may
# override both, and a market's future `fee_waiver_expiration_time` means no fee.


FEE_QUANTUM = Decimal("0.0001")
TAKER_FEE_RATE = Decimal("0.07")
MAKER_FEE_RATE = Decimal("0.0175")  # quadratic_with_maker_fees: 0.25 x the taker rate
COMBO_MAKER_FEE_RATE = Decimal("0.035")  # quadratic_with_combo_maker_fees: 0.5 x


class FeeType(StrEnum):
    """The spec's `FeeType` (openapi 3.31.0), in its order."""

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"


# (taker, maker) rates at multiplier 1. `flat` ("the Specific Trading Fees Table") is absent on
# purpose: neither the spec nor the reference gives its rates, so it is refused, not guessed.
_FEE_RATES = {
    FeeType.QUADRATIC: (TAKER_FEE_RATE, ZERO),
    FeeType.QUADRATIC_WITH_MAKER_FEES: (TAKER_FEE_RATE, MAKER_FEE_RATE),
    FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: (TAKER_FEE_RATE, COMBO_MAKER_FEE_RATE),
}


class FeeModelError(ValueError):
    """A fee structure this model cannot price (an unknown or unmodelled `fee_type`, a bad
    multiplier): refusing is safer than trading on a guessed fee."""


def ceil_to_fee_quantum(value: Decimal) -> Decimal:
    return value.quantize(FEE_QUANTUM, rounding=ROUND_CEILING)


def trading_fee(count: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """Kalshi's trade fee of one fill: rate x count x P x (1 - P) rounded up to $0.0001.

    `price` is the price paid for the side traded (P and 1 - P give the same fee); `rate` the
    market's (`FeeModel.rates`), never assumed.
    """
    if count <= 0 or rate <= 0:
        return ZERO
    return ceil_to_fee_quantum(rate * count * price * (ONE - price))


def _fee_number(value: Any, what: str) -> Decimal:
    """`fee_multiplier` is a JSON number in the spec; read it through its shortest text. A
    missing one is refused by name: no multiplier is assumed."""
    if value is None:
        raise FeeModelError(f"no {what}")
    if isinstance(value, float):
        value = repr(value)  # the wire sends a JSON number; its text is exact enough
    try:
        number = parse_decimal(value, what=what)
    except (TypeError, ValueError) as exc:
        raise FeeModelError(f"{what}: {exc}") from exc
    if number < 0:
        raise FeeModelError(f"{what} must not be negative, got {number}")
    return number


def _fee_type(value: Any) -> FeeType:
    if value is None:
        raise FeeModelError("no fee_type")
    try:
        fee_type = FeeType(value)
    except ValueError:
        raise FeeModelError(
            f"unknown fee_type {value!r}: only {', '.join(_FEE_RATES)} are modelled"
        ) from None
    if fee_type not in _FEE_RATES:
        raise FeeModelError(
            f"fee_type {fee_type.value!r} (Kalshi's Specific Trading Fees Table) is not "
            "modelled: its rates are not in the API reference"
        )
    return fee_type


def check_fee_override(override_type: Any, override_multiplier: Any) -> None:
    """An event's fee override the model can price, each half on its own (`FeeModel.from_api`
    says why): a type given must be one the model prices, a multiplier given a number not
    below zero; either may be None. Raises FeeModelError naming the half at fault."""
    if override_type is not None:
        _fee_type(override_type)
    if override_multiplier is not None:
        _fee_number(override_multiplier, "fee_multiplier_override")


class FeeModel(msgspec.Struct, frozen=True):
    """The fees of one market: its series' (or event override's) type and multiplier, and the
    market's fee waiver (unix seconds; no fee before it; None: no waiver).

    Every field is required: a model is read from the exchange (`from_api`) or written out in
    full, never completed from a default, so a new call site cannot price an order with a
    fee nobody chose."""

    fee_type: FeeType
    multiplier: Decimal
    waiver_until: float | None  # unix seconds

    def __post_init__(self) -> None:
        _fee_type(self.fee_type)
        if self.multiplier < 0:
            raise FeeModelError(f"fee multiplier must not be negative, got {self.multiplier}")

    @classmethod
    def from_api(
        cls,
        fee_type: Any,
        multiplier: Any,
        *,
        override_type: Any = None,
        override_multiplier: Any = None,
        waiver_expiration_time: str | None = None,
    ) -> FeeModel:
        """From a Series' `fee_type`/`fee_multiplier`, an Event's `fee_type_override`/
        `fee_multiplier_override` and a Market's `fee_waiver_expiration_time`. Raises
        FeeModelError for what cannot be priced, a missing type or multiplier among it: neither
        is ever assumed.

        The one rule for an event's override: each half stands alone (EventFeeChange: a null
        override "falls back to the parent series'"), so the type in force is the override's, else
        the series', and likewise the multiplier. Both null is no override."""
        if override_type is not None:
            fee_type = override_type
        if override_multiplier is not None:
            multiplier = override_multiplier
        waiver = None
        if waiver_expiration_time:
            from kalshi_cli.vocabulary.clock import parse_iso

            try:
                waiver = parse_iso(waiver_expiration_time).timestamp()
            except ValueError as exc:
                raise FeeModelError(f"fee_waiver_expiration_time: {exc}") from exc
        return cls(_fee_type(fee_type), _fee_number(multiplier, "fee_multiplier"), waiver)

    def rates(self, *, at: float) -> tuple[Decimal, Decimal]:  # unix seconds
        """(taker rate, maker rate) at time `at`."""
        if self.waiver_until is not None and at < self.waiver_until:
            return ZERO, ZERO
        taker, maker = _FEE_RATES[self.fee_type]
        return taker * self.multiplier, maker * self.multiplier

    def fee(self, count: Decimal, price: Decimal, *, taker: bool, at: float) -> Decimal:
        taker_rate, maker_rate = self.rates(at=at)
        return trading_fee(count, price, taker_rate if taker else maker_rate)

    def most_fee(self, count: Decimal, price: Decimal) -> Decimal:
        """The most fills of `count` contracts at `price` could pay, whenever they come: the
        taker's rate, the waiver not counted (an order resting past its end fills after it)."""
        taker_rate, _ = _FEE_RATES[self.fee_type]
        return trading_fee(count, price, taker_rate * self.multiplier)


class FeeCharge(msgspec.Struct, frozen=True):
    """What one fill costs in fees, by Kalshi's fee-rounding page: the trade fee, a rounding fee
    that keeps the balance at its precision, and a whole-cent rebate from the order's
    accumulator. `net` is what the balance pays (and what the simulator reports as
    `fee_cost`; see docs/pnl.md for what is observed and what is assumed)."""

    trade_fee: Decimal
    rounding_fee: Decimal
    rebate: Decimal

    @property
    def net(self) -> Decimal:
        return self.trade_fee + self.rounding_fee - self.rebate


def charge_fill(
    revenue: Decimal,
    trade_fee: Decimal,
    carried: Decimal,
    precision: Decimal,
) -> tuple[FeeCharge, Decimal]:
    """One fill of an order: `revenue` is its signed cash before fees, `carried` the order's
    rounding so far. The balance moves by floor(revenue - trade fee) to `precision`; what the
    floor took is the rounding fee, added to the accumulator, and each whole cent it passes is
    refunded, so an order's total net fee is never negative (docs/pnl.md). Returns the charge and
    the new accumulator."""
    change = revenue - trade_fee
    rounding = change - change.quantize(precision, rounding=ROUND_FLOOR)
    carried += rounding
    rebate = ZERO
    while carried > CENT:
        rebate += CENT
        carried -= CENT
    return FeeCharge(trade_fee, rounding, rebate), carried
