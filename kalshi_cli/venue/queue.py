"""Where one of our resting orders stands in the recorded queue at its price, and when it fills.

Kalshi's book shows aggregate sizes per price, not the orders in them, so our place in a queue
is an estimate (the approach of hftbacktest and of evan-kolberg/prediction-market-backtesting):

- An order that comes to rest joins the back of its level: the queue `ahead` of it is the
  recorded size at that price when it arrives. Orders that arrive later queue behind it, so an
  increase of the level never moves it.
- A recorded trade at its price (a taker hitting its side) consumes the queue from the front:
  `ahead` falls by the trade's count, and what the trade has left once `ahead` is used up fills
  our order (as a maker, at its price).
- A recorded trade at a price *worse* than ours on our side (the taker sold YES below our YES
  bid) would have met our better price first: it fills our order up to the trade's count,
  whatever the queue.
- A recorded decrease of the level is either a trade's (the same contracts the trade frame
  reports, whichever of the two frames came first) or a cancel. A decrease not matched by a
  trade at that price within `match_window_s` is a cancel, and the fill model says whose:
    OPTIMISTIC   the cancelled contracts were ahead of us: `ahead` falls by them.
    PESSIMISTIC  they were behind us, as far as the level behind us goes: `ahead` falls only
                 when the level has become smaller than the queue we thought was ahead.
  In both, `ahead` never exceeds what the level still holds (counting decreases still waiting
  for their trade), so the pessimistic queue is never shorter than the optimistic one, and
  the pessimistic model never fills more (tests/venue/test_queue.py, a property test).

The arithmetic is `Decimal` throughout, as every count in this code is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class FillModel(StrEnum):
    OPTIMISTIC = "optimistic"
    PESSIMISTIC = "pessimistic"


MATCH_WINDOW_S = 1.0


@dataclass
class QueueSpot:
    """One resting order of ours: its remaining count and the recorded queue ahead of it."""

    remaining: Decimal
    ahead: Decimal
    level: Decimal  # the recorded size at our price when last seen (ours not included)
    model: FillModel
    # level decreases not (yet) matched by a trade: (time, count), oldest first
    pending: list[tuple[float, Decimal]] = field(default_factory=list)  # times
    # trade volume at our price whose level decrease has not arrived yet
    unmatched_trades: Decimal = ZERO
    filled: Decimal = ZERO

    @classmethod
    def join(cls, remaining: Decimal, level: Decimal, model: FillModel) -> QueueSpot:
        return cls(remaining=remaining, ahead=level, level=level, model=model)

    def _pending_total(self) -> Decimal:
        return sum((c for _, c in self.pending), ZERO)

    def level_changed(self, size: Decimal, now: float) -> None:  # time
        """The recorded size at our price is now `size`."""
        delta = size - self.level
        self.level = size
        if delta < 0:
            decrease = -delta
            matched = min(decrease, self.unmatched_trades)
            self.unmatched_trades -= matched
            decrease -= matched
            if decrease > 0:
                self.pending.append((now, decrease))
        self.expire(now)

    def expire(self, now: float) -> None:  # time
        """Decreases older than the match window are cancels."""
        cancelled = ZERO
        while self.pending and now - self.pending[0][0] > MATCH_WINDOW_S:
            cancelled += self.pending.pop(0)[1]
        if cancelled and self.model is FillModel.OPTIMISTIC:
            self.ahead = max(self.ahead - cancelled, ZERO)
        self._clip()

    def _clip(self) -> None:
        # what is ahead of us is still on the level, or in a decrease awaiting its trade
        self.ahead = min(self.ahead, self.level + self._pending_total())

    def traded_at_our_price(self, count: Decimal, now: float) -> Decimal:  # time
        """A recorded trade of `count` at our price; returns what fills us."""
        self.expire(now)
        matched = min(count, self._pending_total())
        left = matched
        while left > 0 and self.pending:
            t, c = self.pending[0]
            take = min(c, left)
            left -= take
            if take == c:
                self.pending.pop(0)
            else:
                self.pending[0] = (t, c - take)
        self.unmatched_trades += count - matched
        if count <= self.ahead:
            self.ahead -= count
            return ZERO
        fill = min(count - self.ahead, self.remaining)
        self.ahead = ZERO
        return self._fill(fill)

    def traded_through(self, count: Decimal) -> Decimal:
        """A recorded trade at a price worse than ours on our side: it would have met us first."""
        return self._fill(min(count, self.remaining))

    def _fill(self, count: Decimal) -> Decimal:
        self.remaining -= count
        self.filled += count
        return count
