"""The limit on an event's loss counts each resting order where it loses and never where it
gains: any of them may fill or not, so no order resting on the other side makes room for more
(docs/risk.md "The limit on an event's loss")."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from itertools import product

from hypothesis import given
from hypothesis import strategies as st

from kalshi_cli.risk.event_loss import EventTerms, event_terms
from kalshi_cli.risk.rules import EventLossRule, RiskContext
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.event_outcomes import (
    DIRECNET,
    MECNET,
    EventLeg,
    MarketStrike,
    event_outcomes,
)
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import STANDARD_FEES

MARKETS = ("A", "B", "C")


# a ladder's strikes ("above 100", "above 110", "above 120"); the other kinds name none
LADDER = {t: MarketStrike("greater", D(k)) for t, k in zip(MARKETS, (100, 110, 120), strict=True)}


def strikes(kind: str) -> dict[str, MarketStrike | None]:
    return dict(LADDER) if kind == DIRECNET else dict.fromkeys(MARKETS)


def event(kind: str = MECNET) -> EventTerms:
    return EventTerms("EV", kind, strikes(kind), lambda t: None)


def check(views: dict[str, PositionView], order: Intent, limit: str) -> bool:
    book = event().book(lambda t: views.get(t, PositionView(t)))
    context = RiskContext(0.0, TradingState.ACTIVE, book.view(order.ticker), event=book)
    return EventLossRule(D(limit)).check(order, context).allowed


def quote(action: Action, price: str) -> Intent:
    return Intent("A", Side.YES, action, D(price), D(100), D(price), "quote")


def test_a_two_sided_quote_is_no_hedge_so_its_other_side_makes_no_room_for_more() -> None:
    """A bid for 100 YES at $0.40 can lose $40 (A no); the offer at $0.60 beside it may never
    fill, so a second bid for 100 could lose $80: past a $50 limit, and refused."""
    bid, offer = quote(Action.BUY, "0.40"), quote(Action.SELL, "0.60")
    resting = (
        RestingOrder("1", Side.YES, Action.BUY, D("0.40"), D(100)),
        RestingOrder("2", Side.YES, Action.SELL, D("0.60"), D(100)),
    )
    views = {"A": PositionView("A", resting=resting[:1])}
    assert check(views, offer, "50")  # it loses $40 where A settles yes: within the limit
    views = {"A": PositionView("A", resting=resting)}
    assert not check(views, bid, "50")


orders = st.builds(
    RestingOrder,
    st.just(""),
    st.sampled_from(Side),
    st.sampled_from(Action),
    st.integers(1, 99).map(lambda c: D(c) / 100),
    st.integers(1, 5).map(D),
)


@given(
    st.lists(st.tuples(st.sampled_from(MARKETS), orders), max_size=4),
    st.sampled_from([MECNET, DIRECNET, ""]),
)
def test_the_worst_case_counted_is_the_worst_of_every_set_of_the_resting_orders_filling(
    resting: list[tuple[str, RestingOrder]], kind: str
) -> None:
    """Exact, not only safe: some set of them filling reaches it."""
    views = {t: PositionView(t, resting=tuple(o for m, o in resting if m == t)) for t in MARKETS}
    counted = event(kind).book(views.__getitem__).worst().pnl
    reached = []
    for filled in product((False, True), repeat=len(resting)):
        legs = {t: EventLeg(t, strike=strike) for t, strike in strikes(kind).items()}
        for (ticker, order), fills in zip(resting, filled, strict=True):
            if fills:
                bid = order.book_side is BookSide.BID
                yes_price = order.price if order.side is Side.YES else 1 - order.price
                price = yes_price if bid else 1 - yes_price
                side = "yes" if bid else "no"
                legs[ticker] = legs[ticker].filled(side, order.remaining, price)
        reached.append(event_outcomes(kind, list(legs.values())).worst.pnl)
    assert counted == min(reached)


def test_an_exit_goes_out_even_where_it_unhedges_the_event() -> None:
    """NO on A at $0.60 and on C at $0.70 lose at worst $0.30; selling C's back at $0.01 would
    make it $1.29 (A yes), past a $0.50 limit, yet an order that only reduces a position is never
    held back (docs/risk.md)."""
    views = {
        "A": PositionView("A", position=D(-1), entry_cost=D("0.60")),
        "C": PositionView("C", position=D(-1), entry_cost=D("0.70")),
    }
    sell = Intent("C", Side.NO, Action.SELL, D("0.01"), D(1), D("0.01"), "exit")
    assert not check(views, sell, "0.50")
    assert check(views, replace(sell, reduce_only=True, time_in_force=TimeInForce.IOC), "0.50")


def test_a_market_whose_yes_settles_at_a_floor_pays_no_only_the_rest() -> None:
    """Two candidates whose YES settles at $0.50 at least (`settlement_bounds_type` floor): NO
    on the loser pays $0.50, not $1, so NO 1 at $0.60 on A and NO 1 at $0.65 on B lose $0.75
    whoever wins, past a limit of $0.70."""
    floor = {"settlement_bounds_type": "floor", "settlement_floor_dollars": "0.50"}
    answer = {
        "event": {"event_ticker": "EV", "collateral_return_type": MECNET},
        "markets": [{"ticker": t, **floor} for t in ("A", "B")],
    }
    views = {"A": PositionView("A", D(-1), D("0.60"), D("0.60"))}
    book = event_terms(answer, lambda t: None).book(lambda t: views.get(t, PositionView(t)))
    order = Intent("B", Side.NO, Action.BUY, D("0.65"), D(1), D("0.65"), "hedge?")
    worst = book.worst(order)
    assert (worst.name, worst.pnl) == ("A yes", D("-0.75"))
    context = RiskContext(0.0, TradingState.ACTIVE, book.view("B"), event=book)
    assert not EventLossRule(D("0.70")).check(order, context).allowed


def test_a_floor_market_that_does_not_give_its_floor_is_counted_at_its_worst() -> None:
    """Two candidates whose YES settles at a floor the answer leaves out: NO on the loser pays
    $1 less that floor, anything down to nothing, so NO 1 at $0.60 on A and NO 1 at $0.65 on B
    may lose all $1.25 whoever wins, never only $0.25 as with no floor; YES 3 and NO 1 held
    there are paid $3 on YES and, at worst, $1 on NO (a floor of $0), never more."""
    held = EventLeg("A", yes=D(3), no=D(1), floor=None)
    assert (held.payout(True), held.payout(False)) == (D(3), D(1))
    answer = {
        "event": {"event_ticker": "EV", "collateral_return_type": MECNET},
        "markets": [
            {"ticker": "A", "settlement_bounds_type": "floor"},
            {"ticker": "B", "settlement_bounds_type": "floor", "settlement_floor_dollars": None},
        ],
    }
    views = {"A": PositionView("A", D(-1), D("0.60"), D("0.60"))}
    book = event_terms(answer, lambda t: None).book(lambda t: views.get(t, PositionView(t)))
    order = Intent("B", Side.NO, Action.BUY, D("0.65"), D(1), D("0.65"), "hedge?")
    assert book.worst(order).pnl == D("-1.25")
    context = RiskContext(0.0, TradingState.ACTIVE, book.view("B"), event=book)
    assert not EventLossRule(D("0.70")).check(order, context).allowed


def test_a_ladder_read_from_the_exchange_keeps_its_strikes() -> None:
    """`GET /events` markets with `strike_type` and `floor_strike` are a ladder: YES 3 at $0.50
    above 120 and NO 2 at $0.60 above 130 lose at worst $0.70, not the $2.70 of independent
    markets (docs/risk.md's worked example)."""
    answer = {
        "event": {"event_ticker": "EV", "collateral_return_type": DIRECNET},
        "markets": [
            {"ticker": t, "strike_type": "greater", "floor_strike": strike}
            for t, strike in (("A120", 120), ("A130", 130))
        ],
    }
    views = {
        "A120": PositionView("A120", D(3), D("0.50"), D("1.50")),
        "A130": PositionView("A130", D(-2), D("0.60"), D("1.20")),
    }
    book = event_terms(answer, lambda t: None).book(views.__getitem__)
    assert (book.worst().name, book.worst().pnl) == ("x <= 120", D("-0.70"))


def test_an_order_in_a_market_the_events_listing_left_out_still_counts() -> None:
    """The event lists A, B and C; a bid for 100 YES at $0.40 in D, which it left out, can
    lose $40 and is refused under a $30 limit."""
    order = Intent("D", Side.YES, Action.BUY, D("0.40"), D(100), D("0.50"), "t")
    assert not check({}, order, "30")
    assert check({}, order, "40")


def test_resting_orders_and_fills_not_read_pay_the_taker_fee_where_they_lose() -> None:
    """A bid resting for 100 YES at $0.40 and a fill of 100 YES at $0.30 told and not read,
    each paying the quadratic taker fee (0.07 x 100 x p x (1 - p), up to the cent: $1.68 and
    $1.47), lose $70 and the fees when A settles NO."""
    views = {
        "A": PositionView(
            "A",
            resting=(RestingOrder("r", Side.YES, Action.BUY, D("0.40"), D(100)),),
            unbooked=(RestingOrder("f", Side.YES, Action.BUY, D("0.30"), D(100)),),
        )
    }
    terms = EventTerms("EV", MECNET, strikes(MECNET), {"A": STANDARD_FEES}.get)
    worst = terms.book(lambda t: views.get(t, PositionView(t))).worst()
    assert worst.pnl == D("-73.15")


def test_a_fill_not_read_counts_where_it_gains_as_a_fill_does() -> None:
    """10 NO of A told filled at $0.60 and 100 NO of B held at $0.50: where B settles YES the
    fill gains $4, so the worst case is -$46, not the -$50 of an order that may never fill."""
    told = RestingOrder("f", Side.NO, Action.BUY, D("0.60"), D(10))
    views = {
        "A": PositionView("A", unbooked=(told,)),
        "B": PositionView("B", D(-100), D("0.50"), D("50.00")),
    }
    worst = event().book(lambda t: views.get(t, PositionView(t))).worst()
    assert (worst.name, worst.pnl) == ("B yes", D("-46.00"))


def test_a_range_market_read_from_the_exchange_keeps_its_cap() -> None:
    answer = {
        "event": {"event_ticker": "EV", "collateral_return_type": DIRECNET},
        "markets": [
            {"ticker": "B1", "strike_type": "between", "floor_strike": 100, "cap_strike": 109.99}
        ],
    }
    strike = event_terms(answer, lambda t: None).strikes["B1"]
    assert strike == MarketStrike("between", D(100), D("109.99"))


def test_a_market_settled_yes_leaves_only_its_outcome_held_or_not() -> None:
    """NO on C at $0.70, and markets not held settled: A YES of a mutually exclusive event, or
    A ("above 100") YES and B ("above 110") NO of a ladder, so C ("above 120") settles NO: one
    outcome is left, +$0.30, and the limit counts a YES bought in C, which can no longer win,
    as lost."""
    held = {"C": PositionView("C", position=D(-1), entry_cost=D("0.70"))}
    for kind, results in ((MECNET, {"A": "yes"}), (DIRECNET, {"A": "yes", "B": "no"})):
        terms = EventTerms("EV", kind, strikes(kind), lambda t: None, results=results)
        book = terms.book(lambda t: held.get(t, PositionView(t)))
        outcomes = book.outcomes()
        assert [o.pnl for o in outcomes.outcomes] == [D("0.30")], (kind, outcomes)
        buy_c = Intent("C", Side.YES, Action.BUY, D("0.10"), D(5), D("0.10"), "c")
        assert book.worst(buy_c).pnl == D("0.30") - D("0.50")
