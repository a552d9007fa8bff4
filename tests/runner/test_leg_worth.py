"""What a leg of a set is sure to be paid at settlement (runner/execution/leg_worth.py), by the
one rule of an event's outcomes and the results the loop learned: in a mutually exclusive event a
market determined YES makes the others' NO sure and their YES worthless; a NO result says
nothing of the others (the event need not have a YES); in no such event another market's
result says nothing; a floor is sure whatever happens."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.runner.execution.leg_worth import LegWorth
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Side

A, B, C = "EV-A", "EV-B", "EV-C"
TAKER = D("0.07")


def _worth(
    results: dict[str, str], *, exclusive: bool = True, floors: dict[str, D] | None = None
) -> LegWorth:
    event = dict.fromkeys((A, B, C), (A, B, C)) if exclusive else {}
    terms = {t: MarketTerms(settlement_floor=f) for t, f in (floors or {}).items()}
    return LegWorth(
        exclusive=event,
        terms=terms,
        results=results,
        fee_rates=lambda ticker, at: (TAKER, D(0)),
        clock=ManualClock(),
    )


def test_a_yes_elsewhere_in_a_mutually_exclusive_event_makes_no_sure_and_yes_worthless() -> None:
    worth = _worth({A: "yes"})
    assert worth.sure(B, Side.NO, D(5)) == 5
    assert worth.sure(B, Side.YES, D(5)) == 0
    assert worth.basis(B) == f"{A} determined yes, and at most one market of the event settles YES"


def test_a_no_elsewhere_makes_nothing_sure() -> None:
    assert _worth({A: "no"}).sure(B, Side.NO, D(5)) == 0
    assert _worth({A: "no", C: "no"}).sure(B, Side.NO, D(5)) == 0  # none may settle YES


def test_in_an_event_of_independent_markets_another_result_says_nothing() -> None:
    assert _worth({A: "yes"}, exclusive=False).sure(B, Side.NO, D(5)) == 0


def test_nothing_known_is_nothing_sure() -> None:
    assert _worth({}).sure(B, Side.NO, D(5)) == 0
    assert _worth({}).sure(B, Side.YES, D(5)) == 0


def test_a_floor_is_sure_and_a_no_beside_it_is_paid_the_rest_in_whole_cents() -> None:
    floors = {B: D("0.2525")}
    # 3 YES on a floor of $0.2525 are paid $0.75 whatever happens (settlement's whole cents)
    assert _worth({}, floors=floors).sure(B, Side.YES, D(3)) == D("0.75")
    # A YES: B settles NO, whose NO is paid the rest of $1 ($0.7475 a contract: $3.73 for 5)
    assert _worth({A: "yes"}, floors=floors).sure(B, Side.NO, D(5)) == D("3.73")


def test_a_sale_is_held_only_when_what_it_brings_after_its_fee_is_below_what_is_sure() -> None:
    worth = _worth({A: "yes"})
    # NO 5 of B sure of $5: bids at $0.99 bring $4.95 less the fee, so holding is better
    why = worth.worse_than_holding(B, Side.NO, D(5), D("0.99"))
    assert why is not None and "is sure to pay $5.00" in why and "$4.9465 after the fee" in why
    assert "nobody bids" in str(worth.worse_than_holding(B, Side.NO, D(5), None))
    # nothing sure of B's YES: sold at any bid, and of anything with a NO result elsewhere
    assert worth.worse_than_holding(B, Side.YES, D(5), D("0.01")) is None
    assert _worth({A: "no"}).worse_than_holding(B, Side.NO, D(5), D("0.01")) is None
    # 3 YES on a floor of $0.2525 are sure of $0.75: $0.30 bids bring $0.90 less $0.0441
    floored = _worth({}, floors={B: D("0.2525")})
    assert floored.worse_than_holding(B, Side.YES, D(3), D("0.30")) is None
    assert floored.worse_than_holding(B, Side.YES, D(3), D("0.25")) is not None
