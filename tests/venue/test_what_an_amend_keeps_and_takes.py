"""An amend on the local venue (`LocalVenue.amend`), as the exchange makes it: one that keeps its
price and does not grow keeps the order's place in the queue; one that moves goes to the back of
its new level, on its own side's price; one that crosses takes the recorded book as a new order
would, and what it took is gone; a refusal is the exchange's error; each amend made is counted
for the report."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import BadRequestError
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.fakes import ticks

D = Decimal
T = "KXAMD-26JAN01-A"


def _venue() -> tuple[LocalVenue, ManualClock]:
    clock = ManualClock()
    info = MarketInfo(T, "KXAMD-26JAN01", "KXAMD", fee_type="quadratic", fee_multiplier="1")
    return LocalVenue(clock, [info], balance=D(1000)), clock


def _rest(v: LocalVenue, book_side: BookSide, price: str, count: str) -> str:
    placed = v.client.orders.create_order(
        CreateOrder(T, book_side, D(price), D(count), time_in_force=TimeInForce.GTC)
    )
    return placed.order_id


def test_an_amend_to_fewer_contracts_at_its_price_keeps_its_place_in_the_queue() -> None:
    """10 recorded contracts ahead of our bid, 8 of them trade: 2 are left ahead. Cut from 10 to
    6 at the same price, the order keeps that place (the exchange keeps it), so the next 5 that
    trade at its price fill 3 of ours, not none."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))
    order_id = _rest(v, BookSide.BID, "0.40", "10")
    v.trade(T, D("0.40"), D(8), Side.NO)
    assert v.queue_ahead(order_id) == 2
    v.client.orders.amend_order(
        order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.40"), count=D(6))
    )
    assert v.queue_ahead(order_id) == 2
    v.trade(T, D("0.40"), D(5), Side.NO)
    order = v.client.orders.get_order(order_id)
    assert (order.fill_count, order.remaining_count) == (D(3), D(3))


def test_a_no_bid_amended_to_a_new_price_waits_behind_the_recorded_no_bids_there() -> None:
    """A sale of YES at 0.60 is a NO bid at 0.40. Amended to sell at 0.55, it rests as a NO
    bid at 0.45, behind the 9 recorded there: a buyer of 12 YES at 0.55 fills 3 of ours."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.30"): D(10)}), ticks({D("0.40"): D(5), D("0.45"): D(9)}))
    order_id = _rest(v, BookSide.ASK, "0.60", "10")
    assert v.queue_ahead(order_id) == 5
    v.client.orders.amend_order(
        order_id, AmendOrder(ticker=T, book_side=BookSide.ASK, price=D("0.55"), count=D(10))
    )
    assert v.queue_ahead(order_id) == 9
    v.trade(T, D("0.55"), D(12), Side.YES)
    assert v.client.orders.get_order(order_id).fill_count == D(3)


def test_an_amend_crossing_the_recorded_offer_takes_it_and_leaves_none_of_it_to_take_again() -> (
    None
):
    """Our bid at 0.50 amended to 0.60 meets the recorded offer at 0.55 x6 as a new order would
    and fills there; filled whole, it has no place in any queue, and the 6 it took are not
    offered to the next order (a backtest would fill the same contracts twice)."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.45"): D(6)}))  # YES at 0.55 x6
    order_id = _rest(v, BookSide.BID, "0.50", "5")
    amended = v.client.orders.amend_order(
        order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.60"), count=D(6))
    )
    assert (amended.fill_count, amended.remaining_count) == (D(6), D(0))
    assert amended.average_fill_price == D("0.55")
    assert v.queue_ahead(order_id) is None
    assert v.resting_order_ids() == []
    again = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.60"), D(3), time_in_force=TimeInForce.IOC)
    )
    assert again.fill_count == 0


def test_a_refused_amend_is_the_exchanges_error_and_only_amends_made_are_counted() -> None:
    """An amend to a total no more than what filled is refused with the exchange's 400
    (`invalid_count`) and the order rests as it was; the report counts the two amends made,
    not the refusal."""
    v, _ = _venue()
    v.book_changed(T, ticks({}), ticks({D("0.45"): D(6)}))  # nobody bids YES: ours is first
    order_id = _rest(v, BookSide.BID, "0.40", "5")
    v.trade(T, D("0.40"), D(2), Side.NO)
    with pytest.raises(BadRequestError) as refused:
        v.client.orders.amend_order(
            order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.40"), count=D(2))
        )
    assert refused.value.code == "invalid_count"
    assert v.client.orders.get_order(order_id).remaining_count == D(3)
    assert v.stats.amends == 0
    for price in ("0.41", "0.42"):
        v.client.orders.amend_order(
            order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D(price), count=D(5))
        )
    assert v.stats.amends == 2


def test_an_amend_gives_the_order_its_new_client_order_id_and_expiry() -> None:
    """The amend's `updated_client_order_id` and `expiration_time` are the order's from then
    on: it is found by the new id, and expires when the venue's clock reaches the new time."""
    v, clock = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))
    order_id = _rest(v, BookSide.BID, "0.40", "10")
    start = int(clock.wall())
    v.client.orders.amend_order(
        order_id,
        AmendOrder(
            ticker=T,
            book_side=BookSide.BID,
            price=D("0.40"),
            count=D(8),
            updated_client_order_id="requote-2",
            expiration_time=start + 10,
        ),
    )
    assert v.client.orders.get_order(order_id).client_order_id == "requote-2"
    clock.advance(9)
    assert v.resting_order_ids() == [order_id]
    clock.advance(1)
    assert v.client.orders.get_order(order_id).status == "canceled"
    assert v.resting_order_ids() == []
