"""Integer money (vocabulary/units.py): a price in ticks of $0.0001 and a count in hundredths of a
contract convert to and from Decimal exactly, and a value finer than that is refused, never
rounded."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_cli.vocabulary import models
from kalshi_cli.vocabulary.models import (
    Level,
    Orderbook,
    best_first_levels,
    level_problem,
    level_ticks,
)
from kalshi_cli.vocabulary.units import (
    ONE,
    count_hundredths,
    hundredths_count,
    price_ticks,
    ticks_price,
)

D = Decimal


@given(st.integers(-(10**40), 10**40))
def test_ticks_and_hundredths_round_trip_exactly(n: int) -> None:
    # past Decimal's 28 digits too: nothing is rounded on the way
    assert price_ticks(ticks_price(n)) == n
    assert count_hundredths(hundredths_count(n)) == n


@given(st.integers(-(10**18), 10**18))
def test_ticks_and_hundredths_read_out_in_kalshis_places(n: int) -> None:
    # read out as Kalshi writes them: prices to 4 places, counts to 2
    assert ticks_price(n) == D(n) / 10_000 and ticks_price(n).as_tuple().exponent == -4
    assert hundredths_count(n) == D(n) / 100 and hundredths_count(n).as_tuple().exponent == -2


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6))
def test_a_decimal_converts_only_when_it_is_whole_ticks_or_hundredths(value: Decimal) -> None:
    for convert, back, unit in (
        (price_ticks, ticks_price, D("0.0001")),
        (count_hundredths, hundredths_count, D("0.01")),
    ):
        if value % unit:
            with pytest.raises(ValueError, match="not a whole number"):
                convert(value)
        else:
            assert back(convert(value)) == value


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_a_value_that_is_not_a_finite_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        price_ticks(D(text))
    with pytest.raises(ValueError, match="not a finite number"):
        count_hundredths(D(text))


def test_the_same_price_in_any_number_of_places_is_one_tick_count() -> None:
    assert {price_ticks(D(t)) for t in ("0.56", "0.5600", "0.560000", "5.6E-1")} == {5600}
    assert {count_hundredths(D(t)) for t in ("10", "10.00", "1E+1")} == {1000}


def test_a_book_level_finer_than_a_tick_or_a_hundredth_is_no_level() -> None:
    assert level_ticks(D("0.0015"), D("2.50")) == (15, 250)
    assert level_problem(D("0.00015"), D("1")) is not None
    assert level_problem(D("0.5"), D("0.005")) is not None


_SIDES = st.dictionaries(st.integers(1, 9_999), st.integers(1, 10**12), max_size=12)


@given(_SIDES, st.sampled_from([0, 1, 1 << 16]))
def test_a_side_reads_out_best_first_and_exact_whatever_levels_were_read_before(
    side: dict[int, int], kept: int
) -> None:
    # a level read out before is shared (models._LEVELS_OUT); past the bound, or with none kept,
    # each is built anew: the levels are the same exact Decimals either way, best price first
    expected = tuple(
        (ticks_price(p), hundredths_count(s)) for p, s in sorted(side.items(), reverse=True)
    )
    with mock.patch.object(models, "_LEVELS_KEPT", kept):
        first, again = best_first_levels(side), best_first_levels(side)
    assert first == again == expected
    for level in first:
        assert type(level) is Level
        assert level.price.as_tuple().exponent == -4 and level.size.as_tuple().exponent == -2


@given(_SIDES, _SIDES, st.sampled_from([0, 1, 1 << 16]))
def test_a_books_asks_are_one_less_the_other_sides_best_bid_whatever_was_read_out_before(
    yes: dict[int, int], no: dict[int, int], kept: int
) -> None:
    # a level kept (models._LEVELS_OUT) has its ask worked out as it is read out first; one not
    # kept, or a book of plain pairs, works it out as it is asked: the same exact Decimals
    with mock.patch.object(models, "_LEVELS_KEPT", kept):
        read_out = Orderbook.of("T", yes, no)
    plain = Orderbook(
        "T",
        tuple((price, size) for price, size in read_out.yes_bids),
        tuple((price, size) for price, size in read_out.no_bids),
    )
    for book in (read_out, plain):
        for ask, bids in ((book.yes_ask, book.no_bids), (book.no_ask, book.yes_bids)):
            if not bids:
                assert ask is None
                continue
            price, size = bids[0]
            assert type(ask) is Level and ask == (ONE - price, size)
            assert ask.price.as_tuple() == (ONE - price).as_tuple() and ask.size is size


def test_a_best_bid_read_out_again_is_asked_for_its_implied_ask_once() -> None:
    # each book of a feed is read out anew at every change, and a strategy reads its asks on
    # every call: a best bid that did not change has the ask it had
    side = {4321: 700}
    first, again = Orderbook.of("T", side, side), Orderbook.of("T", side, side)
    assert first.no_bids[0] is again.no_bids[0]
    assert first.yes_ask is again.yes_ask and first.no_ask is again.no_ask
    assert first.yes_ask == (D("0.5679"), D("7.00"))
