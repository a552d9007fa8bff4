"""The local venue (kalshi_cli/venue/venue.py): our orders against a recorded book, through the
simulator's exchange core, answered in the client's own models."""

from __future__ import annotations

import inspect
from decimal import ROUND_CEILING, Decimal

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.feed.messages import FeedTrade
from kalshi_cli.venue import FillModel, LocalVenue, MarketInfo
from kalshi_cli.venue.applier import FeedApplier
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import BadRequestError
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, Side, TimeInForce
from tests.conftest import STANDARD_FEES
from tests.fakes import ticks

D = Decimal
T = "KXTEST-26JAN01-A"


def fee(count: str, price: str, rate: str = "0.07") -> Decimal:
    """Kalshi's fee of one fill, by hand: rate x C x P x (1 - P), rounded up to $0.0001."""
    c, p = D(count), D(price)
    return (D(rate) * c * p * (1 - p)).quantize(D("0.0001"), rounding=ROUND_CEILING)


def venue(
    model: FillModel = FillModel.OPTIMISTIC, fee_type: str = "quadratic"
) -> tuple[LocalVenue, ManualClock]:
    clock = ManualClock()
    info = MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type=fee_type, fee_multiplier="1")
    return LocalVenue(clock, [info], balance=D(1000), fill_model=model), clock


def order(book_side: BookSide, price: str, count: str, tif: TimeInForce) -> CreateOrder:
    return CreateOrder(T, book_side, D(price), D(count), time_in_force=tif)


def sale_cancelling_ours(price: str, count: str) -> CreateOrder:
    """An IOC sale whose self-trade prevention cancels our own resting order it meets
    (`maker`) and goes on."""
    return CreateOrder(
        T,
        BookSide.ASK,
        D(price),
        D(count),
        time_in_force=TimeInForce.IOC,
        self_trade_prevention=SelfTradePrevention.MAKER,
    )


def test_taking_walks_the_recorded_levels_and_consumes_them() -> None:
    v, _ = venue()
    yes: dict[Decimal, Decimal] = {D("0.40"): D(50)}
    no = {D("0.45"): D(10), D("0.44"): D(20)}  # YES asks 0.55 x10, 0.56 x20
    v.book_changed(T, ticks(yes), ticks(no))
    result = v.client.orders.create_order(order(BookSide.BID, "0.56", "25", TimeInForce.IOC))
    assert result.fill_count == 25
    fills = sorted(v.client.portfolio.iter_fills(), key=lambda f: f.yes_price)
    assert [(f.yes_price, f.count, f.fee) for f in fills] == [
        (D("0.55"), D(10), fee("10", "0.55")),
        (D("0.56"), D(15), fee("15", "0.56")),
    ]
    balance = D(1000) - D("0.55") * 10 - D("0.56") * 15 - fee("10", "0.55") - fee("15", "0.56")
    assert v.client.portfolio.get_balance().balance == balance
    # the same recorded book again: only the 5 left at 0.56 can be had
    again = v.client.orders.create_order(order(BookSide.BID, "0.56", "10", TimeInForce.IOC))
    assert again.fill_count == 5
    # the recording then shows others taking 15 of the 20 at 0.56: in our world we had taken
    # all 20, so the 5 the recording still shows are ours too, and nothing is left to take
    no[D("0.44")] = D(5)
    del no[D("0.45")]
    v.book_changed(T, ticks(yes), ticks(no))
    assert (
        v.client.orders.create_order(order(BookSide.BID, "0.56", "10", TimeInForce.IOC)).fill_count
        == 0
    )
    # 10 new contracts join the level: those are there for us
    no[D("0.44")] = D(15)
    v.book_changed(T, ticks(yes), ticks(no))
    third = v.client.orders.create_order(order(BookSide.BID, "0.56", "30", TimeInForce.IOC))
    assert third.fill_count == 10
    (pos,) = v.client.portfolio.get_positions()
    assert pos.position == 40


def test_a_resting_order_fills_when_the_recorded_trades_pass_the_queue_ahead() -> None:
    v, clock = venue(fee_type="quadratic_with_maker_fees")
    yes = {D("0.50"): D(30)}
    no = {D("0.48"): D(40)}
    v.book_changed(T, ticks(yes), ticks(no))
    placed = v.client.orders.create_order(order(BookSide.BID, "0.50", "10", TimeInForce.GTC))
    assert placed.fill_count == 0
    assert v.queue_ahead(placed.order_id) == 30
    clock.advance(3)
    v.trade(T, D("0.50"), D(25), Side.NO)  # a NO taker meets the YES bids at 0.50
    assert list(v.client.portfolio.iter_fills()) == []
    v.trade(T, D("0.50"), D(8), Side.NO)
    (fill,) = list(v.client.portfolio.iter_fills())
    assert (fill.count, fill.yes_price, fill.is_taker) == (D(3), D("0.50"), False)
    assert fill.fee == fee("3", "0.50", "0.0175")  # the series charges makers
    assert v.client.orders.get_order(placed.order_id).remaining_count == 7
    assert v.stats.queue_waits == [3.0]


def test_a_recorded_book_crossing_our_resting_price_fills_it() -> None:
    v, _ = venue(FillModel.PESSIMISTIC)
    v.book_changed(T, ticks({D("0.50"): D(100)}), ticks({D("0.45"): D(10)}))
    placed = v.client.orders.create_order(order(BookSide.BID, "0.52", "10", TimeInForce.GTC))
    assert placed.remaining_count == 10
    # someone offers YES at 0.51 (a NO bid at 0.49): it would have met our 0.52 first
    v.book_changed(T, ticks({D("0.50"): D(100)}), ticks({D("0.49"): D(4)}))
    assert v.client.orders.get_order(placed.order_id).fill_count == 4
    (fill,) = list(v.client.portfolio.iter_fills())
    assert fill.yes_price == D("0.52") and not fill.is_taker


def test_pessimistic_and_optimistic_differ_on_a_cancel_ahead() -> None:
    filled = {}
    for model in FillModel:
        v, clock = venue(model)
        v.book_changed(T, ticks({D("0.50"): D(30)}), ticks({D("0.48"): D(40)}))
        placed = v.client.orders.create_order(order(BookSide.BID, "0.50", "10", TimeInForce.GTC))
        v.book_changed(T, ticks({D("0.50"): D(50)}), ticks({D("0.48"): D(40)}))  # 20 join behind us
        v.book_changed(
            T, ticks({D("0.50"): D(30)}), ticks({D("0.48"): D(40)})
        )  # 20 cancelled: whose?
        clock.advance(5)  # no trade came for that decrease: it was a cancel
        v.book_changed(T, ticks({D("0.50"): D(30)}), ticks({D("0.48"): D(40)}))
        v.trade(T, D("0.50"), D(15), Side.NO)
        filled[model] = v.client.orders.get_order(placed.order_id).fill_count
    # optimistic: the 20 were ahead of us (10 left ahead); pessimistic: behind (30 ahead)
    assert filled == {FillModel.OPTIMISTIC: D(5), FillModel.PESSIMISTIC: D(0)}


def test_self_trade_prevention_keeps_us_from_trading_with_ourselves() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.40"): D(10)}))  # YES ask 0.60
    ask = v.client.orders.create_order(order(BookSide.ASK, "0.55", "5", TimeInForce.GTC))
    assert ask.remaining_count == 5
    bid = v.client.orders.create_order(order(BookSide.BID, "0.58", "5", TimeInForce.IOC))
    assert bid.fill_count == 0  # taker_at_cross: our own ask stops our bid
    assert list(v.client.portfolio.iter_fills()) == []


def test_an_order_crossing_our_resting_level_first_meets_the_recorded_queue_ahead_of_it() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks({D("0.50"): D(10)}))  # YES bids 0.40 x30
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    assert v.queue_ahead(bid.order_id) == 30
    # selling YES at 0.40 meets the 30 recorded ahead of our bid before it reaches ours
    ask = v.client.orders.create_order(order(BookSide.ASK, "0.40", "20", TimeInForce.IOC))
    assert ask.fill_count == 20
    assert [(f.yes_price, f.count, f.is_taker) for f in v.client.portfolio.iter_fills()] == [
        (D("0.40"), D(20), True)
    ]
    # what it took was ahead of our bid: 10 are left ahead, and our bid is whole
    assert v.queue_ahead(bid.order_id) == 10
    assert v.client.orders.get_order(bid.order_id).remaining_count == 10
    # the next sale meets the 10 left ahead, then our own bid, which stops it
    again = v.client.orders.create_order(order(BookSide.ASK, "0.40", "15", TimeInForce.IOC))
    assert again.fill_count == 10
    assert v.client.orders.get_order(bid.order_id).remaining_count == 10
    assert v.queue_ahead(bid.order_id) == 0


def test_each_of_our_orders_at_a_level_keeps_the_recorded_queue_ahead_of_it() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks({D("0.50"): D(10)}))
    first = v.client.orders.create_order(order(BookSide.BID, "0.40", "5", TimeInForce.GTC))
    v.book_changed(
        T, ticks({D("0.40"): D(50)}), ticks({D("0.50"): D(10)})
    )  # 20 join behind our first
    second = v.client.orders.create_order(order(BookSide.BID, "0.40", "5", TimeInForce.GTC))
    assert (v.queue_ahead(first.order_id), v.queue_ahead(second.order_id)) == (30, 50)
    # a maker-side stop: the sale meets the 30 recorded ahead of our first order, cancels
    # that (ours), and goes on into the 20 recorded between our two orders
    assert v.client.orders.create_order(sale_cancelling_ours("0.40", "40")).fill_count == 40
    assert v.client.orders.get_order(first.order_id).status == "canceled"
    assert v.client.orders.get_order(second.order_id).remaining_count == 5
    assert v.resting_order_ids() == [second.order_id]
    assert v.queue_ahead(second.order_id) == 10


@pytest.mark.parametrize("model", list(FillModel))
def test_the_recorded_contracts_we_took_ahead_of_our_order_are_not_counted_twice(
    model: FillModel,
) -> None:
    # 30 recorded ahead of our bid; we sell 20 into them. The recording then shows others
    # selling 20 there and the level falling to 10: those were the 20 we took (the venue makes
    # them visible again, `TakenLevels.book_changed`), so they do not reach our bid as well
    v, clock = venue(model)
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks({D("0.50"): D(10)}))
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    first = v.client.orders.create_order(order(BookSide.ASK, "0.40", "20", TimeInForce.IOC))
    clock.advance(0.1)
    v.trade(T, D("0.40"), D(20), Side.NO)
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.50"): D(10)}))
    assert v.queue_ahead(bid.order_id) == 10
    second = v.client.orders.create_order(order(BookSide.ASK, "0.40", "10", TimeInForce.IOC))
    bought = v.client.orders.get_order(bid.order_id).fill_count
    assert (first.fill_count, second.fill_count, bought) == (20, 10, 0)
    assert v.queue_ahead(bid.order_id) == 0
    # the recording's next sales there are the 10 we took too, until they pass its queue
    # ahead of our bid: then they meet it
    v.trade(T, D("0.40"), D(4), Side.NO)
    assert v.client.orders.get_order(bid.order_id).fill_count == 0
    v.trade(T, D("0.40"), D(8), Side.NO)
    assert v.client.orders.get_order(bid.order_id).fill_count == 2


@pytest.mark.parametrize("model", list(FillModel))
def test_an_order_joining_a_level_we_took_from_has_only_what_is_left_ahead_of_it(
    model: FillModel,
) -> None:
    v, _ = venue(model)
    no = {D("0.50"): D(10)}
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))
    took = v.client.orders.create_order(order(BookSide.ASK, "0.40", "20", TimeInForce.IOC))
    assert took.fill_count == 20  # 10 of the recorded 30 are left
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    assert v.queue_ahead(bid.order_id) == 10
    v.book_changed(T, ticks({D("0.40"): D(50)}), ticks(no))  # 20 join, behind our bid
    sale = v.client.orders.create_order(order(BookSide.ASK, "0.40", "30", TimeInForce.IOC))
    assert sale.fill_count == 10  # the 10 ahead of our bid; then ours stops it


@pytest.mark.parametrize("model", list(FillModel))
def test_a_fill_the_core_gives_an_earlier_order_of_ours_at_that_price_is_followed(
    model: FillModel,
) -> None:
    # a later order of ours can be estimated nearer the front than an earlier one at its price
    # (it joined after a decrease not yet matched by a trade); the core fills them in the
    # order they came, and the venue follows the core
    v, clock = venue(model)
    no = {D("0.50"): D(10)}
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))
    first = v.client.orders.create_order(order(BookSide.BID, "0.40", "5", TimeInForce.GTC))
    clock.advance(0.1)
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks(no))
    second = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    clock.advance(0.1)
    v.trade(T, D("0.40"), D(15), Side.NO)  # past the 10 estimated ahead of the second
    assert v.client.orders.get_order(first.order_id).status == "executed"
    assert v.client.orders.get_order(second.order_id).remaining_count == 10
    assert v.resting_order_ids() == [second.order_id]
    v.client.orders.cancel_order(second.order_id)
    sale = v.client.orders.create_order(order(BookSide.ASK, "0.40", "10", TimeInForce.IOC))
    assert sale.fill_count == 10


def test_orders_of_ours_placed_at_one_instant_fill_in_the_order_they_were_placed() -> None:
    for _ in range(16):  # each venue's ids differ: an order that hung on them would vary
        v, clock = venue()
        v.book_changed(T, ticks({D("0.30"): D(10)}), ticks({D("0.62"): D(10)}))
        first = v.client.orders.create_order(order(BookSide.ASK, "0.38", "1", TimeInForce.GTC))
        second = v.client.orders.create_order(order(BookSide.ASK, "0.38", "1", TimeInForce.GTC))
        clock.advance(1)
        v.trade(T, D("0.39"), D(1), Side.YES)  # a NO taker at 0.61, through our NO bids at 0.62
        assert v.client.orders.get_order(first.order_id).fill_count == 1
        assert v.resting_order_ids() == [second.order_id]


def test_pessimistic_a_level_that_empties_then_refills_puts_the_newcomers_behind_us() -> None:
    v, clock = venue(FillModel.PESSIMISTIC)
    no = {D("0.48"): D(10)}
    v.book_changed(T, ticks({D("0.50"): D(1)}), ticks(no))
    bid = v.client.orders.create_order(order(BookSide.BID, "0.50", "1", TimeInForce.GTC))
    v.book_changed(T, ticks({}), ticks(no))  # the one ahead of us is gone (no trade came: a cancel)
    clock.advance(1.2)
    v.book_changed(T, ticks({D("0.50"): D(1)}), ticks(no))  # a newcomer, behind us
    assert v.queue_ahead(bid.order_id) == 0
    assert (
        v.client.orders.create_order(order(BookSide.ASK, "0.50", "1", TimeInForce.IOC)).fill_count
        == 0
    )


@pytest.mark.parametrize("model", list(FillModel))
def test_a_cancel_at_the_level_takes_what_we_took_first_under_either_model(
    model: FillModel,
) -> None:
    # 30 recorded ahead of our bid; we sell 20 into them (10 left ahead of it). 20 join behind
    # our bid, then 20 leave with no trade: the venue counts that decrease as the 20 we took
    # (taking's rule), so 30 are there again: 10 ahead of ours, 20 behind
    v, clock = venue(model)
    no = {D("0.50"): D(10)}
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    sold = v.client.orders.create_order(order(BookSide.ASK, "0.40", "20", TimeInForce.IOC))
    assert sold.fill_count == 20
    v.book_changed(T, ticks({D("0.40"): D(50)}), ticks(no))
    clock.advance(0.1)
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))
    clock.advance(5)
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))
    assert v.queue_ahead(bid.order_id) == 10
    v.trade(T, D("0.40"), D(15), Side.NO)  # the 10 ahead of our bid, then 5 of it
    assert v.queue_ahead(bid.order_id) == 0
    assert v.client.orders.get_order(bid.order_id).fill_count == 5


@pytest.mark.parametrize("model", list(FillModel))
@pytest.mark.parametrize("how", ["cancel", "late trade"])
def test_a_decrease_seen_before_we_took_is_not_what_we_took(model: FillModel, how: str) -> None:
    # 30 ahead of our bid; 20 leave the level, then we sell the 10 still there: nothing is
    # ahead of our bid any more, whatever that decrease turns out to be
    v, clock = venue(model)
    no = {D("0.50"): D(10)}
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    clock.advance(0.1)
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks(no))
    clock.advance(0.1)
    sold = v.client.orders.create_order(order(BookSide.ASK, "0.40", "10", TimeInForce.IOC))
    assert sold.fill_count == 10
    if how == "late trade":
        clock.advance(0.3)
        v.trade(T, D("0.40"), D(20), Side.NO)  # the decrease was a trade, printed late
        assert v.client.orders.get_order(bid.order_id).fill_count == 0
    clock.advance(2)
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks(no))  # 20 join, behind our bid
    assert v.queue_ahead(bid.order_id) == 0
    sale = v.client.orders.create_order(order(BookSide.ASK, "0.40", "20", TimeInForce.IOC))
    assert sale.fill_count == 0  # our own bid is first: it stops the sale


@pytest.mark.parametrize("model", list(FillModel))
def test_a_recorded_trade_takes_what_we_took_first_even_when_its_decrease_never_shows(
    model: FillModel,
) -> None:
    v, clock = venue(model)
    no = {D("0.50"): D(10)}
    v.book_changed(T, ticks({D("0.40"): D(40)}), ticks(no))
    took = v.client.orders.create_order(order(BookSide.ASK, "0.40", "23", TimeInForce.IOC))
    assert took.fill_count == 23
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    assert v.queue_ahead(bid.order_id) == 17
    v.trade(T, D("0.40"), D(33), Side.NO)  # the 23 we took, then 10 of the 17
    clock.advance(2)
    v.book_changed(
        T, ticks({D("0.40"): D(40)}), ticks(no)
    )  # 33 joined as 33 traded: no decrease shows
    assert v.queue_ahead(bid.order_id) == 7


def test_a_late_frame_after_we_took_does_not_move_us_past_the_queue_ahead() -> None:
    filled = {}
    for model in FillModel:
        v, clock = venue(model)
        no = {D("0.50"): D(10)}
        v.book_changed(T, ticks({D("0.40"): D(31)}), ticks(no))
        v.client.orders.create_order(order(BookSide.ASK, "0.40", "22", TimeInForce.IOC))
        bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "22", TimeInForce.GTC))
        v.trade(T, D("0.40"), D(17), Side.NO)  # 17 of the 22 we took; 9 still ahead of us
        clock.advance(1.2)
        v.book_changed(
            T, ticks({D("0.40"): D(15)}), ticks(no)
        )  # its decrease, late: a cancel of 16
        clock.advance(1.8)
        v.trade(T, D("0.40"), D(11), Side.NO)
        filled[model] = v.client.orders.get_order(bid.order_id).fill_count
    assert filled == {FillModel.OPTIMISTIC: D(11), FillModel.PESSIMISTIC: D(2)}


def test_an_amend_crossing_our_resting_level_meets_the_recorded_queue_ahead_of_it() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks({D("0.50"): D(10)}))
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    ask = v.client.orders.create_order(order(BookSide.ASK, "0.45", "20", TimeInForce.GTC))
    amended = v.client.orders.amend_order(
        ask.order_id, AmendOrder(ticker=T, book_side=BookSide.ASK, price=D("0.40"), count=D(20))
    )
    assert amended.fill_count == 20
    assert v.client.orders.get_order(bid.order_id).remaining_count == 10
    assert v.queue_ahead(bid.order_id) == 10


def test_our_resting_order_cancelled_by_our_own_order_rests_no_more() -> None:
    v, _ = venue()
    v.book_changed(
        T, ticks({}), ticks({D("0.50"): D(10)})
    )  # no recorded YES bids: nobody ahead of ours
    bid = v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.GTC))
    assert v.client.orders.create_order(sale_cancelling_ours("0.40", "5")).fill_count == 0
    assert v.client.orders.get_order(bid.order_id).status == "canceled"
    assert v.resting_order_ids() == []
    assert v.queue_ahead(bid.order_id) is None
    # one at a better price than the recorded level the sale goes on to
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.50"): D(10)}))
    better = v.client.orders.create_order(order(BookSide.BID, "0.42", "10", TimeInForce.GTC))
    assert v.client.orders.create_order(sale_cancelling_ours("0.40", "5")).fill_count == 5
    assert v.client.orders.get_order(better.order_id).status == "canceled"
    assert v.resting_order_ids() == []


def test_a_rejection_is_the_clients_own_error() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({}), ticks({}))
    with pytest.raises(BadRequestError):
        v.client.orders.create_order(order(BookSide.BID, "0.505", "1", TimeInForce.GTC))


def test_a_reduce_only_exit_for_more_than_is_held_sells_what_is_held() -> None:
    """The venue places through the simulator's order desk, so its reduce-only rule is the
    simulator's (API 3.31.0: the count "capped by the member's current position"): a backtest's
    exit of 10 with 4 held sells the 4, not a refusal, and the rest of the recorded bid stays
    for a later order."""
    v, _ = venue()
    v.book_changed(
        T, ticks({D("0.45"): D(20)}), ticks({D("0.50"): D(4)})
    )  # YES bid 0.45, YES ask 0.50
    bought = v.client.orders.create_order(order(BookSide.BID, "0.50", "4", TimeInForce.IOC))
    assert bought.fill_count == 4

    def exit_() -> CreateOrder:
        return CreateOrder(
            T, BookSide.ASK, D("0.45"), D(10), time_in_force=TimeInForce.IOC, reduce_only=True
        )

    sold = v.client.orders.create_order(exit_())
    assert (sold.fill_count, sold.remaining_count) == (4, 0)
    assert v.client.orders.get_order(sold.order_id).status == "canceled"
    assert [p.position for p in v.client.portfolio.get_positions() if p.ticker == T] in ([], [0])
    with pytest.raises(BadRequestError, match="invalid_reduce_only"):  # nothing left to reduce
        v.client.orders.create_order(exit_())


def test_settlement_pays_the_recorded_result_and_cancels_resting_orders() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({D("0.30"): D(10)}), ticks({D("0.60"): D(10)}))  # YES ask 0.40
    v.client.orders.create_order(order(BookSide.BID, "0.40", "10", TimeInForce.IOC))
    rest = v.client.orders.create_order(order(BookSide.BID, "0.30", "5", TimeInForce.GTC))
    v.settle(T, "yes")
    (s,) = list(v.client.portfolio.iter_settlements())
    assert s.market_result == "yes"
    assert v.client.orders.get_order(rest.order_id).status == "canceled"
    assert v.client.portfolio.get_balance().balance == D(1000) - D(4) - fee("10", "0.40") + D(10)
    assert v.resting_order_ids() == []


def test_a_result_the_venue_does_not_know_settles_nothing() -> None:
    v, _ = venue()
    v.book_changed(T, ticks({D("0.30"): D(10)}), ticks({D("0.60"): D(10)}))
    rest = v.client.orders.create_order(order(BookSide.BID, "0.30", "5", TimeInForce.GTC))
    v.settle(T, "void")
    assert list(v.client.portfolio.iter_settlements()) == []
    assert v.client.orders.get_order(rest.order_id).status == "resting"


def test_latency_lets_the_data_move_before_the_order_arrives() -> None:
    clock = ManualClock()
    seen: list[float] = []
    info = MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")
    v = LocalVenue(clock, [info], balance=D(100), latency_s=0.25, advance=seen.append)
    v.book_changed(T, ticks({}), ticks({D("0.45"): D(10)}))
    start = clock.wall()
    v.client.orders.create_order(order(BookSide.BID, "0.55", "1", TimeInForce.IOC))
    assert seen == [start + 0.25]


def test_the_venue_client_keeps_the_areas_and_signatures_of_the_real_client() -> None:
    """Each area of the venue's client is an area of `KalshiClient` by the same name, and each
    of its calls has the real call's parameters, kinds and defaults."""
    from kalshi_cli.client.client import AREAS

    # each area of the real client is built on its first use: its class is the built one's
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as real:
        areas = {name: type(getattr(real, name)) for name in AREAS}
    venue = LocalVenue(
        ManualClock(),
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(1),
    )
    ours = {n: a for n, a in vars(venue.client).items() if n in areas}
    assert {"markets", "portfolio", "orders", "historical"} <= set(ours)
    for area_name, area in ours.items():
        real_area = areas[area_name]
        for name, method in inspect.getmembers(type(area), inspect.isfunction):
            if name.startswith("_"):
                continue
            real = getattr(real_area, name)
            mine, theirs = inspect.signature(method), inspect.signature(real)
            assert list(mine.parameters) == list(theirs.parameters), (area_name, name)
            for p in mine.parameters.values():
                assert p.kind == theirs.parameters[p.name].kind, (name, p.name)
                assert p.default == theirs.parameters[p.name].default or name == "iter_markets", (
                    name,
                    p.name,
                )


def test_the_venue_client_has_no_path_to_the_network() -> None:
    import kalshi_cli.venue.venue as module

    source = inspect.getsource(module)
    for word in ("httpx", "urllib", "socket", "requests.", "_send", "http://", "https://"):
        assert word not in source, word


def test_fills_are_listed_newest_first_and_min_ts_ends_the_listing() -> None:
    v, clock = venue()
    v.book_changed(T, ticks({}), ticks({D("0.45"): D(100)}))
    for _ in range(3):
        v.client.orders.create_order(order(BookSide.BID, "0.55", "1", TimeInForce.IOC))
        clock.advance(10)
    fills = list(v.client.portfolio.iter_fills())
    stamps = [f.ts for f in fills]
    assert None not in stamps
    assert stamps == sorted((ts for ts in stamps if ts is not None), reverse=True)
    recent = list(v.client.portfolio.iter_fills(min_ts=fills[1].ts))
    assert [f.fill_id for f in recent] == [f.fill_id for f in fills[:2]]


def test_an_order_with_an_expiration_expires_on_the_simulated_clock() -> None:
    """As the simulator's core expires a good-till-cancelled order at its `expiration_time` on
    its clock (`OrderDesk.expire_due`), the venue expires ours when its simulated clock passes
    it: the order is canceled, its collateral comes back, and a later trade at its price fills
    nothing."""
    v, clock = venue()
    v.book_changed(T, ticks({D("0.50"): D(30)}), ticks({D("0.48"): D(40)}))
    start = int(clock.wall())
    request = CreateOrder(
        T,
        BookSide.BID,
        D("0.50"),
        D(10),
        time_in_force=TimeInForce.GTC,
        expiration_time=start + 10,
    )
    placed = v.client.orders.create_order(request)
    assert v.client.portfolio.get_balance().balance == D(1000) - D("5.00")  # collateral held
    clock.advance(9)
    (still,) = v.client.orders.iter_orders(status="resting")  # not yet: 1 s to go
    assert still.order_id == placed.order_id
    clock.advance(1)  # the clock reaches expiration_time: expired, with nothing else happening
    assert list(v.client.orders.iter_orders(status="resting")) == []
    assert v.client.orders.get_order(placed.order_id).status == "canceled"
    assert v.client.portfolio.get_balance().balance == D(1000)
    assert v.resting_order_ids() == []
    assert v.queue_ahead(placed.order_id) is None
    # the recorded trades that would have filled it now fill nothing
    v.trade(T, D("0.50"), D(100), Side.NO)
    assert list(v.client.portfolio.iter_fills()) == []
    assert list(v.client.portfolio.get_positions()) == []


def test_an_order_expires_before_the_data_that_comes_after_its_expiry() -> None:
    """The feed's next event after the expiry finds the order gone: a trade stamped after the
    expiration never fills it, even when no request came in between."""
    v, clock = venue()
    v.book_changed(T, ticks({D("0.50"): D(0)}), ticks({D("0.48"): D(40)}))
    start = int(clock.wall())
    v.client.orders.create_order(
        CreateOrder(
            T,
            BookSide.BID,
            D("0.50"),
            D(10),
            time_in_force=TimeInForce.GTC,
            expiration_time=start + 5,
        )
    )
    clock.advance(4)
    v.trade(T, D("0.50"), D(3), Side.NO)  # before its expiry: 3 fill (nothing queued ahead)
    clock.advance(2)
    v.trade(T, D("0.50"), D(100), Side.NO)  # after it: nothing more
    assert sum((f.count for f in v.client.portfolio.iter_fills()), D(0)) == 3
    assert v.resting_order_ids() == []


def test_queue_positions_of_another_subaccount_are_empty_on_a_venue() -> None:
    """A venue has one account, subaccount 0's: asking another subaccount's queue positions
    finds no order (`kalshi order list --queue` asks per subaccount an order rests on)."""
    v, _ = venue()
    v.book_changed(T, ticks({D("0.40"): D(50)}), ticks({D("0.45"): D(10)}))
    resting = v.client.orders.create_order(order(BookSide.BID, "0.40", "3", TimeInForce.GTC))
    assert v.client.orders.get_queue_positions() == {resting.order_id: D(50)}
    assert v.client.orders.get_queue_positions(subaccount=0) == {resting.order_id: D(50)}
    assert v.client.orders.get_queue_positions(subaccount=1) == {}


def test_an_event_filter_keeps_that_events_orders_positions_and_queue_places_alone() -> None:
    """GetOrders, GetPositions and GetOrderQueuePositions take an `event_ticker`: the venue
    answers with the records of that event's markets and no other's."""
    a, b = "KXTEST-26JAN01-A", "KXTEST-26JAN02-A"
    infos = [
        MarketInfo(ticker, ticker[:-2], "KXTEST", fee_type="quadratic", fee_multiplier="1")
        for ticker in (a, b)
    ]
    v = LocalVenue(ManualClock(), infos, balance=D(1000), fill_model=FillModel.OPTIMISTIC)
    for ticker in (a, b):
        v.book_changed(ticker, ticks({D("0.40"): D(50)}), ticks({D("0.45"): D(10)}))
        for price, tif in (("0.55", TimeInForce.IOC), ("0.40", TimeInForce.GTC)):
            v.client.orders.create_order(CreateOrder(ticker, BookSide.BID, D(price), D(2), tif))
    event = "KXTEST-26JAN01"
    orders = v.client.orders
    assert len(orders.get_queue_positions()) == 2
    assert [o.ticker for o in orders.iter_orders(event_ticker=event)] == [a, a]
    assert [p.ticker for p in v.client.portfolio.get_positions(event_ticker=event)] == [a]
    (resting,) = orders.iter_orders(event_ticker=event, status="resting")
    assert list(orders.get_queue_positions(event_ticker=event)) == [resting.order_id]


def test_a_queue_position_counts_our_own_earlier_orders_at_the_price_as_the_exchange_does() -> None:
    """GetOrderQueuePositions: "the number of preceding shares before the order in the queue",
    whoever's they are. On the simulator, with 30 contracts of others resting at 0.40 before
    our orders of 10 and then 5, the second has 40 ahead of it; the venue answers the same:
    the recorded queue it estimates ahead, and our own orders it knows are ahead."""
    from kalshi_cli.sim.core.exchange import Exchange
    from kalshi_cli.sim.core.records import PlaceRequest, SimEvent, SimMarket, SimSeries
    from kalshi_cli.vocabulary.models import PRICE_STRUCTURES

    clock = ManualClock()
    sim = Exchange(clock, fees=STANDARD_FEES)
    sim.reference.add_series(SimSeries("KXTEST", "KXTEST"))
    sim.reference.add_event(SimEvent("KXTEST-26JAN01", "KXTEST", "event"))
    sim.add_market(
        SimMarket(
            ticker=T,
            event_ticker="KXTEST-26JAN01",
            series_ticker="KXTEST",
            title=T,
            yes_sub_title="",
            no_sub_title="",
            status="open",
            price_level_structure="linear_cent",
            price_ranges=PRICE_STRUCTURES["linear_cent"],
            open_time=0.0,
            close_time=2e9,
            latest_expiration_time=2e9,
            created_time=0.0,
            updated_time=0.0,
        )
    )
    others = sim.accounts.create_account(
        key_id="others", public_key_pem="", cash_cents=10**6
    ).account_id
    we = sim.accounts.create_account(key_id="we", public_key_pem="", cash_cents=10**5).account_id
    v, _ = venue()
    v.book_changed(T, ticks({D("0.40"): D(30)}), ticks({D("0.45"): D(10)}))
    sim.desk.place_order(
        others,
        PlaceRequest(T, BookSide.BID, D("0.40"), D(30), TimeInForce.GTC, SelfTradePrevention.MAKER),
    )
    on_sim, on_venue = [], []
    for count in ("10", "5"):
        request = PlaceRequest(
            T, BookSide.BID, D("0.40"), D(count), TimeInForce.GTC, SelfTradePrevention.MAKER
        )
        on_sim.append(sim.desk.place_order(we, request).order.order_id)
        on_venue.append(
            v.client.orders.create_order(order(BookSide.BID, "0.40", count, TimeInForce.GTC))
        )
    assert [sim.desk.queue_position(we, i) for i in on_sim] == [D(30), D(40)]
    positions = v.client.orders.get_queue_positions()
    assert [positions[o.order_id] for o in on_venue] == [D(30), D(40)]


@pytest.mark.parametrize(
    ("price", "taker"), [("1.50", "yes"), ("1.00", "yes"), ("0.00", "no"), ("-0.10", "no")]
)
def test_a_recorded_trade_at_no_price_a_trade_can_have_fills_nothing(
    price: str, taker: str
) -> None:
    """No defaults in money: a trade's YES price lies inside (0, 1), as every order's does. A
    recorded trade at 1.50 (a YES taker) traded through our resting ask at 0.60 and filled it,
    one at 0.00 (a NO taker) our bid at 0.35; the applier counts it `bad_trade` and fills
    nothing, as it does a trade without a price."""
    v, clock = venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({}))
    v.client.orders.create_order(order(BookSide.ASK, "0.60", "5", TimeInForce.GTC))
    v.client.orders.create_order(order(BookSide.BID, "0.35", "5", TimeInForce.GTC))
    clock.advance(3)
    applier = FeedApplier(v)
    trade = FeedTrade(
        market_ticker=T, yes_price=D(price), count=D(20), taker_outcome_side=taker, trade_id="t1"
    )
    assert trade.terms() is None
    assert not applier.trade(T, trade)
    assert applier.skipped["bad_trade"] == 1
    assert list(v.client.portfolio.iter_fills()) == []


def test_an_amend_that_adds_contracts_counts_them_as_ordered() -> None:
    """The report's fill ratio is contracts filled over contracts ordered (the venue's
    `stats`). An amend names the order's new total: one that grows it orders the contracts it
    adds, as a requote after a partial fill does (5 of 10 filled, 10 to rest again: a total of
    15). Counted from the creates alone, the 15 filled read as 150% of the 10 ordered."""
    v, clock = venue()
    v.book_changed(T, ticks({}), ticks({D("0.45"): D(10)}))  # nobody bids YES: our bid is first
    placed = v.client.orders.create_order(order(BookSide.BID, "0.50", "10", TimeInForce.GTC))
    clock.advance(1)
    v.trade(T, D("0.50"), D(5), Side.NO)
    v.client.orders.amend_order(
        placed.order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.50"), count=D(15))
    )
    clock.advance(1)
    v.trade(T, D("0.50"), D(10), Side.NO)
    assert v.client.orders.get_order(placed.order_id).fill_count == 15
    assert (v.stats.contracts_ordered, v.stats.maker_contracts) == (D(15), D(15))
    # one that shrinks it orders nothing more (the contracts it drops are cancelled)
    again = v.client.orders.create_order(order(BookSide.BID, "0.50", "10", TimeInForce.GTC))
    v.client.orders.amend_order(
        again.order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.49"), count=D(6))
    )
    assert v.stats.contracts_ordered == D(25)


def test_the_balance_says_when_it_last_changed_not_when_it_was_read() -> None:
    """`updated_ts` as the simulator answers it (the spec: "Unix timestamp of the last update
    to the balance"): the venue's opening, then the time an order rested (its cost held)."""
    v, clock = venue()
    opened = int(clock.wall())
    clock.advance(30)
    assert v.client.portfolio.get_balance().updated_ts == opened
    v.book_changed(T, ticks({D("0.30"): D(10)}), ticks({D("0.60"): D(10)}))
    v.client.orders.create_order(order(BookSide.BID, "0.35", "10", TimeInForce.GTC))
    placed = int(clock.wall())
    clock.advance(30)
    assert v.client.portfolio.get_balance().updated_ts == placed
    (row,) = v.client.subaccounts.subaccount_balances()
    assert row.updated_ts == placed
