"""An event's worst and best case at settlement: Kalshi's worked examples, and properties that hold
for any positions."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kalshi_cli.vocabulary.event_outcomes import (
    DIRECNET,
    INDEPENDENT,
    MECNET,
    EventLeg,
    EventOutcome,
    MarketStrike,
    event_outcomes,
    settlement_paid,
)

D = Decimal


def test_kalshis_mutually_exclusive_example_no_at_060_and_070_can_lose_030() -> None:
    """help.kalshi.com "Collateral return": NO on Clinton at 60c and NO on Kerry at 70c of three
    candidates cost $1.30, and one of the two always pays $1."""
    held = [
        EventLeg("CLINTON", no=D(1), cost=D("0.60")),
        EventLeg("KERRY", no=D(1), cost=D("0.70")),
    ]
    result = event_outcomes(MECNET, held)
    assert result.rule == MECNET
    assert result.outcomes == (
        EventOutcome("CLINTON yes", D("-0.30")),
        EventOutcome("KERRY yes", D("-0.30")),
        EventOutcome("none yes", D("0.70")),  # Tillerson, or nobody
    )
    assert result.worst == EventOutcome("CLINTON yes", D("-0.30"))
    assert result.best == EventOutcome("none yes", D("0.70"))


def test_a_ladder_yes_on_the_lowest_strike_and_no_on_the_next_can_lose_070_not_270() -> None:
    held = [
        EventLeg("ABOVE120", yes=D(3), cost=D("1.50"), strike=MarketStrike("greater", D(120))),
        EventLeg("ABOVE130", no=D(2), cost=D("1.20"), strike=MarketStrike("greater", D(130))),
    ]
    result = event_outcomes(DIRECNET, held)
    assert result.outcomes == (
        EventOutcome("x <= 120", D("-0.70")),
        EventOutcome("120 < x <= 130", D("2.30")),
        EventOutcome("x > 130", D("0.30")),
    )
    assert result.worst == EventOutcome("x <= 120", D("-0.70"))
    # the same positions read as independent markets could lose everything
    assert event_outcomes("", held).worst.pnl == D("-2.70")


def test_a_strike_is_an_outcome_of_its_own_where_greater_and_greater_or_equal_part() -> None:
    held = [
        EventLeg("GT", yes=D(1), cost=D("0.40"), strike=MarketStrike("greater", D(100))),
        EventLeg("GE", no=D(1), cost=D("0.50"), strike=MarketStrike("greater_or_equal", D(100))),
    ]
    names = [o.name for o in event_outcomes(DIRECNET, held).outcomes]
    assert names == ["x < 100", "x = 100", "x > 100"]
    # at exactly 100 GE pays YES and GT does not: both lose
    assert event_outcomes(DIRECNET, held).worst == EventOutcome("x = 100", D("-0.90"))


def test_range_buckets_have_the_gap_between_them_as_an_outcome_where_both_settle_no() -> None:
    held = [
        EventLeg(
            "B1", yes=D(1), cost=D("0.50"), strike=MarketStrike("between", D(100), D("109.99"))
        ),
        EventLeg(
            "B2", yes=D(1), cost=D("0.40"), strike=MarketStrike("between", D(110), D("119.99"))
        ),
    ]
    result = event_outcomes(DIRECNET, held)
    assert EventOutcome("109.99 < x < 110", D("-0.90")) in result.outcomes
    assert result.best.pnl == D("0.10")


def test_a_ladder_market_without_a_readable_strike_makes_the_event_independent() -> None:
    held = [
        EventLeg("A", yes=D(1), cost=D("0.50"), strike=MarketStrike("greater", D(1))),
        EventLeg("B", no=D(1), cost=D("0.50"), strike=MarketStrike("custom")),
    ]
    assert event_outcomes(DIRECNET, held).rule == INDEPENDENT


def test_a_settled_market_leaves_only_the_outcomes_that_agree_with_it() -> None:
    held = [
        EventLeg("A", no=D(1), cost=D("0.60"), result="yes"),
        EventLeg("C", no=D(1), cost=D("0.70")),
    ]
    assert event_outcomes(MECNET, held).outcomes == (EventOutcome("A yes", D("-0.30")),)
    ladder = [
        EventLeg(
            "L", yes=D(3), cost=D("1.50"), strike=MarketStrike("greater", D(120)), result="yes"
        ),
        EventLeg("M", no=D(2), cost=D("1.20"), strike=MarketStrike("greater", D(130))),
    ]
    assert [o.name for o in event_outcomes(DIRECNET, ladder).outcomes] == [
        "120 < x <= 130",
        "x > 130",
    ]


def test_two_yes_results_in_a_mutually_exclusive_event_fall_back_to_independent_markets() -> None:
    held = [EventLeg("A", no=D(1), cost=D("0.6"), result="yes"), EventLeg("B", result="yes")]
    assert event_outcomes(MECNET, held).rule == INDEPENDENT


def test_a_resting_order_counted_as_filled_adds_its_count_price_and_fee() -> None:
    held = EventLeg("A", no=D(1), cost=D("0.60")).filled("yes", D(2), D("0.30"), D("0.03"))
    assert (held.yes, held.no, held.cost) == (D(2), D(1), D("1.23"))


def test_a_floor_settlement_pays_yes_the_floor_and_no_the_rest_on_a_no_result() -> None:
    held = EventLeg("A", yes=D(1), no=D(2), cost=D(0), floor=D("0.25"))
    assert held.payout(False) == D("1.75")
    assert held.payout(True) == D(1)


def test_settlement_pays_whole_cents_rounded_down_the_rest_a_fee() -> None:
    """Kalshi's "Market Settlement" example: 3 YES at a floor of $0.2525 are paid $0.75, not
    $0.76 (rounded to nearest) nor $0.7575."""
    assert settlement_paid(D("0.7575")) == D("0.75")
    assert settlement_paid(D("0.016")) == D("0.01")
    assert EventLeg("A", yes=D(3), floor=D("0.2525")).payout(False) == D("0.75")


def test_a_resting_order_loses_its_price_and_fee_where_it_loses() -> None:
    held = EventLeg("A").resting("yes", D(10), D("0.40"), D("0.07"))
    assert (held.losing_yes, held.losing_no) == (D(0), D("-4.07"))


def test_a_market_settled_no_is_no_candidate_of_a_mutually_exclusive_event() -> None:
    held = [
        EventLeg("A", no=D(1), cost=D("0.60"), result="no"),
        EventLeg("B", no=D(1), cost=D("0.70")),
    ]
    assert event_outcomes(MECNET, held).outcomes == (
        EventOutcome("B yes", D("-0.30")),
        EventOutcome("none yes", D("0.70")),
    )


def test_independent_markets_keep_a_settled_result_and_name_each_side() -> None:
    held = [
        EventLeg("A", yes=D(1), cost=D("0.40"), result="yes"),
        EventLeg("B", no=D(1), cost=D("0.50")),
    ]
    result = event_outcomes("", held)
    assert result.worst == EventOutcome("A yes, B yes", D("0.10"))
    assert result.best == EventOutcome("A yes, B no", D("1.10"))
    assert event_outcomes("", []).worst == EventOutcome("any", D(0))


def test_a_ladders_outcomes_are_named_with_their_bounds_in_or_out() -> None:
    def names(kind: str, floor: str, cap: str | None = None) -> list[str]:
        strike = MarketStrike(kind, D(floor), None if cap is None else D(cap))
        held = [EventLeg("M", yes=D(1), cost=D("0.50"), strike=strike)]
        return [o.name for o in event_outcomes(DIRECNET, held).outcomes]

    assert names("greater_or_equal", "100") == ["x < 100", "x >= 100"]
    assert names("greater", "100") == ["x <= 100", "x > 100"]
    assert names("between", "4.25", "4.50") == ["x < 4.25", "4.25 <= x <= 4.50", "x > 4.50"]


prices = st.integers(1, 99).map(lambda c: D(c) / 100)
counts = st.integers(0, 20).map(D)


@st.composite
def holdings(draw: st.DrawFn, n_max: int = 5) -> list[EventLeg]:
    n = draw(st.integers(0, n_max))
    found = []
    for i in range(n):
        yes, no = draw(counts), draw(counts)
        cost = yes * draw(prices) + no * draw(prices) + draw(st.integers(0, 9).map(D)) / 100
        kind = draw(st.sampled_from(["greater", "greater_or_equal", "less", "less_or_equal"]))
        low = draw(st.integers(0, 40).map(lambda q: D(q) / 4))  # strikes a quarter apart
        strike = (
            MarketStrike("between", low, low + draw(st.integers(0, 12).map(lambda q: D(q) / 4)))
            if draw(st.booleans())
            else MarketStrike(kind, low, low)
        )
        found.append(EventLeg(f"M{i}", yes=yes, no=no, cost=cost, strike=strike))
    return found


@given(holdings())
def test_the_independent_worst_case_is_each_markets_worst_case_summed(held: list[EventLeg]) -> None:
    each = sum((event_outcomes("", [h]).worst.pnl for h in held), D(0))
    assert event_outcomes("", held).worst.pnl == each
    assert event_outcomes("", held).best.pnl == sum(
        (event_outcomes("", [h]).best.pnl for h in held), D(0)
    )


@given(holdings(), st.sampled_from([MECNET, DIRECNET, ""]))
def test_the_worst_case_is_never_below_minus_the_cost_nor_below_independent_markets(
    held: list[EventLeg], rule: str
) -> None:
    result = event_outcomes(rule, held)
    cost = sum((h.cost for h in held), D(0))
    assert result.worst.pnl >= -cost
    assert result.worst.pnl >= event_outcomes("", held).worst.pnl
    assert result.best.pnl <= event_outcomes("", held).best.pnl
    assert result.worst in result.outcomes and result.best in result.outcomes
    assert all(result.worst.pnl <= o.pnl <= result.best.pnl for o in result.outcomes)


def _settled_at(held: list[EventLeg], x: Decimal) -> Decimal:
    """The P&L of settling each market at x by its own strike."""
    return sum((h.payout(h.strike.pays_yes(x)) - h.cost for h in held if h.strike), D(0))


@given(holdings(), st.integers(-20, 300).map(lambda v: D(v) / 20))
def test_every_expiration_value_settles_a_ladder_into_one_of_its_outcomes(
    held: list[EventLeg], x: Decimal
) -> None:
    assert _settled_at(held, x) in {o.pnl for o in event_outcomes(DIRECNET, held).outcomes} or (
        not held
    )


@given(holdings())
def test_every_outcome_of_a_ladder_is_what_some_expiration_value_settles_it_to(
    held: list[EventLeg],
) -> None:
    """And the other way: no outcome is one that no expiration value gives (the values tried:
    every strike, and every eighth between and around them)."""
    reached = {_settled_at(held, D(v) / 8) for v in range(-8, 8 * 14)}
    assert {o.pnl for o in event_outcomes(DIRECNET, held).outcomes} <= reached
