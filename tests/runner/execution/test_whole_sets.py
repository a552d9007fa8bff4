"""What the stop-loss leaves to the whole sets of legs in a market (runner/execution/whole_sets.py
`WholeSets.hedged`): the contracts of each whole set there that pays its cost whatever the
event's outcome, while the account still holds every leg of the whole sets, and nothing of a set
once one of its legs is gone, nor of one that can settle under its cost."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.execution.whole_sets import WholeSets
from kalshi_cli.store.leg_sets import SetLeg
from kalshi_cli.vocabulary.units import Side

A, B, C, D = "KXSET-A", "KXSET-B", "KXSET-C", "KXSET-D"


def _legs(side: Side, price: str, *tickers: str) -> list[SetLeg]:
    return [SetLeg(t, side, Decimal(price), Decimal(1)) for t in tickers]


# NO in three markets of a mutually exclusive event at $0.60: $1.80 for at least $2.00
NO_SET = _legs(Side.NO, "0.60", A, B, C)


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
    whole.add(_legs(Side.NO, "0.45", A, D), Decimal(2))  # $0.90 for at least $1.00
    both = _held(a=7, b=5, c=5, d=2)
    assert whole.hedged(A, both.__getitem__) == 7
    short = _held(a=6, b=5, c=5, d=2)  # A holds less than the two sets: neither is sure
    assert [whole.hedged(t, short.__getitem__) for t in (A, B, D)] == [0, 0, 0]


def test_a_whole_set_that_can_settle_under_its_cost_is_left_to_the_stop_loss() -> None:
    """A set is any group of legs one decision of a strategy that `uses_events` sends; only one
    that pays at least its cost whatever the event's outcome is hedged. YES in two markets of an
    event (a bet one of them wins) pays nothing when a third wins, and NO in two at $0.60 pays
    $1.00 when one of them wins, so the stop-loss judges every contract of either, as read by a
    start from the state file (store/leg_sets.py `whole`) and as the loop ends a set."""
    for side, price in ((Side.YES, "0.40"), (Side.NO, "0.60")):
        legs = _legs(side, price, A, B)
        sign = 1 if side is Side.YES else -1
        held = {A: Decimal(5 * sign), B: Decimal(5 * sign)}
        found = WholeSets([(legs, Decimal(5))])
        ended = WholeSets()
        ended.add(legs, Decimal(5))
        for whole in (found, ended):
            assert [whole.hedged(t, held.__getitem__) for t in (A, B)] == [0, 0]


def test_a_whole_set_that_pays_exactly_its_cost_is_hedged() -> None:
    """NO in two markets at $0.50: $1.00 for at least $1.00 (one of them winning), so no outcome
    settles it under its cost."""
    whole = WholeSets()
    whole.add(_legs(Side.NO, "0.50", A, B), Decimal(5))
    held = _held(a=5, b=5)
    assert [whole.hedged(t, held.__getitem__) for t in (A, B)] == [5, 5]


def test_a_whole_set_of_one_contract_a_leg_is_hedged() -> None:
    whole = WholeSets([(NO_SET, Decimal(1))])
    held = _held(a=1, b=1, c=1)
    assert [whole.hedged(t, held.__getitem__) for t in (A, B, C)] == [1, 1, 1]


def test_two_legs_of_a_set_in_one_market_both_count_in_what_it_may_settle_at() -> None:
    """NO twice in A at $0.30 and once in B at $0.60: $1.20 that pays $1.00 when A wins. Read
    as one leg in A, it would be $0.90 sure to pay $1.00."""
    legs = [*_legs(Side.NO, "0.30", A, A), *_legs(Side.NO, "0.60", B)]
    whole = WholeSets([(legs, Decimal(1))])
    held = _held(a=2, b=1)
    assert [whole.hedged(t, held.__getitem__) for t in (A, B)] == [0, 0]


def test_a_whole_set_with_a_yes_leg_is_hedged_while_the_account_holds_that_yes() -> None:
    """YES in A at $0.10, NO in B and C at $0.40: $0.90 that pays at least $1.00 whichever wins
    or none."""
    legs = [*_legs(Side.YES, "0.10", A), *_legs(Side.NO, "0.40", B, C)]
    whole = WholeSets([(legs, Decimal(5))])
    held = {A: Decimal(5), B: Decimal(-5), C: Decimal(-5)}
    assert [whole.hedged(t, held.__getitem__) for t in (A, B, C)] == [5, 5, 5]


def test_a_market_is_hedged_only_by_the_whole_sets_with_a_leg_in_it() -> None:
    whole = WholeSets()
    whole.add(_legs(Side.NO, "0.45", A, B), Decimal(2))
    whole.add(_legs(Side.NO, "0.45", C, D), Decimal(3))
    held = _held(a=2, b=2, c=3, d=3)
    assert [whole.hedged(t, held.__getitem__) for t in (A, B, C, D)] == [2, 2, 3, 3]
