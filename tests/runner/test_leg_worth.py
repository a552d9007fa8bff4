"""What a leg of a set is sure to be paid at settlement (runner/execution/leg_worth.py), by the
one rule of an event's outcomes and the results the loop learned: in a mutually exclusive event a
market determined YES makes the others' NO sure and their YES worthless; a NO result says
nothing of the others (the event need not have a YES); in no such event another market's
result says nothing; a floor is sure whatever happens."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.runner.execution.leg_worth import LegWorth
from kalshi_cli.runner.loop.event_groups import EventGroup
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.units import Side

A, B, C = "EV-A", "EV-B", "EV-C"
GROUP = EventGroup("EV", (A, B, C), complete=True)


def _worth(
    results: dict[str, str], *, exclusive: bool = True, floors: dict[str, D] | None = None
) -> LegWorth:
    groups = dict.fromkeys((A, B, C), GROUP) if exclusive else {}
    terms = {t: MarketTerms(settlement_floor=f) for t, f in (floors or {}).items()}
    return LegWorth(groups=groups, terms=terms, results=results)


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
