"""A count or price already typed (`check_count`, `check_dollars`: what the loop asks of every
order a strategy decides) is held to exactly the rules its text would meet (`parse_count`,
`parse_price`): the same refusals in the same words, and the same amount when accepted."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kalshi_cli.vocabulary.order_terms import (
    TermsError,
    check_count,
    check_dollars,
    parse_count,
    parse_price,
)

# every shape a Decimal takes: exponents either way, signs, zeros, NaN and infinities, amounts
# past the limit, more places than a count or a price may have
decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=Decimal("-2"), max_value=Decimal("2"), places=6),
    st.builds(
        Decimal,
        st.tuples(
            st.integers(0, 1),
            st.tuples(*[st.integers(0, 9)] * 3),
            st.integers(-8, 14),
        ),
    ),
)

CHECKS: list[tuple[Callable[[object], Decimal], Callable[[str], Decimal]]] = [
    (check_count, parse_count),
    (check_dollars, parse_price),
]


def outcome(call: Callable[[], Decimal]) -> tuple[str, object]:
    try:
        return "accepted", call()
    except TermsError as exc:
        return "refused", [(p.field, p.message, p.code) for p in exc.problems]


@pytest.mark.parametrize(("typed", "text"), CHECKS, ids=["count", "price"])
@settings(max_examples=400)
@given(value=decimals)
@example(value=Decimal("1E+2"))
@example(value=Decimal("0.45"))
@example(value=Decimal("-0"))
@example(value=Decimal("1E-7"))
@example(value=Decimal("1E+12"))
@example(value=Decimal("sNaN"))
def test_a_typed_amount_is_accepted_or_refused_as_its_text(
    typed: Callable[[object], Decimal], text: Callable[[str], Decimal], value: Decimal
) -> None:
    got, want = outcome(lambda: typed(value)), outcome(lambda: text(format(value, "f")))
    assert got[0] == want[0], (value, got, want)
    if got[0] == "accepted":
        assert got[1] == want[1]  # the same amount
    else:
        assert got[1] == want[1]  # the same refusal, in the same words


@pytest.mark.parametrize("typed", [check_count, check_dollars], ids=["count", "price"])
@pytest.mark.parametrize("value", [0.5, 1, True, "0.5", None])
def test_anything_but_a_decimal_is_refused(
    typed: Callable[[object], Decimal], value: object
) -> None:
    with pytest.raises(TermsError, match="must be a Decimal"):
        typed(value)
