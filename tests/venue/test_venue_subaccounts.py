"""The venue client acting on a subaccount answers as the exchange does (openapi.yaml 3.31.0;
sim/server/routes/subaccounts.py): a read for subaccount N sees only N's orders, fills, positions,
settlements, balance and queue positions; a write lands on N; the listings cover every
subaccount and the balance, positions and queue positions are subaccount 0's when the client
names none. Each venue here holds one order and one fill on subaccount 0 and one of each on
subaccount 1 (created and funded through the exchange core, as `kalshi subaccount create` and
`transfer` make them on the exchange)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal

import pytest

from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.sim.core.records import ledger_id
from kalshi_cli.venue import LocalVenue, MarketInfo, VenueClient
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import BadRequestError, NotFoundError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.fakes import ticks

D = Decimal
T = "KXTEST-26JAN01-A"
SUB1_CASH = D(200)


def fee(count: str, price: str) -> Decimal:
    """Kalshi's quadratic taker fee of one fill: 0.07 x C x P x (1 - P), up to $0.0001."""
    c, p = D(count), D(price)
    return (D("0.07") * c * p * (1 - p)).quantize(D("0.0001"), rounding=ROUND_CEILING)


def order(book_side: BookSide, price: str, count: str, tif: TimeInForce) -> CreateOrder:
    return CreateOrder(T, book_side, D(price), D(count), time_in_force=tif)


class Two:
    """A venue with subaccount 1 funded with $200 of its $1000: on 0 a fill of 3 and a
    resting bid of 1; on 1 a fill of 2 and a resting bid of 4."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        info = MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")
        self.venue = LocalVenue(self.clock, [info], balance=D(1000))
        subaccounts = self.venue.core.subaccounts
        assert subaccounts.create_subaccount(self.venue.account) == 1
        subaccounts.transfer(
            self.venue.account,
            client_transfer_id="fund-1",
            from_subaccount=0,
            to_subaccount=1,
            amount_cents=int(SUB1_CASH * 100),
        )
        # YES bids 0.40 x50; NO bids 0.45 x10, so YES asks 0.55 x10
        self.venue.book_changed(T, ticks({D("0.40"): D(50)}), ticks({D("0.45"): D(10)}))
        on0, on1 = self.on(0), self.on(1)
        self.took0 = on0.orders.create_order(order(BookSide.BID, "0.55", "3", TimeInForce.IOC))
        self.rest0 = on0.orders.create_order(order(BookSide.BID, "0.40", "1", TimeInForce.GTC))
        self.clock.advance(1)  # subaccount 1's come later: newest first, they list first
        self.took1 = on1.orders.create_order(order(BookSide.BID, "0.55", "2", TimeInForce.IOC))
        self.rest1 = on1.orders.create_order(order(BookSide.BID, "0.40", "4", TimeInForce.GTC))
        assert self.took0.fill_count == 3 and self.took1.fill_count == 2

    def on(self, subaccount: int | None) -> VenueClient:
        """The venue's client acting on `subaccount` (None: the exchange's defaults), as a
        handle (`on_subaccount`): the venue's own client is left as it was."""
        return self.venue.client.on_subaccount(subaccount)


def ids(orders: Iterator[Order] | list[Order]) -> set[str]:
    return {o.order_id for o in orders}


# ------------------------------------------------------------------------------ reads


def test_fills_of_a_subaccount_are_its_own_and_the_listing_covers_every_one_by_default() -> None:
    two = Two()
    fills = list(two.on(1).portfolio.iter_fills())
    assert [(f.order_id, f.count, f.subaccount) for f in fills] == [(two.took1.order_id, D(2), 1)]
    assert [f.order_id for f in two.on(0).portfolio.iter_fills()] == [two.took0.order_id]
    # the exchange's default: every subaccount, newest first
    assert [f.order_id for f in two.on(None).portfolio.iter_fills()] == [
        two.took1.order_id,
        two.took0.order_id,
    ]


def test_orders_of_a_subaccount_are_its_own_and_the_listing_covers_every_one_by_default() -> None:
    two = Two()
    sub1 = two.on(1)
    assert ids(sub1.orders.iter_orders()) == {two.took1.order_id, two.rest1.order_id}
    assert ids(sub1.orders.iter_orders(status="resting")) == {two.rest1.order_id}
    assert {o.subaccount for o in sub1.orders.iter_orders()} == {1}
    assert ids(two.on(0).orders.iter_orders(status="resting")) == {two.rest0.order_id}
    assert ids(two.on(None).orders.iter_orders(status="resting")) == {
        two.rest0.order_id,
        two.rest1.order_id,
    }


def test_a_handle_on_a_subaccount_reads_it_and_leaves_the_client_where_it_was() -> None:
    """`on_subaccount(N)`, as `KalshiClient.on_subaccount`: a second handle on the same venue
    acting on N (what `reconcile.catch_up` reads each subaccount through), the client itself
    left on its own subaccount."""
    two = Two()
    client = two.venue.client
    one = client.on_subaccount(1)
    assert ids(one.orders.iter_orders(status="resting")) == {two.rest1.order_id}
    assert client.subaccount is None
    assert ids(client.orders.iter_orders(status="resting")) == {
        two.rest0.order_id,
        two.rest1.order_id,
    }
    # a handle made from a handle on 1: on 0, the handle it was made from still on 1
    assert ids(one.on_subaccount(0).orders.iter_orders(status="resting")) == {two.rest0.order_id}
    assert one.subaccount == 1
    assert ids(one.orders.iter_orders(status="resting")) == {two.rest1.order_id}
    placed = client.on_subaccount(1).orders.create_order(
        order(BookSide.BID, "0.30", "1", TimeInForce.GTC)
    )
    assert placed.order_id in ids(one.orders.iter_orders(status="resting"))  # the same venue


def test_a_client_order_id_is_found_only_on_the_subaccount_acted_on() -> None:
    two = Two()
    theirs = two.rest0.client_order_id
    assert theirs
    assert two.on(1).orders.find_order_by_client_id(theirs, T) is None
    found = two.on(0).orders.find_order_by_client_id(theirs, T)
    assert found is not None and found.order_id == two.rest0.order_id


def test_a_single_order_is_found_on_any_subaccount_as_the_exchange_finds_it() -> None:
    # GET /portfolio/orders/{id} takes no subaccount
    two = Two()
    assert two.on(0).orders.get_order(two.rest1.order_id).subaccount == 1


def test_positions_are_the_subaccounts_and_subaccount_0s_by_default() -> None:
    two = Two()
    assert [(p.ticker, p.position) for p in two.on(1).portfolio.get_positions()] == [(T, D(2))]
    assert [(p.ticker, p.position) for p in two.on(0).portfolio.get_positions()] == [(T, D(3))]
    assert [(p.ticker, p.position) for p in two.on(None).portfolio.get_positions()] == [(T, D(3))]
    assert (
        two.on(2).portfolio.get_positions() == []
    )  # not created: nothing, as the exchange lists it


def test_the_balance_is_the_subaccounts_and_subaccount_0s_by_default() -> None:
    two = Two()
    on1 = two.on(1).portfolio.get_balance().balance
    on0 = two.on(0).portfolio.get_balance().balance
    default = two.on(None).portfolio.get_balance().balance
    # each paid for its own taker fill (at 0.55, with its fee) and holds its resting bid's cost
    assert on1 == SUB1_CASH - D("1.10") - fee("2", "0.55") - D("1.60")
    assert on0 == D(800) - D("1.65") - fee("3", "0.55") - D("0.40")
    assert default == on0
    with pytest.raises(BadRequestError):  # not created: the exchange's 400
        two.on(2).portfolio.get_balance()


def test_subaccount_balances_list_every_subaccount_of_the_venue() -> None:
    two = Two()
    client = two.venue.client
    rows = {b.subaccount: b.balance for b in client.subaccounts.subaccount_balances()}
    on0 = two.on(0).portfolio.get_balance().balance
    on1 = two.on(1).portfolio.get_balance().balance
    assert rows == {0: on0, 1: on1}


def test_queue_positions_are_the_subaccounts_and_subaccount_0s_by_default() -> None:
    two = Two()
    sub1 = two.on(1)
    assert set(sub1.orders.get_queue_positions()) == {two.rest1.order_id}
    assert set(sub1.orders.get_queue_positions(subaccount=0)) == {two.rest0.order_id}
    unnamed = two.on(None)
    assert set(unnamed.orders.get_queue_positions()) == {two.rest0.order_id}
    assert set(unnamed.orders.get_queue_positions(subaccount=1)) == {two.rest1.order_id}
    assert unnamed.orders.get_queue_positions(subaccount=2) == {}


def test_settlements_are_the_subaccounts_and_the_listing_covers_every_one_by_default() -> None:
    two = Two()
    two.venue.settle(T, "yes")
    sub1 = two.on(1)
    (mine,) = sub1.portfolio.iter_settlements()
    assert mine.yes_count == D(2)
    (named,) = sub1.portfolio.iter_settlements(subaccount=0)
    assert named.yes_count == D(3)
    assert sorted(s.yes_count for s in two.on(None).portfolio.iter_settlements()) == [D(2), D(3)]


# ------------------------------------------------------------------------------ writes


def test_an_order_is_placed_on_the_subaccount_acted_on() -> None:
    two = Two()
    assert two.venue.core.history.order(ledger_id(two.venue.account, 1), two.rest1.order_id)
    sub1 = two.on(1)
    assert sub1.orders.get_order(two.rest1.order_id).subaccount == 1
    assert sub1.orders.get_order(two.took1.order_id).subaccount == 1
    assert two.on(0).orders.get_order(two.rest0.order_id).subaccount == 0


def test_an_order_on_a_subaccount_not_created_is_refused() -> None:
    two = Two()
    with pytest.raises(BadRequestError):
        two.on(5).orders.create_order(order(BookSide.BID, "0.40", "1", TimeInForce.GTC))


def test_a_subaccount_refused_before_it_was_created_takes_orders_once_it_is() -> None:
    """The venue keeps each subaccount's ledger once found: a refusal is not kept with them."""
    two = Two()
    subaccounts = two.venue.core.subaccounts
    with pytest.raises(BadRequestError):
        two.on(2).orders.create_order(order(BookSide.BID, "0.40", "1", TimeInForce.GTC))
    assert subaccounts.create_subaccount(two.venue.account) == 2
    subaccounts.transfer(
        two.venue.account,
        client_transfer_id="fund-2",
        from_subaccount=0,
        to_subaccount=2,
        amount_cents=100,
    )
    placed = two.on(2).orders.create_order(order(BookSide.BID, "0.40", "1", TimeInForce.GTC))
    assert two.on(2).orders.get_order(placed.order_id).subaccount == 2


def test_a_cancel_acts_on_the_subaccount_it_names_else_the_clients_else_0() -> None:
    two = Two()
    sub1 = two.on(1)
    with pytest.raises(NotFoundError):  # subaccount 0's order is not on 1
        sub1.orders.cancel_order(two.rest0.order_id)
    assert sub1.orders.get_order(two.rest0.order_id).status == "resting"
    sub1.orders.cancel_order(two.rest0.order_id, subaccount=0)
    sub1.orders.cancel_order(two.rest1.order_id)
    assert two.venue.resting_order_ids() == []


def test_a_cancel_of_a_client_acting_on_none_is_subaccount_0s() -> None:
    two = Two()
    with pytest.raises(NotFoundError):
        two.on(None).orders.cancel_order(two.rest1.order_id)
    assert set(two.venue.resting_order_ids()) == {two.rest0.order_id, two.rest1.order_id}


def test_cancel_all_of_a_subaccount_leaves_the_others_orders_resting() -> None:
    two = Two()
    two.on(1).orders.cancel_all_orders()
    assert two.venue.resting_order_ids() == [two.rest0.order_id]
    two.on(None).orders.cancel_all_orders()  # every subaccount
    assert two.venue.resting_order_ids() == []


def test_a_batch_cancel_item_acts_on_its_subaccount() -> None:
    two = Two()
    pairs: list[tuple[str, str | None]] = [(two.rest0.order_id, T), (two.rest1.order_id, T)]
    unnamed = two.on(None)
    # an item that names no subaccount is subaccount 0's, as the exchange reads it
    first = unnamed.orders.batch_cancel(pairs)
    assert [r.error is None for r in first] == [True, False]
    assert two.venue.resting_order_ids() == [two.rest1.order_id]
    (second,) = unnamed.orders.batch_cancel(pairs[1:], subaccounts={two.rest1.order_id: 1})
    assert second.error is None
    assert two.venue.resting_order_ids() == []


def test_a_batch_cancel_of_a_client_on_a_subaccount_acts_on_it() -> None:
    two = Two()
    pairs: list[tuple[str, str | None]] = [(two.rest0.order_id, T), (two.rest1.order_id, T)]
    results = two.on(1).orders.batch_cancel(pairs)
    assert [r.error is None for r in results] == [False, True]
    assert two.venue.resting_order_ids() == [two.rest0.order_id]


def test_amend_and_decrease_act_on_the_subaccount_acted_on() -> None:
    two = Two()
    sub1 = two.on(1)
    with pytest.raises(NotFoundError):
        sub1.orders.amend_order(
            two.rest0.order_id,
            AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.39"), count=D(1)),
        )
    with pytest.raises(NotFoundError):
        sub1.orders.decrease_order(two.rest0.order_id, reduce_by=D(1))
    sub1.orders.decrease_order(two.rest1.order_id, reduce_to=D(3))
    amended = sub1.orders.amend_order(
        two.rest1.order_id,
        AmendOrder(ticker=T, book_side=BookSide.BID, price=D("0.39"), count=D(3)),
    )
    assert sub1.orders.get_order(amended.order_id).subaccount == 1
    assert sub1.orders.get_order(amended.order_id).remaining_count == D(3)
    assert two.on(0).orders.get_order(two.rest0.order_id).remaining_count == D(1)


def test_a_resting_order_of_a_subaccount_fills_on_it() -> None:
    """The fill model's maker fills reach the order on the subaccount it rests on."""
    two = Two()
    two.clock.advance(1)
    # a NO taker meets the YES bids at 0.40: the 50 ahead of ours, then all of ours
    two.venue.trade(T, D("0.40"), D(200), Side.NO)
    assert [(p.ticker, p.position) for p in two.on(1).portfolio.get_positions()] == [(T, D(6))]
    assert [(p.ticker, p.position) for p in two.on(0).portfolio.get_positions()] == [(T, D(4))]
    assert two.venue.resting_order_ids() == []
