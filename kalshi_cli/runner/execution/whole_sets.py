"""The sets of legs that ended whole (runner/execution/leg_sets.py), as the stop-loss reads them: a
whole set pays at settlement at least what it cost, whatever the outcome, so a leg's bid falling
under the stop-loss floor is no loss to stop, and selling that leg would take a loss and leave
the others unhedged. The stop-loss judges and closes only what a market holds beside the whole
sets there (`hedged`), and only while every leg of those sets is still held: once one is gone
(sold by hand, settled) the sets in it are no longer sure to pay, and the stop-loss reads the
whole position again. The loop's view of a market, which the stop-loss reads, is taken
beside them (runner/loop/turn_views.py). docs/risk.md "Stop-loss floor".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.units import ZERO, Side

if TYPE_CHECKING:
    from kalshi_cli.store.leg_sets import SetLeg

# a leg as the stop-loss reads it: its market and side
_Leg = tuple[str, Side]


class WholeSets:
    def __init__(self, found: Sequence[tuple[Sequence[SetLeg], Decimal]] = ()) -> None:
        """`found`: the whole sets the state file holds (store/leg_sets.py `whole`), each with
        its legs and the whole sets it holds."""
        self._sets: list[tuple[tuple[_Leg, ...], Decimal]] = []
        self._total: dict[_Leg, Decimal] = {}  # each leg's whole sets, every set's summed
        self._tickers: set[str] = set()
        for legs, count in found:
            self.add([(g.ticker, g.side) for g in legs], count)

    def add(self, legs: Sequence[_Leg], count: Decimal) -> None:
        """A set ended whole, holding `count` of each leg."""
        if count <= 0:
            return
        self._sets.append((tuple(legs), count))
        for leg in legs:
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
