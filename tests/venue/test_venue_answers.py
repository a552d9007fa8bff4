"""The venue's answers are the client's models built from the core's records
(kalshi_cli/venue/answers.py): each equals what `KalshiClient` decodes from the answer the
simulator's server sends for the same record, and the writes answer in the V2 shapes the
client reads from the exchange."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CreateOrder,
    CreateOrderResult,
    DecreaseResult,
)
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.records import ledger_id
from kalshi_cli.venue import LocalVenue, MarketInfo, answers
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import BadRequestError
from kalshi_cli.vocabulary.models import Fill, Order, Settlement, decode_answer
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.fakes import ticks

D = Decimal
T = "KXANS-26JAN01-A"
FRACTIONAL = "KXANS-26JAN01-B"


def _venue() -> tuple[LocalVenue, ManualClock]:
    clock = ManualClock()
    markets = [
        MarketInfo(
            T, "KXANS-26JAN01", "KXANS", fee_type="quadratic_with_maker_fees", fee_multiplier="1"
        ),
        MarketInfo(
            FRACTIONAL,
            "KXANS-26JAN01",
            "KXANS",
            price_level_structure="deci_cent",
            fractional=True,
            fee_type="quadratic",
            fee_multiplier="1",
        ),
    ]
    return LocalVenue(clock, markets, balance=D(100_000)), clock


def _bid_resting_below_an_offer() -> tuple[LocalVenue, CreateOrderResult]:
    """A venue whose recorded book offers YES at 0.45 x6, and our bid of 5 resting at 0.38."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))
    placed = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.38"), D(5), time_in_force=TimeInForce.GTC)
    )
    return v, placed


def test_amend_and_decrease_answer_with_the_order_and_what_rests_as_the_exchange_does() -> None:
    v, placed = _bid_resting_below_an_offer()
    amended = v.client.orders.amend_order(
        placed.order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.39"), count=D(8))
    )
    assert isinstance(amended, AmendResult)
    assert (amended.order_id, amended.fill_count, amended.remaining_count) == (
        placed.order_id,
        D(0),
        D(8),
    )
    assert amended.average_fill_price is None
    decreased = v.client.orders.decrease_order(placed.order_id, reduce_by=D(3))
    assert isinstance(decreased, DecreaseResult)
    assert (decreased.order_id, decreased.remaining_count) == (placed.order_id, D(5))
    assert v.client.orders.get_order(placed.order_id).remaining_count == D(5)


def test_an_amend_that_crosses_the_recorded_book_takes_it_as_a_new_order_would() -> None:
    """The exchange re-plans an amended price against the book: what it crosses fills at once,
    as a taker. On a venue the book it crosses is the recorded one."""
    v, placed = _bid_resting_below_an_offer()
    amended = v.client.orders.amend_order(
        placed.order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.45"), count=D(8))
    )
    assert (amended.fill_count, amended.remaining_count) == (D(6), D(2))
    assert amended.average_fill_price == D("0.45")
    (fill,) = v.client.portfolio.iter_fills()
    assert (fill.count, fill.yes_price, fill.is_taker) == (D(6), D("0.45"), True)
    assert v.stats.taker_contracts == D(6)
    # what it took is gone from the recorded level for the next order, as a create's would be
    again = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.45"), D(3), time_in_force=TimeInForce.IOC)
    )
    assert again.fill_count == 0


def _run(v: LocalVenue, clock: ManualClock, seed: int) -> list[CreateOrderResult]:
    """A few hundred orders of both sides, sizes and kinds against moving recorded books, a
    trade now and then, some cancels and amends, on two subaccounts; then both markets settle.
    Returns the create answers."""
    rng = random.Random(seed)
    v.core.subaccounts.create_subaccount(v.account)
    v.core.subaccounts.transfer(
        v.account,
        client_transfer_id="fund-1",
        from_subaccount=0,
        to_subaccount=1,
        amount_cents=5_000_000,
    )
    created = []
    for step in range(300):
        clock.advance(rng.choice((0.001, 0.5, 7.0)))
        ticker = rng.choice((T, FRACTIONAL))
        tick = D("0.001") if ticker == FRACTIONAL else D("0.01")
        mid = D(rng.randint(300, 700)) / 1000
        mid -= mid % tick
        yes = {mid - k * tick: D(rng.randint(1, 40)) for k in range(1, 4)}
        no = {1 - mid - k * tick: D(rng.randint(1, 40)) for k in range(1, 4)}
        v.book_changed(ticker, ticks(yes), ticks(no))
        if step % 7 == 0:
            v.trade(ticker, mid - tick, D(rng.randint(1, 30)), Side.NO)
        count = D(rng.randint(1, 2000)) / 100 if ticker == FRACTIONAL else D(rng.randint(1, 20))
        price = mid + tick * rng.randint(-4, 4)
        handle = v.client.on_subaccount(rng.choice((0, 1)))
        answer = handle.orders.create_order(
            CreateOrder(
                ticker,
                rng.choice(tuple(BookSide)),
                price,
                count,
                time_in_force=rng.choice((TimeInForce.GTC, TimeInForce.IOC)),
            )
        )
        created.append(answer)
        if answer.remaining_count > 0 and step % 3 == 0:
            handle.orders.cancel_order(answer.order_id)
        elif answer.remaining_count > 0 and step % 5 == 0:
            order = handle.orders.get_order(answer.order_id)
            handle.orders.amend_order(
                answer.order_id,
                AmendOrder(
                    ticker=ticker,
                    book_side=order.book_side,
                    price=order.yes_price,
                    count=order.fill_count + order.remaining_count + 1,
                ),
            )
    v.settle(T, "yes")
    v.settle(FRACTIONAL, "no")
    return created


def test_every_order_fill_and_settlement_equals_the_wire_answer_decoded() -> None:
    v, clock = _venue()
    created = _run(v, clock, seed=7)
    ledgers = [ledger_id(v.account, n) for n in (0, 1)]
    orders = [o for ledger in ledgers for o in v.core.history.orders(ledger)]
    fills = [f for ledger in ledgers for f in v.core.history.fills(ledger)]
    settlements = [s for ledger in ledgers for s in v.core.accounts.settlements(ledger)]
    # the run exercised what it is for: partial fills, sub-cent costs, maker fees, settlements
    assert any(0 < o.fill_count < o.initial_count for o in orders)
    assert any(f.count % 1 for f in fills) and any(f.fee and not f.is_taker for f in fills)
    assert len(settlements) >= 2 and any(f.ts != int(f.ts) for f in fills)
    for o in orders:
        assert answers.order(o) == decode_answer(Order, ser.order_json(o)), o
    for f in fills:
        assert answers.fill(f) == decode_answer(Fill, ser.fill_json(f)), f
    for s in settlements:
        assert answers.settlement(s) == decode_answer(Settlement, ser.settlement_json(s)), s
    # a create's averages are over its own (taker) fills, weighted by count, to the sixth place
    averaged = [c for c in created if c.average_fill_price is not None]
    assert any(
        len({f.price for f in fills if f.order_id == c.order_id and f.is_taker}) > 1
        for c in averaged
    )  # some walked more than one level: the weighting shows
    sixth = D("0.000001")
    for answer in averaged:
        mine = [f for f in fills if f.order_id == answer.order_id and f.is_taker]
        filled = sum((f.count for f in mine), D(0))
        price = sum((f.price * f.count for f in mine), D(0)) / filled
        fee = sum((f.fee for f in mine), D(0)) / filled
        assert answer.average_fill_price == price.quantize(sixth), answer
        assert answer.average_fee_paid == fee.quantize(sixth), answer


def test_a_post_only_order_that_would_cross_the_recorded_book_is_refused() -> None:
    """The exchange refuses a post-only order that would cross (400 `invalid_order`, "post
    only cross"); on a venue the book it would cross is the recorded one."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))  # YES offered at 0.45 x6
    with pytest.raises(BadRequestError) as refused:
        v.client.orders.create_order(
            CreateOrder(
                T, BookSide.BID, D("0.46"), D(2), time_in_force=TimeInForce.GTC, post_only=True
            )
        )
    assert refused.value.code == "invalid_order"
    assert list(v.client.orders.iter_orders()) == []
    assert v.stats.rejected == 1
    # one that does not cross rests
    rests = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.44"), D(2), time_in_force=TimeInForce.GTC, post_only=True)
    )
    assert rests.remaining_count == D(2)


def test_a_growing_amend_after_a_decrease_goes_to_the_back_of_the_queue() -> None:
    """Decreased from 10 to 5, then amended to 8 at the same price: what rests grows, so the
    exchange sends it to the back of its level (the order's initial count, still 10, does not
    decide)."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))
    placed = v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.40"), D(10)))
    v.client.orders.decrease_order(placed.order_id, reduce_by=D(5))
    v.trade(T, D("0.40"), D(8), Side.NO)  # 8 of the 10 ahead of us trade
    assert v.queue_ahead(placed.order_id) == 2
    v.client.orders.amend_order(
        placed.order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.40"), count=D(8))
    )
    assert v.queue_ahead(placed.order_id) == 10  # the back of the recorded level


def test_an_amend_answer_counts_what_the_amend_filled_and_none_when_nothing_changed() -> None:
    """AmendOrderV2Response: `fill_count` is what the amend itself filled, the count
    `average_fill_price` averages over; no counts when it neither filled nor changed what
    rests."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))
    placed = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.41"), D(5), time_in_force=TimeInForce.GTC)
    )
    v.trade(T, D("0.41"), D(2), Side.NO)  # 2 fill as a maker
    assert v.client.orders.get_order(placed.order_id).fill_count == 2
    unchanged = v.client.orders.amend_order(
        placed.order_id,
        AmendOrder(
            ticker=T,
            book_side=BookSide.BID,
            price=D("0.41"),
            count=D(5),
            expiration_time=int(v.clock.wall()) + 3600,
        ),
    )
    assert (unchanged.fill_count, unchanged.remaining_count) == (None, None)
    amended = v.client.orders.amend_order(
        placed.order_id, AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.45"), count=D(5))
    )
    assert amended.average_fill_price == D("0.45")
    assert (amended.fill_count, amended.remaining_count) == (D(3), D(0))


def test_a_write_that_fills_a_single_contract_answers_its_average_price_and_fee() -> None:
    """One contract filled is a fill like any: the create's answer gives its price and fee."""
    v, _ = _venue()
    v.book_changed(T, ticks({D("0.40"): D(10)}), ticks({D("0.55"): D(6)}))
    taken = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.45"), D(1), time_in_force=TimeInForce.IOC)
    )
    (fill,) = v.client.portfolio.iter_fills()
    assert (taken.fill_count, taken.average_fill_price) == (D(1), D("0.45"))
    assert taken.average_fee_paid == fill.fee > 0


def test_a_backtests_loop_reads_the_fees_the_venue_charges_before_and_after_their_changes() -> None:
    """The venue's client answers the fee reads as the exchange does (the event's override in
    effect on the event, every change of an event's override, a series' changes still to come
    unless the historical ones are asked for), so the fee model the trade loop prices its edge
    with (`load_fees`, with the changes it applies when its clock reaches them) is the one the
    venue charges, at every time."""
    from kalshi_cli.runner.books.fees import load_fees
    from kalshi_cli.venue.reference import from_rest

    t0 = 1_767_225_600.0
    series_change = {"id": "s1", "series_ticker": "FEEX", "fee_type": "quadratic"}
    infos = from_rest(
        [{"ticker": "FEEX", "fee_type": "quadratic", "fee_multiplier": 1}],
        [
            {
                "event_ticker": "FEEX-EV",
                "series_ticker": "FEEX",
                "fee_type_override": "quadratic_with_maker_fees",
                "fee_multiplier_override": 2,
            }
        ],
        [{"ticker": "FEEX-EV-A", "event_ticker": "FEEX-EV"}],
        series_fee_changes=[
            {**series_change, "fee_multiplier": 3, "scheduled_ts": "2025-12-31T00:00:00Z"},
            {
                **series_change,
                "id": "s2",
                "fee_multiplier": 4,
                "scheduled_ts": "2026-01-01T03:00:00Z",
            },
        ],
        event_fee_changes=[
            {
                "id": "e1",
                "event_ticker": "FEEX-EV",
                "series_ticker": "FEEX",
                "fee_type_override": None,
                "fee_multiplier_override": None,
                "scheduled_ts": "2026-01-01T01:00:00Z",
            }
        ],
    )
    clock = ManualClock(t0)
    v = LocalVenue(clock, infos.values(), balance=D(100))
    market = v.client.markets.get_market("FEEX-EV-A")
    event = v.client.markets.get_event("FEEX-EV")["event"]
    assert (event["fee_type_override"], event["fee_multiplier_override"]) == (
        "quadratic_with_maker_fees",
        2,
    )
    assert [c["id"] for c in v.client.exchange.iter_event_fee_changes(event_ticker="FEEX-EV")] == [
        v.core.reference.fees.event_fee_changes("FEEX-EV")[0].id
    ]
    upcoming = v.client.exchange.get_series_fee_changes(series_ticker="FEEX")
    every = v.client.exchange.get_series_fee_changes(series_ticker="FEEX", show_historical=True)
    assert [c["fee_multiplier"] for c in upcoming] == [4]
    assert [c["fee_multiplier"] for c in every] == [3, 4]
    models, changes = load_fees(v.client, [market], now=t0)
    assert models["FEEX-EV-A"] == v.core.reference.fees.fee_model("FEEX-EV-A")
    for change in changes:  # the override cleared at 01:00, the series' fees changed at 03:00
        assert change.fees == v.core.reference.fees.fee_model("FEEX-EV-A", change.at), change
    assert [c.at - t0 for c in changes] == [3600, 10_800]
