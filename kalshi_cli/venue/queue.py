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
class _Decrease:
    """A decrease of the recorded level at our price, not (yet) matched by a trade."""

    at: float  # time
    count: Decimal
    # of it, contracts our own orders took: a decrease takes those first, counted when it is
    # seen, as the venue's taking counts it (`TakenLevels.book_changed`)
    ours: Decimal
    # of the rest, what cannot have come from behind us: more than stood behind us then
    ahead: Decimal


@dataclass
class QueueSpot:
    """One resting order of ours: its remaining count and the recorded queue ahead of it."""

    remaining: Decimal
    ahead: Decimal
    level: Decimal  # the recorded size at our price when last seen (ours not included)
    model: FillModel
    # level decreases not (yet) matched by a trade, oldest first
    pending: list[_Decrease] = field(default_factory=list)
    # trade volume at our price whose level decrease has not arrived yet: (time, count),
    # oldest first, kept for the match window
    unmatched_trades: list[tuple[float, Decimal]] = field(default_factory=list)  # times
    filled: Decimal = ZERO
    # of the recorded contracts `ahead`, those at its front that our own orders took (until a
    # trade, or a decrease seen at our price, takes them out of the recording too)
    taken: Decimal = ZERO

    @classmethod
    def join(cls, remaining: Decimal, level: Decimal, model: FillModel) -> QueueSpot:
        return cls(remaining=remaining, ahead=level, level=level, model=model)

    @property
    def before_us(self) -> Decimal:
        """The recorded contracts still ahead of us: those ahead that we did not take."""
        return max(self.ahead - self.taken, ZERO)

    def took_ahead(self, count: Decimal) -> None:
        """Our own order took `count` of the contracts ahead of us."""
        self.taken += min(count, self.before_us)

    def _unattributed(self) -> Decimal:
        """What we took that no decrease seen so far has taken out of the recording."""
        return max(self.taken - sum((d.ours for d in self.pending), ZERO), ZERO)

    def level_changed(self, size: Decimal, now: float) -> None:  # time
        """The recorded size at our price is now `size`. The decreases whose match window
        closed before it are settled first, on the level as it was. An unchanged level with
        nothing pending changes nothing: the venue does not call then."""
        self.expire(now)
        decrease = self.level - size
        self.level = size
        if decrease <= 0:
            return  # a level that grew holds what `expire` clipped `ahead` to
        # the decrease of trades already seen: they moved us up, and took ours, when they came
        rest = decrease - _take_oldest(self.unmatched_trades, decrease)
        if rest > 0:
            ours = min(rest, self._unattributed())
            # the level at our price before this decrease, and what of it stood ahead of us
            # (the pending decreases that left from ahead are counted in `ahead` until settled)
            standing = size + rest
            in_front = self.ahead - sum((d.ours + d.ahead for d in self.pending), ZERO)
            behind = max(standing - in_front, ZERO)
            self.pending.append(_Decrease(now, rest, ours, max(rest - ours - behind, ZERO)))
        self._clip()

    def expire(self, now: float) -> None:  # time
        """Decreases older than the match window are cancels: of contracts we took, first
        (either model); of the rest, ahead of us (OPTIMISTIC), or behind us as far as what
        stood behind us then goes (PESSIMISTIC)."""
        while self.pending and now - self.pending[0].at > MATCH_WINDOW_S:
            d = self.pending.pop(0)
            ours = min(d.ours, self.taken, self.ahead)
            self.ahead -= ours
            self.taken -= ours
            rest = d.count - d.ours
            cut = rest if self.model is FillModel.OPTIMISTIC else d.ahead
            self.ahead -= min(cut, self.before_us)
        while self.unmatched_trades and now - self.unmatched_trades[0][0] > MATCH_WINDOW_S:
            self.unmatched_trades.pop(0)  # its decrease never came (hidden in an increase)
        self._clip()

    def _clip(self) -> None:
        # what is ahead of us is still on the level, or in a decrease awaiting its trade
        # asked at every change of the level: most find no decrease pending, and no generator
        # is made to add up nothing
        pending = sum((d.count for d in self.pending), ZERO) if self.pending else ZERO
        self.ahead = min(self.ahead, self.level + pending)

    def traded_at_our_price(self, count: Decimal, now: float) -> Decimal:  # time
        """A recorded trade of `count` at our price; returns what fills us."""
        self.expire(now)
        matched = self._match_decreases(count)
        if count > matched:
            # a trade before its decrease shows: it takes the contracts we took first, now,
            # whether or not the decrease ever shows (contracts joining can hide it)
            self.taken -= min(count - matched, self._unattributed())
            self.unmatched_trades.append((now, count - matched))
        if count <= self.ahead:
            self.ahead -= count
            return ZERO
        fill = min(count - self.ahead, self.remaining)
        self.ahead = ZERO
        return self._fill(fill)

    def _match_decreases(self, count: Decimal) -> Decimal:
        """A trade meets the pending decreases, oldest first, each from its front: the
        contracts of ours in it go first. Returns how much it matched."""
        left = count
        while left > 0 and self.pending:
            d = self.pending[0]
            take = min(d.count, left)
            ours = min(take, d.ours)
            self.taken = max(self.taken - ours, ZERO)
            d.ours -= ours
            d.ahead = max(d.ahead - (take - ours), ZERO)
            d.count -= take
            left -= take
            if d.count == 0:
                self.pending.pop(0)
        return count - left

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
