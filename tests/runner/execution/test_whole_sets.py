"""What the stop-loss leaves to the whole sets of legs in a market (runner/execution/whole_sets.py
`WholeSets.hedged`): the contracts of each whole set there while the account still holds every
leg of the whole sets, and nothing of a set once one of its legs is gone."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.execution.whole_sets import WholeSets
from kalshi_cli.vocabulary.units import Side

A, B, C, D = "KXSET-A", "KXSET-B", "KXSET-C", "KXSET-D"
NO_SET = [(A, Side.NO), (B, Side.NO), (C, Side.NO)]


def _held(**no: int) -> dict[str, Decimal]:
    """The account's positions (+YES / -NO), each market's NO given."""
    return {t: Decimal(-no.get(k, 0)) for k, t in zip("abcd", (A, B, C, D), strict=True)}


def test_a_whole_set_held_in_every_leg_is_hedged_in_each() -> None:
    whole = WholeSets()
    whole.add(NO_SET, Decimal(5))
    held = _held(a=7, b=5, c=5)
    assert [whole.hedged(t, held.__getitem__) for t in (A, B, C, D)] == [5, 5, 5, 0]


def test_a_leg_sold_leaves_no_leg_of_the_set_hedged() -> None:
    whole = WholeSets()
    whole.add(NO_SET, Decimal(5))
    held = _held(a=5, b=5, c=3)  # 2 of C's NO sold by hand
    assert [whole.hedged(t, held.__getitem__) for t in (A, B, C)] == [0, 0, 0]


def test_two_sets_sharing_a_market_count_only_while_it_holds_both() -> None:
    whole = WholeSets()
    whole.add(NO_SET, Decimal(5))
    whole.add([(A, Side.NO), (D, Side.NO)], Decimal(2))
    both = _held(a=7, b=5, c=5, d=2)
    assert whole.hedged(A, both.__getitem__) == 7
    short = _held(a=6, b=5, c=5, d=2)  # A holds less than the two sets: neither is sure
    assert [whole.hedged(t, short.__getitem__) for t in (A, B, D)] == [0, 0, 0]
