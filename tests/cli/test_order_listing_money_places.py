"""`kalshi order list`'s order and book cells show every price of the listing to one number of
places: a sub-cent price puts all of them to $0.0001, whole cents stay to the cent."""

from __future__ import annotations

from typing import Any

from kalshi_cli.cli.orders import order_rows


def doc(price: str, yes_price: str) -> dict[str, Any]:
    return {
        "action": "buy",
        "side": "no",
        "price": price,
        "book_side": "ask",
        "yes_price": yes_price,
        "fill_count": "0",
        "remaining_count": "5",
        "created_time": None,
    }


def test_a_sub_cent_price_puts_every_price_of_the_listing_to_four_places() -> None:
    rows = order_rows([doc("0.42", "0.58"), doc("0.3087", "0.6913")])
    assert [(r["trade"], r["book"]) for r in rows] == [
        ("buy no @ $0.4200", "ask @ $0.5800"),
        ("buy no @ $0.3087", "ask @ $0.6913"),
    ]


def test_whole_cents_read_to_the_cent() -> None:
    (row,) = order_rows([doc("0.4200", "0.5800")])
    assert (row["trade"], row["book"]) == ("buy no @ $0.42", "ask @ $0.58")
