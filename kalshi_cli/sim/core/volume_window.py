"""One market's trades of the last 24 hours, for `volume_24h`, 16 bytes a distinct trade time. A
trade adds its count; `MatchingEngine.roll_volume` takes it off once a day old. `volume_24h`
keeps its exact value and exponent.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from decimal import Decimal

_HUNDRED = Decimal(100)
_COMPACT_AT = 512  # drop the spent front once it is this long and half of the arrays
# an entry's hundredths fit an int64; a larger count of one time (no limit on an order's count
# refuses it) takes more entries of that time, which a trim drops together
_Q_MAX = (1 << 63) - 1


_HUNDREDTHS: dict[Decimal, int] = {}  # count -> its hundredths (by value: 1 and 1.00 are 100)
_HUNDREDTHS_KEPT = 4096


def _hundredths(count: Decimal) -> int:
    scaled = count * _HUNDRED
    hundredths = int(scaled)
    if hundredths != scaled:
        raise ValueError(f"a traded count is a multiple of 0.01, not {count}")
    if len(_HUNDREDTHS) < _HUNDREDTHS_KEPT:
        _HUNDREDTHS[count] = hundredths
    return hundredths


class VolumeWindow:
    """A market's (time, count) entries of the last 24 hours, oldest first."""

    __slots__ = ("_counts", "_head", "_times", "oldest", "pending")

    def __init__(self, entries: Iterable[tuple[float, Decimal]] = ()) -> None:
        self._times = array("d")
        self._counts = array("q")  # hundredths of a contract
        self._head = 0
        self.oldest = math.inf  # unix seconds; the oldest entry's time, inf if none
        # trades not yet in the arrays, in the order made: the matching core appends here (a
        # list append on the order path, not a call), and every read of the window, the
        # tick's trim first, takes them in (`_take_pending`) before it answers
        self.pending: list[tuple[float, Decimal]] = []
        for time, count in entries:
            self.add(time, count)

    def add(self, time: float, count: Decimal) -> None:  # unix seconds
        hundredths = _HUNDREDTHS.get(count)
        if hundredths is None:
            hundredths = _hundredths(count)
        times, counts = self._times, self._counts
        if len(times) > self._head and times[-1] == time and counts[-1] + hundredths <= _Q_MAX:
            counts[-1] += hundredths
            return
        if len(times) == self._head:
            self.oldest = time
        while True:  # past an int64 of hundredths: more entries of the same time
            part = min(hundredths, _Q_MAX)
            counts.append(part)  # the count first: the arrays never go out of step
            times.append(time)
            hundredths -= part
            if not hundredths:
                return

    def _take_pending(self) -> None:
        pending = self.pending
        if pending:
            self.pending = []
            for time, count in pending:
                self.add(time, count)

    def trim(self, cutoff: float) -> Decimal:  # unix seconds
        """Drop the entries whose time is `<= cutoff`; return their contracts (0 if none)."""
        self._take_pending()
        times, counts = self._times, self._counts
        head, end = self._head, len(times)
        dropped = 0
        while head < end and times[head] <= cutoff:
            dropped += counts[head]
            head += 1
        if head == end:
            del times[:], counts[:]
            head = 0
        elif head >= _COMPACT_AT and 2 * head >= end:
            del times[:head], counts[:head]
            head = 0
        self._head = head
        self.oldest = times[head] if head < len(times) else math.inf
        return Decimal(dropped) / _HUNDRED

    def __len__(self) -> int:
        self._take_pending()
        return len(self._times) - self._head

    def entries(self) -> list[tuple[float, Decimal]]:
        """The live entries, oldest first (a count as the Decimal of its hundredths)."""
        self._take_pending()
        return [
            (self._times[i], Decimal(self._counts[i]) / _HUNDRED)
            for i in range(self._head, len(self._times))
        ]
