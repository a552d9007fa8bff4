"""The hand-built copies on the requote path keep every field: an order counted beside the ones
it replaces is the same order replacing none, and an amended order's memory holds the new terms
with the old ones, as `dataclasses.replace` would have made them."""

from dataclasses import fields, replace
from decimal import Decimal

from kalshi_cli.runner.execution.fills import Sent
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce


def test_an_intent_replacing_none_keeps_every_other_field() -> None:
    # every field away from its default, so a field the copy forgot would show
    intent = Intent(
        "KXT-1",
        Side.NO,
        Action.SELL,
        Decimal("0.37"),
        Decimal("4"),
        Decimal("0.41"),
        "requote",
        strategy="maker",
        post_only=True,
        reduce_only=True,
        time_in_force=TimeInForce.IOC,
        replaces=("o-1", "o-2"),
        fee_rate=Decimal("0.0175"),
    )
    beside = intent.replacing_none()
    assert beside == replace(intent, replaces=())
    for field in fields(Intent):
        if field.name != "replaces":
            assert getattr(beside, field.name) == getattr(intent, field.name), field.name


def test_an_amended_order_remembers_the_new_terms_and_the_old_ones_one_amend_back() -> None:
    first = Sent("c-1", Side.YES, Action.BUY, Decimal("0.40"), Decimal("0.45"), "maker", 1.0)
    second = Sent("c-1", Side.YES, Action.BUY, Decimal("0.42"), Decimal("0.47"), "maker", 2.0)
    third = Sent("c-1", Side.YES, Action.BUY, Decimal("0.43"), Decimal("0.48"), "maker", 3.0)
    once = first.amended(second, 100.0)
    assert once == replace(second, before=first, landed=100.0)
    twice = once.amended(third, 200.0)
    # one amend back: what was sent before the second amend, without its own history
    assert twice == replace(third, before=replace(second, before=None, landed=None), landed=200.0)
    assert twice.at(150.0) == second
    assert twice.at(250.0) is twice
