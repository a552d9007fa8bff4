"""The matching core's faster paths (docs/benchmarks.md, matching core) give what
the code they replaced gave: `floor_cents` by truncation equals flooring through
`to_integral_value`, and a market's tick set found by the identity of its `price_ranges` equals
the one computed from the ranges' values, for a tuple built anew (a journal restore builds one
per market) as for the shared one."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from hypothesis import given
from hypothesis import strategies as st

from kalshi_cli.sim.core.account_state import floor_cents
from kalshi_cli.sim.core.reference import _market_ticks, _ticks
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES, PriceRange


def reference_floor_cents(dollars: Decimal) -> int:
    return int((dollars * 100).to_integral_value(rounding=ROUND_FLOOR))


@given(
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=6)
    | st.decimals(min_value=Decimal(-2), max_value=Decimal(2), allow_nan=False, places=10)
)
def test_floor_cents_floors_as_before(dollars: Decimal) -> None:
    assert floor_cents(dollars) == reference_floor_cents(dollars)


def test_floor_cents_on_the_edges() -> None:
    for text in ["0", "-0", "0.0099", "-0.0001", "-0.01", "-0.0100", "1.00", "-1.005", "12.3456"]:
        assert floor_cents(Decimal(text)) == reference_floor_cents(Decimal(text)), text


def test_a_markets_tick_set_is_the_one_its_ranges_give() -> None:
    for ranges in PRICE_STRUCTURES.values():
        assert _market_ticks(ranges) == _ticks(ranges)
        rebuilt = tuple(PriceRange(r.start, r.end, r.step) for r in ranges)  # a restored market
        assert rebuilt is not ranges
        assert _market_ticks(rebuilt) == _ticks(ranges)
        assert _market_ticks(ranges) == _ticks(ranges)  # the cached answer is still right
    one = (PriceRange(Decimal("0.10"), Decimal("0.20"), Decimal("0.05")),)
    assert _market_ticks(one) == frozenset({Decimal("0.10"), Decimal("0.15"), Decimal("0.20")})
