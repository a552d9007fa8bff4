"""Compact column storage for public trades, keyed accounts' fills and finished orders a minute old,
read back equal and in order. Which tier serves a record is the `Archive` view's, by time, never
by where it is stored. docs/simulator.md "Running it".
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from kalshi_cli.sim.core.client_ids import IdColumn
from kalshi_cli.sim.core.records import SimFill, SimOrder, SimTrade
from kalshi_cli.vocabulary.models import FeeCharge
from kalshi_cli.vocabulary.units import BookSide

BYTES_PER_TRADE = 35
"""The columns' bytes per archived trade: id counter 8 + prefix 2 + ticker 4 + price 4 +
count 4 + side 1 + time 8 + the market's list 4. A trade whose id is not `prefix + 12 hex
digits` also keeps its id string (none is: every id comes from `Reference.new_id`'s shape)."""

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

_ID_DIGITS = 12
_NO_PREFIX = 0xFFFF  # the id is kept whole in `_odd_ids`


class _Interned:
    """Distinct values, each stored once, by index. Decimals are keyed by their digits and
    exponent, so 0.5 and 0.50 (equal, printed differently) stay two values."""

    __slots__ = ("index", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}

    def __getstate__(self) -> list[Any]:
        """A snapshot holds the values (sim/core/journal.py); the index is made again from them."""
        return self.values

    def __setstate__(self, values: list[Any]) -> None:
        self.values = values
        self.index = {_exact(value): at for at, value in enumerate(values)}

    def of(self, value: Any) -> int:
        key = _exact(value)
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.values)
            self.values.append(value)
        return found


class TradeArchive:
    """Trades in the order they were made, oldest first; append only."""

    _ids_ascend = False  # an archive restored from a snapshot of before: found by a scan
    """Every id so far is `prefix + counter` with the counters ascending: one is found by
    bisection (`position_of`)."""

    times_ascend = False  # an archive restored from a snapshot of before: scanned by time
    """Every trade's time so far is at or after the one before it: a cutoff is found by
    bisection (`NewestFirst.split`)."""

    def __init__(self) -> None:
        self._ids_ascend = True
        self.times_ascend = True
        self._seq = array("Q")
        self._prefix = array("H")
        self._ticker = array("I")
        self._price = array("I")
        self._count = array("I")
        self._side = array("B")
        self._ts = array("d")
        self._prefixes = _Interned()
        self._tickers = _Interned()
        self._decimals = _Interned()
        self._sides = _Interned()
        self._odd_ids: dict[int, str] = {}
        self._by_ticker: dict[str, array[int]] = {}  # ticker -> positions, oldest first

    def __len__(self) -> int:
        return len(self._ts)

    def append(self, trade: SimTrade) -> None:
        position = len(self._ts)
        if not _append_id(trade.trade_id, self._seq, self._prefix, self._prefixes, self._odd_ids):
            self._ids_ascend = False
        self._ticker.append(self._tickers.of(trade.ticker))
        self._price.append(self._decimals.of(trade.price))
        self._count.append(self._decimals.of(trade.count))
        self._side.append(self._sides.of(trade.taker_book_side))
        if position and trade.ts < self._ts[-1]:
            self.times_ascend = False  # the wall clock stepped back
        self._ts.append(trade.ts)
        positions = self._by_ticker.get(trade.ticker)
        if positions is None:
            positions = self._by_ticker[trade.ticker] = array("I")
        positions.append(position)

    def trade(self, position: int) -> SimTrade:
        decimals = self._decimals.values
        side: BookSide = self._sides.values[self._side[position]]
        return SimTrade(
            self.id_at(position),
            self._tickers.values[self._ticker[position]],
            decimals[self._price[position]],
            decimals[self._count[position]],
            side,
            self._ts[position],
        )

    def trades(self, ticker: str | None = None, since: float | None = None) -> Iterator[SimTrade]:
        """Oldest first; of one market when `ticker` is given; only those made at or after
        `since` when it is given (the rest are not rebuilt: a live listing reads none of them)."""
        positions = range(len(self._ts)) if ticker is None else self._by_ticker.get(ticker, ())
        if since is None:
            return (self.trade(p) for p in positions)
        ts = self._ts
        return (self.trade(p) for p in positions if ts[p] >= since)

    def count(self, ticker: str) -> int:
        return len(self._by_ticker.get(ticker, ()))

    def positions(self, ticker: str | None = None) -> Sequence[int]:
        """The positions of every trade (or of one market's), oldest first."""
        return range(len(self._ts)) if ticker is None else self._by_ticker.get(ticker, ())

    def ts_at(self, position: int) -> float:  # unix seconds
        return self._ts[position]

    def id_at(self, position: int) -> str:
        prefix = self._prefix[position]
        if prefix == _NO_PREFIX:
            return self._odd_ids[position]
        return f"{self._prefixes.values[prefix]}{self._seq[position]:0{_ID_DIGITS}x}"

    def ticker_at(self, position: int) -> str:
        ticker: str = self._tickers.values[self._ticker[position]]
        return ticker

    record_at = trade

    def order_id_at(self, position: int) -> str:
        raise TypeError("a trade has no order id")

    def position_of(self, trade_id: str) -> int | None:
        """The position of the trade of that id, or None; no trade is rebuilt."""
        return _position_of(trade_id, self._seq, self.id_at, self._ids_ascend, self._odd_ids)


def _position_of(
    value: str,
    seqs: array[int],
    id_at: Callable[[int], str],
    ascending: bool,
    odd: dict[int, str],
) -> int | None:
    """The position whose id is `value` (ids are unique), or None: by bisection on the
    counters when they ascend (then no id is of another shape), else by a scan of the counter
    column in C and of the ids kept whole."""
    digits = value[-_ID_DIGITS:]
    found = [p for p, v in odd.items() if v == value]
    if not _is_hex(digits):
        return min(found, default=None)
    seq = int(digits, 16)
    if ascending:
        at = bisect.bisect_left(seqs, seq)
        while at < len(seqs) and seqs[at] == seq:
            if id_at(at) == value:
                return at
            at += 1
        return None
    at = 0
    while True:
        try:
            at = seqs.index(seq, at)
        except ValueError:
            return min(found, default=None)
        if id_at(at) == value:
            return min([at, *found])
        at += 1


def _append_id(
    value: str, seqs: array[int], prefix: array[int], prefixes: _Interned, odd: dict[int, str]
) -> bool:
    """Append an id to its columns: its counter and its prefix's index when it is `prefix + 12
    hex digits`, else kept whole in `odd`. False when the counters no longer ascend."""
    start, digits = value[:-_ID_DIGITS], value[-_ID_DIGITS:]
    if _is_hex(digits) and len(prefixes.values) < _NO_PREFIX:
        seq = int(digits, 16)  # 12 lowercase hex digits: prints back the same
        ascends = not seqs or seq >= seqs[-1]
        seqs.append(seq)
        prefix.append(prefixes.of(start))
        return ascends
    odd[len(seqs)] = value
    seqs.append(0)
    prefix.append(_NO_PREFIX)
    return False


_HEX = frozenset("0123456789abcdef")


def _is_hex(digits: str) -> bool:
    # asked of every live order at each compaction: a set test, not a generator over the digits
    return len(digits) == _ID_DIGITS and _HEX.issuperset(digits)


def _exact(value: Any) -> Any:
    """A key equal only for values that print the same: a Decimal's digits and exponent, a fee
    charge's three, and the type of anything else (True == 1, but they are two values)."""
    if isinstance(value, Decimal):
        return value.as_tuple()
    if isinstance(value, FeeCharge):
        return (
            FeeCharge,
            *(_exact(v) for v in (value.trade_fee, value.rounding_fee, value.rebate)),
        )
    return (type(value), value)


class _Ids:
    """UUID-shaped ids (`prefix` + 12 hex digits) as a 48-bit counter and a prefix index; any
    other id kept whole."""

    __slots__ = ("ascending", "odd", "prefix", "prefixes", "seq")

    def __init__(self) -> None:
        self.seq = array("Q")
        self.prefix = array("H")
        self.prefixes = _Interned()
        self.odd: dict[int, str] = {}
        self.ascending = True
        """Every id so far is `prefix + counter`, the counters ascending (`position_of`
        bisects); unset in one restored from a snapshot of before (then it scans)."""

    def append(self, value: str) -> None:
        if not _append_id(value, self.seq, self.prefix, self.prefixes, self.odd):
            self.ascending = False

    def position_of(self, value: str) -> int | None:
        """The position of that id (ids are unique), or None."""
        ascending = getattr(self, "ascending", False)
        return _position_of(value, self.seq, self.__getitem__, ascending, self.odd)

    def __getitem__(self, position: int) -> str:
        prefix = self.prefix[position]
        if prefix == _NO_PREFIX:
            return self.odd[position]
        return f"{self.prefixes.values[prefix]}{self.seq[position]:0{_ID_DIGITS}x}"


BYTES_PER_FILL = 90
"""The columns' bytes per archived fill: its id, its trade's and its order's id 10 each, the
client order id 16 (a canonical UUID as its number, `client_ids.IdColumn`: the string is not
kept; any other id keeps its string), the account, ticker, side, price,
count, taker flag, fee, position after and fee components as indexes 4 each (36), the time 8."""

_FILL_VALUES = (
    "account_id",
    "ticker",
    "book_side",
    "price",
    "count",
    "is_taker",
    "fee",
    "post_position",
    "charge",
)


class FillArchive:
    """One account's fills in the order they were made, oldest first; append only. The same
    idea as `TradeArchive`: ids as counters, every other field an index into the distinct
    values seen (kept by `_exact`, so each reads back as it was), the time a float, the client
    order id as its UUID number (`IdColumn`)."""

    times_ascend = False  # as TradeArchive's

    def __init__(self) -> None:
        self.times_ascend = True
        self._fill_id = _Ids()
        self._trade_id = _Ids()
        self._order_id = _Ids()
        self._client_order_id = IdColumn()
        self._values = _Interned()
        self._columns = {name: array("I") for name in _FILL_VALUES}
        self._ts = array("d")

    def __len__(self) -> int:
        return len(self._ts)

    def append(self, fill: SimFill) -> None:
        self._fill_id.append(fill.fill_id)
        self._trade_id.append(fill.trade_id)
        self._order_id.append(fill.order_id)
        self._client_order_id.append(fill.client_order_id)
        of = self._values.of
        for name, column in self._columns.items():
            column.append(of(getattr(fill, name)))
        if self._ts and fill.ts < self._ts[-1]:
            self.times_ascend = False  # the wall clock stepped back
        self._ts.append(fill.ts)

    def fill(self, position: int) -> SimFill:
        values = self._values.values
        c = {name: values[column[position]] for name, column in self._columns.items()}
        return SimFill(
            fill_id=self._fill_id[position],
            trade_id=self._trade_id[position],
            order_id=self._order_id[position],
            client_order_id=self._client_order_id[position],
            ts=self._ts[position],
            **c,
        )

    def position_of(self, fill_id: str) -> int | None:
        """The position of the fill of that id, or None; no fill is rebuilt."""
        return self._fill_id.position_of(fill_id)

    def id_at(self, position: int) -> str:
        return self._fill_id[position]

    record_at = fill

    def ts_at(self, position: int) -> float:  # unix seconds
        return self._ts[position]

    def ticker_at(self, position: int) -> str:
        ticker: str = self._values.values[self._columns["ticker"][position]]
        return ticker

    def order_id_at(self, position: int) -> str:
        return self._order_id[position]

    def fills(self, since: float | None = None) -> Iterator[SimFill]:
        """Oldest first; only those made at or after `since` when it is given (found by
        bisection while the times ascend, so a reader of the newest few reads only those)."""
        ts = self._ts
        if since is None:
            return (self.fill(p) for p in range(len(ts)))
        if self.times_ascend:
            return (self.fill(p) for p in range(bisect.bisect_left(ts, since), len(ts)))
        return (self.fill(p) for p in range(len(ts)) if ts[p] >= since)


BYTES_PER_ORDER = 102
"""The columns' bytes per archived order: its id 10, the client order id 16 (as a fill's; the
account's used ids hold it again, `client_ids.UsedClientIds`, ~34 bytes), its account, market, side,
status, time in force, flags, self-trade prevention and group as one index into the distinct
combinations 4, its nine Decimals (price, counts, costs, fees, fee accumulator) as indexes
36, the expiration 8, its two times 16, and its place in the index by id 12 (8 + 4)."""

_NO_EXPIRY = -(2**63)


class OrderArchive:
    """One account's finished orders a minute old, in the order they moved; append only.
    As `FillArchive`: ids as counters, every other value an index into the distinct values (or
    combinations) seen, kept by `_exact` so each reads back as it was, the times as floats. An
    index sorted by the id's counter (the order they were placed in: every id is the exchange's
    prefix and its counter, `Reference.new_id`) finds one by id and lists them newest first."""

    def __init__(self) -> None:
        self._order_id = _Ids()
        self._client_order_id = IdColumn()
        self._values = _Interned()
        self._shape = array("I")
        self._decimals = {name: array("I") for name in _ORDER_DECIMALS}
        self._expiration = array("q")
        self._created = array("d")
        self._updated = array("d")
        self._sorted_seq = array("Q")  # the ids' counters, ascending
        self._sorted_pos = array("I")  # the position of each, in the same order
        self.latest_update = -math.inf
        """The newest last_update_time archived: a read from a later time needs none."""

    def __len__(self) -> int:
        return len(self._created)

    def append(self, order: SimOrder) -> None:
        position = len(self._created)
        self._order_id.append(order.order_id)
        self._client_order_id.append(order.client_order_id)
        self._shape.append(self._values.of(tuple(getattr(order, n) for n in _ORDER_SHAPE)))
        of = self._values.of
        for name, column in self._decimals.items():
            column.append(of(getattr(order, name)))
        expiry = order.expiration_time
        self._expiration.append(_NO_EXPIRY if expiry is None else expiry)
        self._created.append(order.created_time)
        self._updated.append(order.last_update_time)
        seq = self._order_id.seq[position]
        at = bisect.bisect_right(self._sorted_seq, seq)
        self._sorted_seq.insert(at, seq)
        self._sorted_pos.insert(at, position)
        self.latest_update = max(self.latest_update, order.last_update_time)

    def order(self, position: int) -> SimOrder:
        values = self._values.values
        shape = dict(zip(_ORDER_SHAPE, values[self._shape[position]], strict=True))
        d = {name: values[column[position]] for name, column in self._decimals.items()}
        expiry = self._expiration[position]
        return SimOrder(
            order_id=self._order_id[position],
            client_order_id=self._client_order_id[position],
            expiration_time=None if expiry == _NO_EXPIRY else expiry,
            created_time=self._created[position],
            last_update_time=self._updated[position],
            **shape,
            **d,
        )

    def find(self, order_id: str, upto: int | None = None) -> SimOrder | None:
        """The archived order of that id (among the first `upto` archived), or None."""
        at = self.index_of(order_id)
        if at is None:
            return None
        position = self._sorted_pos[at]
        return None if upto is not None and position >= upto else self.order(position)

    def index_of(self, order_id: str) -> int | None:
        """The place in the index by id of the archived order of that id, or None."""
        digits = order_id[-_ID_DIGITS:]
        if not _is_hex(digits):
            return None
        seq = int(digits, 16)
        at = bisect.bisect_left(self._sorted_seq, seq)
        while at < len(self._sorted_seq) and self._sorted_seq[at] == seq:
            if self._order_id[self._sorted_pos[at]] == order_id:
                return at
            at += 1
        return None

    def head(self, at: int) -> tuple[str, str, float, float]:
        """(ticker, status, created_time, last_update_time) of the order at place `at` of the
        index by id, without rebuilding it."""
        position = self._sorted_pos[at]
        shape = self._values.values[self._shape[position]]
        return (
            shape[_SHAPE_TICKER],
            shape[_SHAPE_STATUS],
            self._created[position],
            self._updated[position],
        )

    def newest_first(
        self, since: float | None = None, upto: int | None = None
    ) -> Iterator[tuple[int, SimOrder]]:
        """(the id's counter, the order), newest placed first; with `since`, only those last
        updated at or after it (none, without reading any, when `since` is past them all);
        with `upto`, only the first `upto` archived (the archive as it stood then)."""
        if since is not None and since > self.latest_update:
            return
        updated = self._updated
        seqs, positions = self._sorted_seq, self._sorted_pos
        for at in range(len(seqs) - 1, -1, -1):
            position = positions[at]
            if upto is not None and position >= upto:
                continue
            if since is None or updated[position] >= since:
                yield seqs[at], self.order(position)


_ORDER_SHAPE = (
    "account_id",
    "ticker",
    "book_side",
    "status",
    "time_in_force",
    "post_only",
    "reduce_only",
    "self_trade_prevention",
    "cancel_order_on_pause",
    "order_group_id",
)
_SHAPE_TICKER = _ORDER_SHAPE.index("ticker")
_SHAPE_STATUS = _ORDER_SHAPE.index("status")
_ORDER_DECIMALS = (
    "price",
    "initial_count",
    "fill_count",
    "remaining_count",
    "taker_fill_cost",
    "maker_fill_cost",
    "taker_fees",
    "maker_fees",
    "fee_accumulator",
)


def merge_by_counter(
    live: list[SimOrder], archived: Iterator[tuple[int, SimOrder]]
) -> list[SimOrder]:
    """The live orders (newest first) and the archived ones (newest first, with their ids'
    counters) in one list, newest placed first: ids count up as orders are placed."""
    out: list[SimOrder] = []
    pending = next(archived, None)
    for order in live:
        counter = id_counter(order.order_id)
        while pending is not None and pending[0] > counter:
            out.append(pending[1])
            pending = next(archived, None)
        out.append(order)
    while pending is not None:
        out.append(pending[1])
        pending = next(archived, None)
    return out


def id_counter(order_id: str) -> int:
    """The counter of an exchange id (`prefix` + 12 hex digits); -1 for any other shape."""
    digits = order_id[-_ID_DIGITS:]
    return int(digits, 16) if _is_hex(digits) else -1


# The classes of this module a simulator snapshot holds (sim/core/journal.py).
SNAPSHOT_TYPES = (TradeArchive, FillArchive, OrderArchive, _Interned, _Ids)
