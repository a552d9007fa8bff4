"""Views that read the exchange's records, live and archived, by position without rebuilding them:
`TradeTimeline` (a market's trades oldest first), `NewestFirst` (trades and fills) and
`OrdersNewestFirst` (an account's orders).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar

from kalshi_cli.sim.core.records import SimOrder, SimTrade
from kalshi_cli.sim.core.trade_archive import OrderArchive, TradeArchive, id_counter

R = TypeVar("R")
T = TypeVar("T")
R_co = TypeVar("R_co", covariant=True)


class TradeTimeline:
    """One market's trades, archived then live, oldest first, by position: `ts(i)` reads a
    time without rebuilding the trade, `between(i, j)` rebuilds only that stretch. A reader
    bisects on the times (trades are made in clock order) and reads the window it needs."""

    def __init__(self, archive: TradeArchive, ticker: str, live: list[SimTrade]) -> None:
        self._archive = archive
        self._positions = archive._by_ticker.get(ticker, array("I"))
        self._live = live

    def __len__(self) -> int:
        return len(self._positions) + len(self._live)

    def ts(self, i: int) -> float:  # unix seconds
        archived = len(self._positions)
        return (
            self._archive._ts[self._positions[i]] if i < archived else self._live[i - archived].ts
        )

    def between(self, i: int, j: int) -> list[SimTrade]:
        """The trades at positions i..j-1, oldest first."""
        archived = len(self._positions)
        out = [self._archive.trade(self._positions[k]) for k in range(i, min(j, archived))]
        return out + self._live[max(i - archived, 0) : max(j - archived, 0)]

    def bisect_right(self, value: float, key: Callable[[float], float] | None = None) -> int:
        """The first position whose time (or `key` of it) is above `value`."""
        ts = self.ts if key is None else lambda i: key(self.ts(i))
        return bisect.bisect_right(range(len(self)), value, key=ts)

    def bisect_left(self, value: float, key: Callable[[float], float] | None = None) -> int:
        """The first position whose time (or `key` of it) is at or above `value`."""
        ts = self.ts if key is None else lambda i: key(self.ts(i))
        return bisect.bisect_left(range(len(self)), value, key=ts)


class NewestFirst(Generic[R]):
    """Records newest first, read by index without rebuilding any but those asked for: the
    live list's (held oldest first) from its end, then the archive's positions (oldest first)
    from theirs, as `Exchange.trades()` and `fills()` list them. A historical page reads its
    cursor's index (`find`), then the times and tickers of what follows until the page is full."""

    def __init__(
        self,
        live: Sequence[R],
        live_id: Callable[[R], str],
        positions: Sequence[int],
        archived: _Columns[R] | None,
    ) -> None:
        self._live = live
        self._live_id = live_id
        self._positions = positions if archived is not None else ()
        self._archived = archived

    def __len__(self) -> int:
        return len(self._live) + len(self._positions)

    def _where(self, i: int) -> tuple[R | None, int]:
        """(the live record at index i, -1) or (None, its archive position)."""
        live = len(self._live)
        if i < live:
            return self._live[live - 1 - i], -1
        return None, self._positions[len(self._positions) - 1 - (i - live)]

    def _read(self, i: int, live: Callable[[R], T], archived: Callable[[_Columns[R], int], T]) -> T:
        """`live` of the live record at index i, else `archived` of the archive and the
        record's position in it: every read by index is this one choice."""
        record, position = self._where(i)
        if record is not None:
            return live(record)
        assert self._archived is not None
        return archived(self._archived, position)

    def ts(self, i: int) -> float:  # unix seconds
        return self._read(i, _live_ts, lambda archive, at: archive.ts_at(at))

    def ticker(self, i: int) -> str:
        return self._read(i, _live_ticker, lambda archive, at: archive.ticker_at(at))

    def key(self, i: int) -> str:
        return self._read(i, self._live_id, lambda archive, at: archive.id_at(at))

    def record(self, i: int) -> R:
        return self._read(i, lambda record: record, lambda archive, at: archive.record_at(at))

    def order_id(self, i: int) -> str:
        """The order id of the fill at index i (fills only)."""
        return self._read(i, _live_order_id, lambda archive, at: archive.order_id_at(at))

    def _archived_between(
        self, low: float | None, high: float | None, *, high_included: bool
    ) -> range | None:  # unix seconds
        """The indexes of the archived records made from `low` on and up to `high` (None: no
        bound), found by bisection; None when the archive's times are not known to ascend
        (then a reader scans them all)."""
        archived = self._archived
        live = len(self._live)
        if archived is None:
            return range(live, live)
        if not archived.times_ascend:
            return None
        positions = self._positions
        key = archived.ts_at
        first = 0 if low is None else bisect.bisect_left(positions, low, key=key)
        if high is None:
            end = len(positions)
        elif high_included:
            end = bisect.bisect_right(positions, high, key=key)
        else:
            end = bisect.bisect_left(positions, high, key=key)
        total = live + len(positions)
        return range(total - max(end, first), total - first)

    def spans_from(
        self, cutoff: float, lo: float | None = None, hi: float | None = None
    ) -> list[range]:  # unix seconds
        """The indexes that can hold a record of the live tier (made at or after `cutoff`) made
        within [lo, hi]: every live record (they are not ordered by time: a reader tests each)
        and the archived ones the times bound."""
        archived = self._archived_between(
            cutoff if lo is None else max(cutoff, lo), hi, high_included=True
        )
        if archived is None:
            return [range(len(self))]
        return [range(len(self._live)), archived]

    def spans_before(
        self, cutoff: float, lo: float | None = None, hi: float | None = None
    ) -> list[range]:  # unix seconds
        """The indexes that can hold a record of the historical tier (made before `cutoff`)
        made within [lo, hi], as `spans_from`."""
        if hi is not None and hi < cutoff:
            archived = self._archived_between(lo, hi, high_included=True)
        else:
            archived = self._archived_between(lo, cutoff, high_included=False)
        if archived is None:
            return [range(len(self))]
        return [range(len(self._live)), archived]

    def find(self, record_id: str) -> int | None:
        """The index of the record of that id (ids are unique), or None."""
        live = self._live
        for back in range(len(live) - 1, -1, -1):  # the live tier: within the lag
            if self._live_id(live[back]) == record_id:
                return len(live) - 1 - back
        if self._archived is None:
            return None
        position = self._archived.position_of(record_id)
        if position is None:
            return None
        positions = self._positions
        at = bisect.bisect_left(positions, position)  # ascending
        if at == len(positions) or positions[at] != position:
            return None  # another market's
        return len(live) + len(positions) - 1 - at


# the fields a live record of either kind holds (SimTrade and SimFill alike; `order_id`: fills
# only), read by name since the two share no base
def _live_ts(record: object) -> float:
    ts: float = getattr(record, "ts")  # noqa: B009
    return ts


def _live_ticker(record: object) -> str:
    ticker: str = getattr(record, "ticker")  # noqa: B009
    return ticker


def _live_order_id(record: object) -> str:
    order_id: str = getattr(record, "order_id")  # noqa: B009
    return order_id


class _Columns(Protocol[R_co]):
    times_ascend: bool

    def ts_at(self, position: int) -> float: ...  # unix seconds
    def order_id_at(self, position: int) -> str: ...
    def ticker_at(self, position: int) -> str: ...
    def id_at(self, position: int) -> str: ...
    def record_at(self, position: int) -> R_co: ...
    def position_of(self, record_id: str) -> int | None: ...


OrderRef = tuple[SimOrder | None, int]
"""A live order (and -1), or None and an archived order's place in `OrderArchive`'s index."""


class OrdersNewestFirst:
    """`Exchange.orders()`'s list (the live orders and the archived ones merged by their ids'
    counters, newest placed first, as `trade_archive.merge_by_counter`) walked from any record
    without rebuilding an archived order until asked. A place in the walk is (the next live
    order's index, newest first; the next archived one's, newest first)."""

    def __init__(self, live: Sequence[SimOrder], archived: OrderArchive | None) -> None:
        self._live = live  # oldest first: read from its end
        self._archived = archived if archived else None
        # an id's counter, by its live order's index newest first: parsed only where the walk
        # merges with the archive (none without one), not for every live order of a request
        self._counters: dict[int, int] = {}

    def _order(self, j: int) -> SimOrder:
        """The j-th live order, newest first."""
        return self._live[len(self._live) - 1 - j]

    def _counter(self, j: int) -> int:
        counter = self._counters.get(j)
        if counter is None:
            counter = self._counters[j] = id_counter(self._order(j).order_id)
        return counter

    def _archived_seq(self, d: int) -> int | None:
        """The counter of the d-th archived order, newest first (None past the last)."""
        a = self._archived
        if a is None or d >= len(a):
            return None
        return a._sorted_seq[len(a) - 1 - d]

    def walk(self, j: int = 0, d: int = 0) -> Iterator[OrderRef]:
        """The records from place (j, d) on, in the list's order."""
        live = len(self._live)
        n = len(self._archived) if self._archived is not None else 0
        while j < live or d < n:
            seq = self._archived_seq(d)
            if seq is not None and (j == live or seq > self._counter(j)):
                yield None, n - 1 - d
                d += 1
            else:
                yield self._order(j), -1
                j += 1

    def find(self, order_id: str) -> tuple[OrderRef, tuple[int, int]] | None:
        """The record of that id and the place just after it in the walk, or None."""
        a = self._archived
        live = len(self._live)
        least: int | None = None
        for j in range(live):  # the live tier
            order = self._order(j)
            if a is not None:
                counter = self._counter(j)
                least = counter if least is None else min(least, counter)
            if order.order_id == order_id:
                if a is None or least is None:
                    return (order, -1), (j + 1, 0)
                emitted = len(a) - bisect.bisect_right(a._sorted_seq, least)
                return (order, -1), (j + 1, emitted)
        if a is None:
            return None
        at = a.index_of(order_id)
        if at is None:
            return None
        d = len(a) - 1 - at
        seq = a._sorted_seq[at]
        j = next((k for k in range(live) if self._counter(k) < seq), live)
        return (None, at), (j, d + 1)

    def head(self, ref: OrderRef) -> tuple[str, str, float, float]:
        """(ticker, status, created_time, last_update_time) of the record."""
        order, at = ref
        if order is not None:
            return order.ticker, order.status, order.created_time, order.last_update_time
        assert self._archived is not None
        return self._archived.head(at)

    def key(self, ref: OrderRef) -> str:
        order, at = ref
        if order is not None:
            return order.order_id
        assert self._archived is not None
        return self._archived._order_id[self._archived._sorted_pos[at]]

    def record(self, ref: OrderRef) -> SimOrder:
        order, at = ref
        if order is not None:
            return order
        assert self._archived is not None
        return self._archived.order(self._archived._sorted_pos[at])
