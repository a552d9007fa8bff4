"""The one rule between Decimal money and the integers a hot path holds: every price Kalshi
allows (whole ticks of $0.0001 between $0 and $1, on any price structure) and every count (whole
hundredths of a contract) goes to its integer and back unchanged, the integers keep the order
and the sums of the values, and a value finer than its unit is refused rather than rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_cli.vocabulary.fixed import from_hundredths, from_ticks, to_hundredths, to_ticks
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES

PRICES = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)
COUNTS = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@given(PRICES)
def test_every_price_goes_to_ticks_and_back_unchanged(price: Decimal) -> None:
    ticks = to_ticks(price)
    assert isinstance(ticks, int) and 0 <= ticks <= 10_000
    assert from_ticks(ticks) == price
    assert str(from_ticks(ticks)) == f"{price:.4f}"  # the wire's four places


@given(COUNTS)
def test_every_count_goes_to_hundredths_and_back_unchanged(count: Decimal) -> None:
    hundredths = to_hundredths(count)
    assert isinstance(hundredths, int)
    assert from_hundredths(hundredths) == count
    assert str(from_hundredths(hundredths)) == f"{count:.2f}"


@given(PRICES, PRICES, COUNTS, COUNTS)
def test_the_integers_keep_order_and_sums(p: Decimal, q: Decimal, a: Decimal, b: Decimal) -> None:
    assert (to_ticks(p) < to_ticks(q)) == (p < q)
    assert from_ticks(to_ticks(p) + to_ticks(q)) == p + q
    assert (to_hundredths(a) < to_hundredths(b)) == (a < b)
    assert from_hundredths(to_hundredths(a) - to_hundredths(b)) == a - b


def test_every_tick_of_every_price_structure_is_a_whole_number_of_ticks() -> None:
    for ranges in PRICE_STRUCTURES.values():
        for r in ranges:
            price = r.start
            while price <= r.end:
                assert from_ticks(to_ticks(price)) == price
                price += r.step


@pytest.mark.parametrize(
    ("convert", "value"),
    [
        (to_ticks, "0.00005"),
        (to_ticks, "0.12345"),
        (to_hundredths, "0.001"),
        (to_hundredths, "1.005"),
    ],
)
def test_a_value_finer_than_its_unit_is_refused_not_rounded(convert: object, value: str) -> None:
    with pytest.raises(ValueError, match="finer than"):
        convert(Decimal(value))  # type: ignore[operator]
