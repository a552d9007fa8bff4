"""The crypto settlement rule against hand-computed averages of a known index path, the boundary
seconds of its window, and the strike fields that decide YES."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from kalshi_cli.vocabulary.reference_index import (
    StrikeError,
    settlement_value,
    settles_yes,
    trimmed_count,
    window,
)


def test_of_sixty_values_the_twelve_highest_and_lowest_are_left_out() -> None:
    # 1..60: the 36 kept are 13..48, whose mean is 30.5
    values = [D(n) for n in range(1, 61)]
    assert trimmed_count(60) == 12
    assert settlement_value(values) == D("30.5")


def test_a_spike_in_the_window_does_not_move_the_settlement() -> None:
    # 59 seconds at 68,000.00 and one print at 90,000: trimmed away entirely
    values = [D("68000.00")] * 59 + [D("90000.00")]
    assert settlement_value(values) == D("68000.00")


def test_order_does_not_matter() -> None:
    values = [D("68000") + D(n) / 7 for n in range(60)]
    shuffled = values[:]
    random.Random(4).shuffle(shuffled)
    assert settlement_value(shuffled) == settlement_value(values)


def test_a_hand_computed_path() -> None:
    # 20 at 100, 20 at 101, 20 at 105: drop 12 of the 100s and 12 of the 105s;
    # kept 8 x 100 + 20 x 101 + 8 x 105 = 3660 over 36
    values = [D(100)] * 20 + [D(101)] * 20 + [D(105)] * 20
    assert settlement_value(values) == D(3660) / 36


def test_a_window_short_of_values_trims_a_fifth_of_those_there() -> None:
    values = [D(n) for n in range(1, 11)]  # 10 values: 2 dropped each end, 3..8 kept
    assert settlement_value(values) == D("5.5")
    with pytest.raises(ValueError, match="no index value"):
        settlement_value([])


def test_the_window_takes_the_second_sixty_before_the_close_and_not_the_close() -> None:
    start, end = window(1_710_000_000)
    assert (start, end) == (1_709_999_940, 1_710_000_000)
    seconds = range(start, end)
    assert len(seconds) == 60 and 1_709_999_940 in seconds and 1_710_000_000 not in seconds


@pytest.mark.parametrize(
    ("strike_type", "floor", "cap", "value", "yes"),
    [
        ("greater", "68000", None, "68000.01", True),
        ("greater", "68000", None, "68000", False),
        ("greater_or_equal", "68000", None, "68000", True),
        ("less", None, "68000", "67999.99", True),
        ("less", None, "68000", "68000", False),
        ("less_or_equal", None, "68000", "68000", True),
        ("between", "67500", "67999.99", "67500", True),
        ("between", "67500", "67999.99", "67999.99", True),
        ("between", "67500", "67999.99", "68000", False),
        ("between", "67500", "67999.99", "67499.99", False),
    ],
)
def test_strike_fields_decide_yes(
    strike_type: str, floor: str | None, cap: str | None, value: str, yes: bool
) -> None:
    f = None if floor is None else D(floor)
    c = None if cap is None else D(cap)
    assert settles_yes(strike_type, f, c, D(value)) is yes


@pytest.mark.parametrize(
    ("strike_type", "floor", "cap"),
    [("greater", None, "1"), ("less", "1", None), ("between", "1", None), ("custom", "1", "2")],
)
def test_strike_fields_that_cannot_decide_are_refused(
    strike_type: str, floor: str | None, cap: str | None
) -> None:
    with pytest.raises(StrikeError):
        settles_yes(
            strike_type, None if floor is None else D(floor), None if cap is None else D(cap), D(1)
        )
