"""The sets of legs that ended whole (runner/execution/leg_sets.py), as the stop-loss reads them: a
whole set that pays at settlement at least what its legs' prices cost, whatever the outcome (the
one rule, vocabulary/event_outcomes.py, for the mutually exclusive event its legs are in: an
arbitrage set), is hedged, so a leg's bid falling under the stop-loss floor is no loss to stop,
and selling that leg would take a loss and leave the others unhedged. A set that can settle
under its cost (YES in some of an event's markets, any group of legs a strategy that
`uses_events` decides) is no hedge: the stop-loss judges its contracts as any others. The
stop-loss judges and closes only what a market holds beside the hedged sets there (`hedged`),
and only while every leg of those sets is still held: once one is gone (sold by hand, settled)
the sets in it are no longer sure to pay, and the stop-loss reads the whole position again. The
loop's view of a market, which the stop-loss reads, is taken beside them
(runner/loop/turn_views.py). docs/risk.md "Stop-loss floor".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.event_outcomes import MECNET, EventLeg, event_outcomes
from kalshi_cli.vocabulary.units import ZERO, Side

if TYPE_CHECKING:
    from kalshi_cli.store.leg_sets import SetLeg

# a leg as the stop-loss reads it: its market and side
_Leg = tuple[str, Side]


def pays_its_cost(legs: Sequence[SetLeg], count: Decimal) -> bool:
    """Whether `count` of each leg, bought at the leg's price, pay at settlement at least that
    in every outcome of the mutually exclusive event the legs are in (a strategy's legs are all
    of one such event: runner/loop/decision_check.py)."""
    held: dict[str, EventLeg] = {}
    for g in legs:
        leg = held.get(g.ticker) or EventLeg(g.ticker)
        held[g.ticker] = leg.filled(g.side.value, count, g.price)
    return event_outcomes(MECNET, list(held.values())).worst.pnl >= 0


class WholeSets:
    def __init__(self, found: Sequence[tuple[Sequence[SetLeg], Decimal]] = ()) -> None:
        """`found`: the whole sets the state file holds (store/leg_sets.py `whole`), each with
        its legs and the whole sets it holds."""
        self._sets: list[tuple[tuple[_Leg, ...], Decimal]] = []
        self._total: dict[_Leg, Decimal] = {}  # each leg's whole sets, every set's summed
        self._tickers: set[str] = set()
        for legs, count in found:
            self.add(legs, count)

    def add(self, legs: Sequence[SetLeg], count: Decimal) -> None:
        """A set ended whole, holding `count` of each leg: kept when it pays its cost
        (`pays_its_cost`)."""
        if count <= 0 or not pays_its_cost(legs, count):
            return
        kept = tuple((g.ticker, g.side) for g in legs)
        self._sets.append((kept, count))
        for leg in kept:
            self._total[leg] = self._total.get(leg, ZERO) + count
            self._tickers.add(leg[0])

    def hedged(self, ticker: str, position: Callable[[str], Decimal]) -> Decimal:
        """The contracts of `ticker` whole sets hold that are still hedged: those of each set
        in it every one of whose legs the account still holds (`position`: +YES / -NO) as many
        of as the whole sets there hold."""
        if ticker not in self._tickers:
            return ZERO

        def kept(leg: _Leg) -> bool:
            held = position(leg[0])
            on_side = held if leg[1] is Side.YES else -held
            return on_side >= self._total[leg]

        return sum(
            (
                count
                for legs, count in self._sets
                if any(t == ticker for t, _ in legs) and all(kept(g) for g in legs)
            ),
            ZERO,
        )
