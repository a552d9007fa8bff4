"""FixedPointDollars formatting: the wire text every simulator price, cost and fee goes out as."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.vocabulary.units import Action, BookSide, Side, book_side_of, fmt_dollars, fmt_money


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0.5"), "0.5000"),
        (D("-0.05"), "-0.0500"),
        (D("12"), "12.0000"),
        # sub-penny digits past the fourth are kept (fees and costs), never rounded away
        (D("0.00015"), "0.000150"),
        (D("0.123456"), "0.123456"),
        # six places is the format's limit: beyond it, half-even rounding
        (D("0.1234565"), "0.123456"),
    ],
)
def test_fmt_dollars_keeps_four_places_and_widens_for_sub_penny_digits(value: D, text: str) -> None:
    assert fmt_dollars(value) == text


def test_fmt_dollars_at_six_places_rounds_half_even() -> None:
    assert fmt_dollars(D("0.0000125"), 6) == "0.000012"


def test_dollars_to_cents_is_exact_and_refuses_a_sub_cent_amount() -> None:
    from decimal import Decimal

    import pytest

    from kalshi_cli.vocabulary.units import dollars_to_cents

    assert dollars_to_cents(Decimal("1000.00")) == 100_000
    assert dollars_to_cents(Decimal("12.34")) == 1234
    with pytest.raises(ValueError, match="whole number of cents"):
        dollars_to_cents(Decimal("10.005"))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("-0.33", "-$0.33"),  # the sign first, never `$-0.33`
        ("99.2000", "$99.20"),  # whole cents: to the cent, never `$99.2000`
        ("1.2", "$1.20"),
        ("1234.5", "$1,234.50"),
        ("0", "$0.00"),
        ("0.0175", "$0.0175"),  # not whole cents: four places, never rounded to $0.02
        ("-0.455", "-$0.4550"),  # never three places
        ("10.302", "$10.3020"),
        ("-1234.5678", "-$1,234.5678"),
        ("-6.499999", "-$6.50"),  # past $0.0001 rounded half-even, then the same rule
        ("3.066666", "$3.0667"),
        ("2.5420073891625615763546798", "$2.5420"),
        ("0.00004", "$0.00"),
        ("-0.00005", "$0.00"),  # no sign on what rounds to nothing
    ],
)
def test_money_for_people_is_whole_cents_or_four_places(value: str, shown: str) -> None:
    assert fmt_money(D(value)) == shown


def test_the_book_side_of_an_order_is_the_same_from_its_wire_text_or_its_enums() -> None:
    # the plain text first: an answer kept for it is the one its enums get
    expected = {
        ("yes", "buy"): BookSide.BID,
        ("no", "sell"): BookSide.BID,
        ("yes", "sell"): BookSide.ASK,
        ("no", "buy"): BookSide.ASK,
    }
    for (side, action), book_side in expected.items():
        assert book_side_of(side, action) == book_side
        assert book_side_of(Side(side), Action(action)) is book_side
