"""Where one of our resting orders stands in the recorded queue at its price, and when it fills.
Kalshi's book shows aggregate sizes per price, not the orders in them, so our place is an
estimate (the approach of hftbacktest): we join the back of the level, recorded trades consume
it from the front, and an unmatched decrease is a cancel placed ahead of us (OPTIMISTIC) or
behind us (PESSIMISTIC), so the pessimistic model never fills our order more. Contracts at the
front of that queue that our own orders took (`taken`) are gone for us but still in the
recording, whose trades and decreases take them first, as the venue's taking does
(docs/backtesting.md "taking"). The arithmetic is `Decimal` throughout. See
docs/backtesting.md "The venue and the fill model".
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
    # trade volume at our price whose level decrease has not arrived yet: (time, count),
    # oldest first, kept for the match window
    unmatched_trades: list[tuple[float, Decimal]] = field(default_factory=list)  # times
    filled: Decimal = ZERO
    # of the recorded contracts `ahead`, those at its front that our own orders took
    taken: Decimal = ZERO
    # of the pending decreases, the oldest ones seen before our orders last took: the
    # contracts they are were gone before ours took theirs, so they are not what we took
    shielded: Decimal = ZERO

    @classmethod
    def join(cls, remaining: Decimal, level: Decimal, model: FillModel) -> QueueSpot:
        return cls(remaining=remaining, ahead=level, level=level, model=model)

    @property
    def before_us(self) -> Decimal:
        """The recorded contracts still ahead of us: those ahead that we did not take."""
        return self.ahead - self.taken

    def took_ahead(self, count: Decimal) -> None:
        """Our own order took `count` of the contracts ahead of us."""
        self.taken = min(self.taken + count, self.ahead)
        self.shielded = self._pending_total()

    def _less_ahead(self, count: Decimal, shielded: Decimal = ZERO) -> None:
        """`count` of the contracts ahead are gone from the recording, from the front: the
        ones we took go first, but for the `shielded` ones (gone before we took)."""
        self.ahead -= count
        self.taken = max(self.taken - (count - shielded), ZERO)

    def _unshield(self, count: Decimal) -> Decimal:
        """`count` of the pending decreases are settled, oldest first: how many of them were
        shielded."""
        settled = min(count, self.shielded)
        self.shielded -= settled
        return settled

    def _pending_total(self) -> Decimal:
        return sum((c for _, c in self.pending), ZERO)

    def level_changed(self, size: Decimal, now: float) -> None:  # time
        """The recorded size at our price is now `size`. The decreases whose match window
        closed before it are cancels on the level as it was, before this change: contracts
        joining now come behind us."""
        self.expire(now)
        delta = size - self.level
        self.level = size
        if delta < 0:
            decrease = -delta - _take_oldest(self.unmatched_trades, -delta)
            if decrease > 0:
                self.pending.append((now, decrease))
        self._clip()

    def expire(self, now: float) -> None:  # time
        """Decreases older than the match window are cancels. Those the venue counts as the
        contracts our own orders took (taking's rule: a decrease takes those first) were
        ahead of us under either model; the others are ahead of us (OPTIMISTIC) or behind."""
        cancelled = ZERO
        while self.pending and now - self.pending[0][0] > MATCH_WINDOW_S:
            cancelled += self.pending.pop(0)[1]
        while self.unmatched_trades and now - self.unmatched_trades[0][0] > MATCH_WINDOW_S:
            self.unmatched_trades.pop(0)  # its decrease never came (hidden in an increase)
        if cancelled:
            shielded = self._unshield(cancelled)
            ours = min(cancelled - shielded, self.taken)
            self._less_ahead(ours)
            rest = cancelled - ours
            if self.model is FillModel.OPTIMISTIC:
                cut = min(rest, self.ahead)
            else:  # behind us, as far as the level behind us goes
                cut = min(rest, max(self.ahead - self.level - self._pending_total(), ZERO))
            self._less_ahead(cut, min(shielded, cut))
        self._clip()

    def _clip(self) -> None:
        # what is ahead of us is still on the level, or in a decrease awaiting its trade
        self._less_ahead(max(self.ahead - (self.level + self._pending_total()), ZERO))

    def traded_at_our_price(self, count: Decimal, now: float) -> Decimal:  # time
        """A recorded trade of `count` at our price; returns what fills us."""
        self.expire(now)
        matched = _take_oldest(self.pending, count)
        if count > matched:
            self.unmatched_trades.append((now, count - matched))
        shielded = self._unshield(matched)
        if count <= self.ahead:
            self._less_ahead(count, shielded)
            return ZERO
        fill = min(count - self.ahead, self.remaining)
        self._less_ahead(self.ahead, min(shielded, self.ahead))
        return self._fill(fill)

    def traded_through(self, count: Decimal) -> Decimal:
        """A recorded trade at a price worse than ours on our side: it would have met us first."""
        return self._fill(min(count, self.remaining))

    def _fill(self, count: Decimal) -> Decimal:
        self.remaining -= count
        self.filled += count
        return count


def _take_oldest(queue: list[tuple[float, Decimal]], count: Decimal) -> Decimal:
    """Take up to `count` from a list of (time, count), oldest first; returns how much."""
    left = count
    while left > 0 and queue:
        t, c = queue[0]
        take = min(c, left)
        left -= take
        if take == c:
            queue.pop(0)
        else:
            queue[0] = (t, c - take)
    return count - left
