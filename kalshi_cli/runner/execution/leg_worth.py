"""What a leg of a set is sure to be paid at settlement, by what the loop knows of its event: the
least it is paid in every outcome the event still allows, by the one rule of an event's outcomes
(vocabulary/event_outcomes.py), with the results the loop learned (determined or settled).

In an event the exchange flags `mutually_exclusive` (at most one market settles YES, and none
may: Kalshi's need not be exhaustive), a market determined YES makes every other market's NO
sure to pay (and its YES sure to pay nothing); a market determined NO says nothing of the others.
A market in no such event is independent: another market's result says nothing of it, and it is
sure of no more than its own terms give (a YES whose `settlement_bounds_type` is `floor` is paid
the floor at least). A sale back below what a leg is sure to pay is a loss the loop would choose:
runner/execution/leg_sets.py holds such a leg to its settlement.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.event_outcomes import INDEPENDENT, MECNET, EventLeg, event_outcomes
from kalshi_cli.vocabulary.models import trading_fee
from kalshi_cli.vocabulary.units import ZERO, Side

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from kalshi_cli.strategy_api import MarketTerms
    from kalshi_cli.vocabulary.clock import Clock


class LegWorth:
    def __init__(
        self,
        *,
        exclusive: Mapping[str, Sequence[str]],
        terms: Mapping[str, MarketTerms],
        results: Mapping[str, str],
        fee_rates: Callable[[str, float], tuple[Decimal, Decimal]],
        clock: Clock,
    ) -> None:
        """`exclusive`: ticker -> the markets the loop trades of its mutually exclusive event
        (runner/loop/event_groups.py `find_events`); `terms`: how each market settles (its
        floor); `results`: each market's result as the loop learned it (services/pretrade/loop.py
        `LoopReads.results`), read at each call; `fee_rates`: a market's (taker, maker) rates
        at a time, and `clock` the time, for what a sale brings after its fee."""
        self._exclusive = exclusive
        self._terms = terms
        self._results = results
        self._fee_rates = fee_rates
        self._clock = clock

    def worse_than_holding(
        self, ticker: str, side: Side, count: Decimal, at: Decimal | None
    ) -> str | None:
        """Why selling `count` contracts of `side` in `ticker` into the bids at `at` (None:
        nobody bids) is sure to lose against holding them to their settlement, if it is: what
        they are sure to be paid there is more than the sale brings after its taker fee. None
        when it is not (nothing is sure of them: sold at any bid)."""
        sure = self.sure(ticker, side, count)
        if sure <= 0:
            return None
        brings = ZERO
        if at is not None:
            rate = self._fee_rates(ticker, self._clock.wall())[0]
            brings = count * at - trading_fee(count, at, rate)
        if brings >= sure:
            return None
        bids = "nobody bids" if at is None else f"its bids bring ${brings:.4f} after the fee"
        return f"is sure to pay ${sure:.2f} at settlement ({self.basis(ticker)}) and {bids}"

    def sure(self, ticker: str, side: Side, count: Decimal) -> Decimal:
        """The least `count` contracts of `side` in `ticker` are paid at settlement (whole
        cents, as settlement pays): ZERO when nothing is sure."""
        yes = count if side is Side.YES else ZERO
        legs = [self._leg(ticker, yes=yes, no=count - yes)]
        legs += [self._leg(t) for t in self._known_elsewhere(ticker)]
        kind = MECNET if ticker in self._exclusive else INDEPENDENT
        return max(event_outcomes(kind, legs).worst.pnl, ZERO)

    def basis(self, ticker: str) -> str:
        """What makes a leg in `ticker` sure of what it is paid, for a person."""
        known = [f"{t} determined {self._results[t]}" for t in self._known_elsewhere(ticker)]
        if known:
            return ", ".join(known) + ", and at most one market of the event settles YES"
        return "its market's settlement terms"

    def _known_elsewhere(self, ticker: str) -> list[str]:
        """The other markets of `ticker`'s mutually exclusive event whose result is known."""
        others = self._exclusive.get(ticker, ())
        return [t for t in others if t != ticker and t in self._results]

    def _leg(self, ticker: str, *, yes: Decimal = ZERO, no: Decimal = ZERO) -> EventLeg:
        terms = self._terms.get(ticker)
        floor = ZERO if terms is None else terms.settlement_floor
        return EventLeg(ticker, yes, no, floor=floor, result=self._results.get(ticker))
