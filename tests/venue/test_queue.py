"""The fill model's queue estimate (kalshi_cli/venue/queue.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.venue.queue import MATCH_WINDOW_S, FillModel, QueueSpot
from tests.fakes import ticks

D = Decimal


def test_a_trade_at_our_price_fills_only_what_the_queue_ahead_leaves() -> None:
    spot = QueueSpot.join(D(10), level=D(30), model=FillModel.OPTIMISTIC)
    assert spot.traded_at_our_price(D(25), now=0.0) == 0
    assert spot.ahead == 5
    assert spot.traded_at_our_price(D(8), now=0.0) == 3
    assert spot.remaining == 7 and spot.ahead == 0


def test_the_recordings_trades_take_the_contracts_we_took_ahead_of_us_first() -> None:
    spot = QueueSpot.join(D(10), level=D(30), model=FillModel.OPTIMISTIC)
    spot.took_ahead(D(20))  # an order of ours took the front 20 of the 30 ahead
    assert (spot.ahead, spot.before_us) == (30, 10)
    assert spot.traded_at_our_price(D(5), now=0.0) == 0  # 5 of the 20 we took
    spot.level_changed(D(25), now=0.0)  # its decrease: those 5 leave the recording too
    assert (spot.ahead, spot.before_us) == (25, 10)
    spot.level_changed(D(5), now=0.5)  # 20 more leave: the 15 left of ours, then 5 ahead
    assert spot.traded_at_our_price(D(20), now=0.6) == 0
    assert (spot.ahead, spot.before_us) == (5, 5)
    assert spot.traded_at_our_price(D(8), now=0.7) == 3
    spot.took_ahead(D(50))  # never more than is ahead
    assert spot.before_us == 0


def test_a_trade_whose_decrease_never_came_does_not_match_a_cancel_an_hour_later() -> None:
    spot = QueueSpot.join(D(10), level=D(30), model=FillModel.OPTIMISTIC)
    spot.traded_at_our_price(D(5), now=0.0)  # 25 ahead
    spot.level_changed(D(35), now=0.0)  # its decrease hidden in 10 joining in the same frame
    spot.level_changed(D(15), now=3600.0)  # 20 leave, no trade: a cancel, ahead of us
    spot.expire(now=3602.0)
    assert spot.ahead == 5


@pytest.mark.parametrize("model", list(FillModel))
@pytest.mark.parametrize("second", [D(10), D(15)])
def test_a_decrease_seen_between_two_takes_of_ours_is_what_the_first_took(
    model: FillModel, second: Decimal
) -> None:
    spot = QueueSpot.join(D(10), level=D(30), model=model)
    spot.took_ahead(D(10))
    spot.level_changed(D(20), now=0.1)  # the 10 we took, leaving the recording too
    spot.took_ahead(second)
    spot.expire(now=5.0)
    assert (spot.ahead, spot.before_us) == (20, 20 - second)


def test_pessimistic_a_cancel_is_judged_on_what_stood_behind_us_when_it_came() -> None:
    # nothing stood behind us: a maker ahead of us cancels 10 and places them again, behind us,
    # within the match window; the cancel was ahead of us
    spot = QueueSpot.join(D(5), level=D(30), model=FillModel.PESSIMISTIC)
    spot.level_changed(D(20), now=0.0)
    spot.level_changed(D(30), now=0.1)
    spot.expire(now=2.0)
    assert spot.ahead == 20
    # the one ahead of us leaves, one joins within the window: it is behind us
    spot = QueueSpot.join(D(1), level=D(1), model=FillModel.PESSIMISTIC)
    spot.level_changed(D(0), now=0.0)
    spot.level_changed(D(1), now=0.5)
    spot.level_changed(D(1), now=2.0)
    assert spot.ahead == 0


def test_a_trade_through_our_price_fills_us_first() -> None:
    spot = QueueSpot.join(D(10), level=D(500), model=FillModel.PESSIMISTIC)
    assert spot.traded_through(D(4)) == 4
    assert spot.traded_through(D(40)) == 6
    assert spot.remaining == 0


def test_a_cancel_moves_us_up_only_under_the_optimistic_model() -> None:
    for model, ahead in ((FillModel.OPTIMISTIC, D(10)), (FillModel.PESSIMISTIC, D(30))):
        spot = QueueSpot.join(D(5), level=D(30), model=model)
        spot.level_changed(D(50), now=0.0)  # 20 join behind us
        spot.level_changed(D(30), now=1.0)  # 20 cancelled: ahead of us, or behind?
        spot.expire(now=1.0 + MATCH_WINDOW_S + 0.1)
        assert spot.ahead == ahead, model


def test_a_pessimistic_queue_is_cut_when_the_level_shrinks_below_it() -> None:
    spot = QueueSpot.join(D(5), level=D(30), model=FillModel.PESSIMISTIC)
    spot.level_changed(D(12), now=0.0)
    spot.expire(now=5.0)
    assert spot.ahead == 12


def test_a_decrease_and_its_trade_count_once_whichever_frame_comes_first() -> None:
    for delta_first in (True, False):
        spot = QueueSpot.join(D(5), level=D(20), model=FillModel.OPTIMISTIC)
        if delta_first:
            spot.level_changed(D(12), now=0.0)
            filled = spot.traded_at_our_price(D(8), now=0.0)
        else:
            filled = spot.traded_at_our_price(D(8), now=0.0)
            spot.level_changed(D(12), now=0.0)
        spot.expire(now=10.0)
        assert (filled, spot.ahead) == (D(0), D(12)), delta_first


events = st.lists(
    st.one_of(
        st.tuples(st.just("level"), st.integers(0, 60)),
        st.tuples(st.just("trade"), st.integers(1, 30)),
        st.tuples(st.just("through"), st.integers(1, 30)),
        st.tuples(st.just("wait"), st.integers(0, 3)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 60), count=st.integers(1, 40), stream=events)
def test_pessimistic_never_fills_more_than_optimistic(
    start: int, count: int, stream: list[tuple[str, int]]
) -> None:
    spots = {m: QueueSpot.join(D(count), D(start), m) for m in FillModel}
    now = 0.0
    for kind, n in stream:
        for spot in spots.values():
            if kind == "level":
                spot.level_changed(D(n), now)
            elif kind == "trade":
                spot.traded_at_our_price(D(n), now)
            elif kind == "through":
                spot.traded_through(D(n))
        if kind == "wait":
            now += n * 0.6
        opt, pess = spots[FillModel.OPTIMISTIC], spots[FillModel.PESSIMISTIC]
        assert pess.filled <= opt.filled
        assert opt.filled + opt.remaining == count == pess.filled + pess.remaining
        assert opt.remaining >= 0 and pess.remaining >= 0


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 60),
    count=st.integers(1, 40),
    stream=st.lists(
        st.one_of(
            st.tuples(st.just("level"), st.integers(0, 60)),
            st.tuples(st.just("trade"), st.integers(1, 30)),
            st.tuples(st.just("wait"), st.integers(1, 3)),
        ),
        max_size=30,
    ),
)
def test_through_the_venue_pessimistic_never_fills_more_either(
    start: int, count: int, stream: list[tuple[str, int]]
) -> None:
    """The same order against the same recorded stream, through the whole venue (the exchange
    core fills it): the pessimistic model's fills never exceed the optimistic one's."""
    from kalshi_cli.client.requests import CreateOrder
    from kalshi_cli.venue import LocalVenue, MarketInfo
    from kalshi_cli.vocabulary.clock import ManualClock
    from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce

    t = "KXQ-26JAN01-A"
    filled = {}
    for model in FillModel:
        clock = ManualClock()
        venue = LocalVenue(
            clock,
            [MarketInfo(t, "KXQ-26JAN01", "KXQ", fee_type="quadratic", fee_multiplier="1")],
            balance=D(10_000),
            fill_model=model,
        )
        no = {D("0.45"): D(100)}  # asks above our bid
        venue.book_changed(t, ticks({D("0.50"): D(start)} if start else {}), ticks(no))
        placed = venue.client.orders.create_order(
            CreateOrder(t, BookSide.BID, D("0.50"), D(count), time_in_force=TimeInForce.GTC)
        )
        for kind, n in stream:
            if kind == "level":
                venue.book_changed(t, ticks({D("0.50"): D(n)} if n else {}), ticks(no))
            elif kind == "trade":
                venue.trade(t, D("0.50"), D(n), Side.NO)
            else:
                clock.advance(n * 0.6)
        filled[model] = venue.client.orders.get_order(placed.order_id).fill_count
    assert filled[FillModel.PESSIMISTIC] <= filled[FillModel.OPTIMISTIC]
