"""A fill that turns the account's position to the other side cuts every owner's part left on
the old side (services/owner_parts.py `Owners.book`), a fraction of a contract included: the
parts' room check skips no part whose side differs from the account's, however small the
position it crossed to."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.services.owner_parts import PositionBook
from kalshi_cli.vocabulary.units import BookSide


def test_a_buy_by_hand_turning_a_fractional_short_long_cuts_the_strategys_short() -> None:
    book = PositionBook()
    # the strategy sells 0.2 YES: the account and its part are short 0.2
    book.fill(("T", BookSide.ASK, D("0.40"), D("0.2"), D(0), 1.0, "s1"))
    assert book.owners.held["s1"]["T"].position == D("-0.2")
    # a buy of 0.7 by hand: the account holds 0.5 YES, none of it the strategy's
    book.fill(("T", BookSide.BID, D("0.50"), D("0.7"), D(0), 2.0, None))
    assert book.pnl.markets["T"].position == D("0.5")
    assert book.owners.held["s1"]["T"].position == 0
