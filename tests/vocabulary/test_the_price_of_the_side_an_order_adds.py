"""One rule prices the side an order adds, for the risk rules, the exposure a position view
counts, an order's most cost and the assistant's budget: a buy pays its price, a sale opens
the other side at 1 - its price. Read in book terms (an order seen from YES) it agrees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.vocabulary.units import Action, Side, added_price, from_book, to_book


@pytest.mark.parametrize(
    ("side", "action", "price", "added"),
    [
        (Side.YES, Action.BUY, "0.30", "0.30"),  # YES at 0.30
        (Side.YES, Action.SELL, "0.05", "0.95"),  # opens NO at 0.95, not 0.05
        (Side.NO, Action.BUY, "0.40", "0.40"),  # NO at 0.40
        (Side.NO, Action.SELL, "0.40", "0.60"),  # opens YES at 0.60
    ],
)
def test_a_buy_pays_its_price_and_a_sale_the_other_sides(
    side: Side, action: Action, price: str, added: str
) -> None:
    assert added_price(action, D(price)) == D(added)
    # the same order in book terms, seen from YES (a bid buys YES, an ask sells it)
    assert added_price(*from_book(*to_book(side, action, D(price)), Side.YES)) == D(added)
