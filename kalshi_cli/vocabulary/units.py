"""Money, counts and directions: parsing and formatting them, with no exchange shapes. This is
their one home: every reader, `models` included, imports them from here. The conventions are in
`models`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
)
from enum import Enum, StrEnum
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

ONE = Decimal(1)
ZERO = Decimal(0)
CENT = Decimal("0.01")
COUNT_QUANTUM = Decimal("0.01")
# the finest money the exchange prints (a fee, a cost, an average: FixedPointDollars to 6 places)
_MICRO_DOLLAR = Decimal("0.000001")


# --------------------------------------------------------------------------------------------
# Fixed-point parsing and formatting


def parse_decimal(value: Any, *, what: str = "value") -> Decimal:
    """Parse a fixed-point string (or an int) to Decimal; floats are refused outright."""
    if type(value) is not str:  # a string, what the exchange sends, skips these checks
        if isinstance(value, Decimal):
            return value
        if isinstance(value, (bool, float)):
            raise TypeError(f"{what}: refusing a {type(value).__name__} for a money or count value")
        if isinstance(value, int):
            return Decimal(value)
        if not isinstance(value, str):
            raise TypeError(f"{what}: expected a fixed-point string, got {type(value).__name__}")
    try:
        result = Decimal(value.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{what}: {value!r} is not a number") from exc
    if not result.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    return result


def parse_dollars(value: Any) -> Decimal:
    return parse_decimal(value, what="dollars")


def parse_count(value: Any) -> Decimal:
    return parse_decimal(value, what="count")


def parse_optional_dollars(value: Any) -> Decimal | None:
    return None if value is None or value == "" else parse_dollars(value)


def fmt_dollars(value: Decimal, places: int = 4) -> str:
    """Kalshi's FixedPointDollars: 4 decimals in normal use, up to 6 for fees and costs."""
    quantum = Decimal(1).scaleb(-places)
    q = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if q != value and places < 6:
        # never silently lose a sub-penny digit: widen to what the value needs (at most 6)
        q = to_micro_dollars(value)
    return f"{q:f}"


def to_micro_dollars(value: Decimal) -> Decimal:
    """`value` to the sixth place of a dollar, half to even: the finest the exchange prints money
    with, and so what an average or a share of a cost is held to where the exchange's figure is
    meant (a write's averages, the basis a partial close releases)."""
    return value.quantize(_MICRO_DOLLAR, rounding=ROUND_HALF_EVEN)


def fmt_exact_dollars(value: Decimal) -> str:
    """Money in a document for scripts (`--json`, CSV): at least Kalshi's 4 places, and every
    further digit the value has, never rounded (an average cost's sixth place), with no zero
    trailing past the fourth: `"0.0000"`, `"-0.0484"`, `"3.066666"`, never `"0"` or `"0.640000"`."""
    if value == 0:
        return "0.0000"
    exact = value.normalize()
    if exact.as_tuple().exponent >= -4:  # type: ignore[operator]
        return f"{value.quantize(Decimal('0.0001')):f}"
    return f"{exact:f}"


def to_jsonable(value: Any) -> Any:
    """`value` as JSON data for a document or a log line: Decimals their text (never floats),
    enums their values, paths text, mappings and sequences item by item."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def is_fraction(count: Decimal) -> bool:
    """A count with a fraction of a contract in it: only a market that trades fractions (to
    `COUNT_QUANTUM`) holds, fills or takes one."""
    return count % 1 != 0


def fmt_count(value: Decimal) -> str:
    """Kalshi's FixedPointCount: always 2 decimals."""
    return f"{value.quantize(COUNT_QUANTUM, rounding=ROUND_HALF_EVEN):f}"


def cents_to_dollars(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def dollars_to_cents(dollars: Decimal) -> int:
    """Exact conversion; a sub-cent amount is an error, not a rounding."""
    cents = dollars * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{dollars} is not a whole number of cents")
    return int(cents)


# --------------------------------------------------------------------------------------------
# Integer money inside a hot path
#
# A book replayed or streamed applies a change a level at a time, and Decimal arithmetic and
# comparisons cost several times an int's. Inside the local order book (feed/book.py) and the
# venue's copy of it, a price is held as ticks of $0.0001 and a count as hundredths of a
# contract: the finest price level any market quotes (the `centi_cent` part of a price level
# structure) and FixedPointCount's granularity (openapi.yaml), so every book level the exchange
# can hold is one whole number, exactly. A value finer than that is no level: the conversion
# refuses it. Everything a person, a file or the wire sees is converted back here to Decimal.

PRICE_TICKS = 10_000  # ticks in a dollar: a YES and a NO bid that add up to this cross
COUNT_UNITS = 100  # hundredths in a contract
# exact: no precision limit, so a conversion never rounds
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
# the Decimal of each tick count and hundredths count converted out so far: a book shows few
# distinct ones, and a look-up costs a third of `scaleb`; bounded for a book of endless sizes
_PRICE_OUT: dict[int, Decimal] = {}
_COUNT_OUT: dict[int, Decimal] = {}
_OUT_KEPT = 1 << 16


def _whole(value: Decimal, places: int, unit: str) -> int:
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    scaled = value.scaleb(places, _EXACT)
    whole = scaled.to_integral_value()
    if scaled != whole:
        raise ValueError(f"{value} is not a whole number of {unit}")
    return int(whole)


def price_ticks(price: Decimal) -> int:
    """A price in ticks of $0.0001 (`Decimal("0.5600")` is 5600). ValueError for a price
    that is not a whole number of ticks or not a finite number."""
    return _whole(price, 4, "ticks of $0.0001")


def count_hundredths(count: Decimal) -> int:
    """A count in hundredths of a contract (`Decimal("10.00")` is 1000). ValueError for a
    count that is not a whole number of hundredths or not a finite number."""
    return _whole(count, 2, "hundredths of a contract")


def _out(held: int, places: int, kept: dict[int, Decimal]) -> Decimal:
    """`held` units of 10**-`places` as a Decimal of `places` places, kept in `kept` for the
    next look-up while it holds fewer than `_OUT_KEPT` (the look-up is the caller's, so a
    value seen before costs no call)."""
    value = Decimal(held).scaleb(-places, _EXACT)
    if len(kept) < _OUT_KEPT:
        kept[held] = value
    return value


def ticks_price(ticks: int) -> Decimal:
    """A price held in ticks as Kalshi writes it: 4 places (5600 is `Decimal("0.5600")`)."""
    price = _PRICE_OUT.get(ticks)
    return price if price is not None else _out(ticks, 4, _PRICE_OUT)


def hundredths_count(hundredths: int) -> Decimal:
    """A count held in hundredths as Kalshi writes it: 2 places (1000 is `Decimal("10.00")`)."""
    count = _COUNT_OUT.get(hundredths)
    return count if count is not None else _out(hundredths, 2, _COUNT_OUT)


# the finest money a person is shown: Kalshi's fee unit
MONEY_SHOWN = Decimal("0.0001")


def money_places(values: Iterable[Decimal | None]) -> Decimal:
    """The places of money shown together (one listing, one record, one summary): the cent,
    unless one amount has a sub-cent part (to $0.0001, the unit Kalshi charges fees in), then
    $0.0001 for every one of them, so one screen never shows `$0.6913` beside `$0.58`."""
    for value in values:
        if value is not None and value.quantize(MONEY_SHOWN, rounding=ROUND_HALF_EVEN) % CENT:
            return MONEY_SHOWN
    return CENT


def fmt_money(value: Decimal | None, missing: str = "-", places: Decimal = CENT) -> str:
    """Money for people, the one way every command, the dashboard, checks and alerts show it:
    dollars with the sign first and thousands grouped, to `places` (`money_places` of what is
    shown with it) or finer when the amount needs it: `$12.34`, `-$0.33`, `$1,234.50` to the
    cent, `$0.0175`, `-$0.4550` to four places; past four rounded half-even (an average cost's
    `-6.499999` is `-$6.50`, `3.066666` is `$3.0667`); `missing` for no amount. JSON keeps
    `fmt_dollars`' strings."""
    if value is None:
        return missing
    mag = abs(value).quantize(min(places, money_places([value])), rounding=ROUND_HALF_EVEN)
    sign = "-" if value < 0 and mag != 0 else ""
    return f"{sign}${mag:,f}"


# --------------------------------------------------------------------------------------------
# Directions


class Side(StrEnum):
    YES = "yes"
    NO = "no"

    def other(self) -> Side:
        return Side.NO if self is Side.YES else Side.YES


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"


class BookSide(StrEnum):
    BID = "bid"  # buys YES
    ASK = "ask"  # sells YES (buys NO)


class TimeInForce(StrEnum):
    GTC = "good_till_canceled"
    IOC = "immediate_or_cancel"
    FOK = "fill_or_kill"


class SelfTradePrevention(StrEnum):
    TAKER_AT_CROSS = "taker_at_cross"
    MAKER = "maker"


class OrderStatus(StrEnum):
    RESTING = "resting"
    EXECUTED = "executed"
    CANCELED = "canceled"


class BookOrder(NamedTuple):
    """An order in the V2 single-book vocabulary: side of the YES book and a YES price."""

    book_side: BookSide
    yes_price: Decimal


# kept for each pair: a read of an enum member (`Side.YES`) goes through the enum's metaclass,
# several times a plain attribute's cost on Python 3.11, and the risk rules ask it of every order
@cache
def book_side_of(side: Side, action: Action) -> BookSide:
    """The side of the YES book an order in trader terms is on: BID when it buys YES (buying
    YES or selling NO), ASK otherwise. The risk rules ask it of every resting order."""
    # `==`, not `is`: the key a plain "yes" makes is Side.YES's, so its answer must be the same
    return BookSide.BID if (side == Side.YES) == (action == Action.BUY) else BookSide.ASK


def side_value(side: Side, yes_value: Decimal) -> Decimal:
    """A YES price or fair value as `side` sees it: itself for YES, `1 - p` for NO (a contract
    pays $1 to one of the two). Its own inverse: a side's price back in YES terms."""
    return yes_value if side is Side.YES else ONE - yes_value


def to_book(side: Side, action: Action, price: Decimal) -> BookOrder:
    """Trader terms (side, action, price of that side) -> V2 book terms (YES price)."""
    return BookOrder(book_side_of(side, action), side_value(side, price))


def from_book(book_side: BookSide, yes_price: Decimal, side: Side) -> tuple[Action, Decimal]:
    """V2 book terms -> the action and price as seen from `side` (the inverse of `to_book`)."""
    buys_yes = book_side is BookSide.BID
    action = Action.BUY if buys_yes == (side is Side.YES) else Action.SELL
    return action, side_value(side, yes_price)


def added_price(action: Action, price: Decimal) -> Decimal:
    """What one contract of an order can cost: the price of the side it adds, from its action
    and `price` (of the side it trades). A buy pays its price; a sale of YES at 0.05 opens NO
    (unless YES is held) at 0.95, so it can commit 0.95 a contract, not 0.05. In book terms
    (`from_book`, seen from YES) a bid pays the YES price and an ask 1 - it."""
    return price if action is Action.BUY else ONE - price


def side_held(position: Decimal) -> Side | None:
    """The side a netted position holds: positive YES, negative NO, flat None."""
    if position > 0:
        return Side.YES
    if position < 0:
        return Side.NO
    return None


def outcome_side_of(book_side: BookSide) -> Side:
    """The side whose exposure an order adds: a bid adds YES, an ask adds NO."""
    return Side.YES if book_side is BookSide.BID else Side.NO
