"""A market's recent mids as an append-only series with running sums, read through windows.

A strategy reads the mids of its last `window_s` seconds, often their mean and spread; copying and
summing the window on every decision is O(window). Here a market's points live in lists that only
grow at the end (old points dropped by moving a start index), beside prefix sums of the mids and
their squares. A `MidWindow` is an immutable view of a slice: narrowing it (bisection) and its
count, sum and sum of squares are O(1) or O(log n), and it never changes once handed out.

The sums are exact (a Decimal context with no rounding: an inexact result raises).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, Rounded
from typing import overload

ZERO = Decimal(0)
# adds and multiplies Decimals without rounding (and says so if it ever had to)
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, Rounded])


class MidSeries:
    """One market's points, oldest first, with prefix sums; `window()` views the live ones."""

    __slots__ = ("_mids", "_sorted", "_squares", "_start", "_sums", "_ts")

    def __init__(self) -> None:
        self._sorted = True
        self._ts: list[float] = []
        self._mids: list[Decimal] = []
        # _sums[i] is the sum of the mids before point i (of every point ever appended), so
        # the sum of points i..j is _sums[j] - _sums[i]
        self._sums = [ZERO]
        self._squares = [ZERO]
        self._start = 0

    def _add_sums(self, mid: Decimal) -> None:
        self._sums.append(EXACT.add(self._sums[-1], mid))
        self._squares.append(EXACT.add(self._squares[-1], EXACT.multiply(mid, mid)))

    def __len__(self) -> int:
        return len(self._ts) - self._start

    def last(self) -> tuple[float, Decimal] | None:
        return (self._ts[-1], self._mids[-1]) if len(self) else None

    def append(self, ts: float, mid: Decimal) -> None:
        if self._ts and ts < self._ts[-1]:
            # the wall clock stepped back: windows are then filtered point by point
            self._sorted = False
        self._ts.append(ts)
        self._mids.append(mid)
        self._add_sums(mid)

    def drop_before(self, horizon: float) -> None:
        """Forget the points older than `horizon` (kept while a window handed out reads them)."""
        start, ts = self._start, self._ts
        end = len(ts)
        while start < end and ts[start] < horizon:
            start += 1
        self._start = start
        if start > 64 and start * 2 > end:
            # new lists, so the windows already handed out keep theirs unchanged; the prefix
            # sums are kept as they are (a window reads differences of them)
            self._ts = ts[start:]
            self._mids = self._mids[start:]
            self._sums = self._sums[start:]
            self._squares = self._squares[start:]
            self._start = 0

    def window(self) -> MidWindow:
        return MidWindow(
            self._ts,
            self._mids,
            self._sums,
            self._squares,
            start=self._start,
            end=len(self._ts),
            ordered=self._sorted,
        )


class MidWindow(Sequence[tuple[float, Decimal]]):
    """(ts, mid) points `start`..`end` of a series: a read-only sequence, oldest first."""

    __slots__ = ("_end", "_mids", "_ordered", "_squares", "_start", "_sums", "_ts")

    def __init__(
        self,
        ts: list[float],
        mids: list[Decimal],
        sums: list[Decimal],
        squares: list[Decimal],
        *,
        start: int,
        end: int,
        ordered: bool = True,
    ) -> None:
        self._ts, self._mids, self._sums, self._squares = ts, mids, sums, squares
        self._start, self._end = start, end
        self._ordered = ordered

    @classmethod
    def of(cls, points: Sequence[tuple[float, Decimal]]) -> MidWindow:
        """A window over points held elsewhere (a tuple a test built): O(len) once."""
        if isinstance(points, MidWindow):
            return points
        series = MidSeries()
        for ts, mid in points:
            series.append(ts, mid)
        return series.window()

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, index: int) -> tuple[float, Decimal]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[float, Decimal]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[float, Decimal] | Sequence[tuple[float, Decimal]]:
        if isinstance(index, slice):
            return tuple(self)[index]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("window index out of range")
        i = self._start + index
        return (self._ts[i], self._mids[i])

    def __iter__(self) -> Iterator[tuple[float, Decimal]]:
        ts, mids = self._ts, self._mids
        for i in range(self._start, self._end):
            yield (ts[i], mids[i])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MidWindow):
            same = self._ts is other._ts and (self._start, self._end) == (other._start, other._end)
            return same or tuple(self) == tuple(other)
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"MidWindow({tuple(self)!r})"

    def same_as(self, other: MidWindow) -> bool:
        """The very same points (the same slice of the same lists), told in O(1); False says
        nothing about equal contents."""
        return self._ts is other._ts and self._start == other._start and self._end == other._end

    def in_order_until(self, ts: float) -> bool:
        """Every point in time order and none after `ts` (the wall clock never stepped back)."""
        return self._ordered and (self._end == self._start or self._ts[self._end - 1] <= ts)

    def between(self, since: float, until: float) -> MidWindow:
        """The points with `since <= ts <= until`, in their order."""
        if not self._ordered:
            return MidWindow.of(tuple(p for p in self if since <= p[0] <= until))
        lo = bisect_left(self._ts, since, self._start, self._end)
        hi = bisect_right(self._ts, until, lo, self._end)
        return MidWindow(self._ts, self._mids, self._sums, self._squares, start=lo, end=hi)

    def values(self) -> list[Decimal]:
        return self._mids[self._start : self._end]

    def first(self) -> Decimal | None:
        return self._mids[self._start] if self._end > self._start else None

    def total(self) -> Decimal:
        """The exact sum of the mids."""
        return EXACT.subtract(self._sums[self._end], self._sums[self._start])

    def total_of_squares(self) -> Decimal:
        """The exact sum of the squared mids."""
        return EXACT.subtract(self._squares[self._end], self._squares[self._start])
