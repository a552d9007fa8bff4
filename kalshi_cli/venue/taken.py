"""What our orders took from the recorded book, per market and level.

A recorded level keeps its size until the recording says otherwise, so contracts our orders
bought from it would be sold to us again at the next match. `TakenLevels` counts what we took
from each level and hides it (`visible`) until the market's own book shrinks by as much: what a
level lost in the recording is taken to be what we took (`book_changed`). Prices and counts are
held as the book holds them: ticks of $0.0001 and hundredths of a contract (units "Integer
money").
"""

from __future__ import annotations

from collections.abc import Mapping

Level = tuple[bool, int]  # (the YES side?, price in ticks)


class TakenLevels:
    def __init__(self) -> None:
        # ticker -> level -> hundredths our orders took there and the market has not yet taken
        # (`markets`: a market's book change needs `book_changed` only where this holds it)
        self._taken: dict[str, dict[Level, int]] = {}
        self.markets: Mapping[str, object] = self._taken
        # ticker -> level -> its recorded size in hundredths when last seen
        self._seen: dict[str, dict[Level, int]] = {}

    def of(self, ticker: str, yes_side: bool, price: int) -> int:
        """What our orders took of a level and the market has not taken since."""
        taken = self._taken.get(ticker)
        return taken.get((yes_side, price), 0) if taken else 0

    def visible(self, ticker: str, yes_side: bool, price: int, size: int) -> int:
        """What of a recorded level of `size` our orders have not taken."""
        taken = self._taken.get(ticker)
        return max(size - taken.get((yes_side, price), 0), 0) if taken else size

    def took(self, ticker: str, yes_side: bool, price: int, took: int, size: int | None) -> None:
        """Our orders took `took` of a level whose recorded size is `size` now (None: no book of
        the market recorded yet)."""
        key = (yes_side, price)
        taken = self._taken.setdefault(ticker, {})
        taken[key] = taken.get(key, 0) + took
        if size is not None:
            self._seen.setdefault(ticker, {})[key] = size

    def book_changed(self, ticker: str, yes: Mapping[int, int], no: Mapping[int, int]) -> None:
        """A level we took from shrinks as the market takes it too: what it lost is no longer
        counted as ours."""
        taken = self._taken.get(ticker)
        if taken is None:
            return
        seen_at = self._seen.setdefault(ticker, {})
        for key in list(taken):
            yes_side, price = key
            size = (yes if yes_side else no).get(price, 0)
            seen = seen_at.get(key, size)
            if size < seen:
                left = taken[key] - (seen - size)
                if left <= 0 or size == 0:
                    del taken[key]
                    seen_at.pop(key, None)
                    continue
                taken[key] = left
            seen_at[key] = size
        if not taken:
            del self._taken[ticker]
            self._seen.pop(ticker, None)
