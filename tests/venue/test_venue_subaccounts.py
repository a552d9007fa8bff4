"""The venue client acting on a subaccount answers as the exchange does (openapi.yaml 3.31.0;
sim/routes/subaccounts.py): a read for subaccount N sees only N's orders, fills, positions,
settlements, balance and queue positions; a write lands on N; the listings cover every
subaccount and the balance, positions and queue positions are subaccount 0's when the client
names none. Each venue here holds one order and one fill on subaccount 0 and one of each on
subaccount 1 (created and funded through the exchange core, as `kalshi subaccount create` and
`transfer` make them on the exchange)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_CEILING, Decimal

import pytest

from kalshi_cli.client import CreateOrder
from kalshi_cli.client.subaccount_scope import acting_on
from kalshi_cli.clock import ManualClock
from kalshi_cli.errors import BadRequestError, NotFoundError
from kalshi_cli.models import BookSide, Order, Side, TimeInForce
from kalshi_cli.sim.records import ledger_id
from kalshi_cli.venue import LocalVenue, MarketInfo

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
        info = MarketInfo(T, "KXTEST-26JAN01", "KXTEST")
        self.venue = LocalVenue(self.clock, [info], balance=D(1000))
        ex = self.venue.exchange
        assert ex.create_subaccount(self.venue.account) == 1
        ex.transfer(
            self.venue.account,
            client_transfer_id="fund-1",
            from_subaccount=0,
            to_subaccount=1,
            amount_cents=int(SUB1_CASH * 100),
        )
        # YES bids 0.40 x50; NO bids 0.45 x10, so YES asks 0.55 x10
        self.venue.book_changed(T, {D("0.40"): D(50)}, {D("0.45"): D(10)})
        client = self.venue.client
        with acting_on(client, 0):
            self.took0 = client.create_order(order(BookSide.BID, "0.55", "3", TimeInForce.IOC))
            self.rest0 = client.create_order(order(BookSide.BID, "0.40", "1", TimeInForce.GTC))
        self.clock.advance(1)  # subaccount 1's come later: newest first, they list first
        with acting_on(client, 1):
            self.took1 = client.create_order(order(BookSide.BID, "0.55", "2", TimeInForce.IOC))
            self.rest1 = client.create_order(order(BookSide.BID, "0.40", "4", TimeInForce.GTC))
        assert self.took0.fill_count == 3 and self.took1.fill_count == 2

    @contextmanager
    def on(self, subaccount: int | None) -> Iterator[None]:
        with acting_on(self.venue.client, subaccount):
            yield


def ids(orders: Iterator[Order] | list[Order]) -> set[str]:
    return {o.order_id for o in orders}


# ------------------------------------------------------------------------------ reads


def test_fills_of_a_subaccount_are_its_own_and_the_listing_covers_every_one_by_default() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        fills = list(client.iter_fills())
        assert [(f.order_id, f.count, f.raw["subaccount_number"]) for f in fills] == [
            (two.took1.order_id, D(2), 1)
        ]
    with two.on(0):
        assert [f.order_id for f in client.iter_fills()] == [two.took0.order_id]
    with two.on(None):  # the exchange's default: every subaccount, newest first
        assert [f.order_id for f in client.iter_fills()] == [
            two.took1.order_id,
            two.took0.order_id,
        ]


def test_orders_of_a_subaccount_are_its_own_and_the_listing_covers_every_one_by_default() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        assert ids(client.iter_orders()) == {two.took1.order_id, two.rest1.order_id}
        assert ids(client.iter_orders(status="resting")) == {two.rest1.order_id}
        assert {o.subaccount for o in client.iter_orders()} == {1}
    with two.on(0):
        assert ids(client.iter_orders(status="resting")) == {two.rest0.order_id}
    with two.on(None):
        assert ids(client.iter_orders(status="resting")) == {
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
    assert ids(one.iter_orders(status="resting")) == {two.rest1.order_id}
    assert client.subaccount is None
    assert ids(client.iter_orders(status="resting")) == {two.rest0.order_id, two.rest1.order_id}
    with two.on(1):
        assert ids(client.on_subaccount(0).iter_orders(status="resting")) == {two.rest0.order_id}
        assert client.subaccount == 1
    placed = client.on_subaccount(1).create_order(order(BookSide.BID, "0.30", "1", TimeInForce.GTC))
    assert placed.order_id in ids(one.iter_orders(status="resting"))  # the same venue


def test_a_client_order_id_is_found_only_on_the_subaccount_acted_on() -> None:
    two = Two()
    client = two.venue.client
    theirs = two.rest0.client_order_id
    assert theirs
    with two.on(1):
        assert client.find_order_by_client_id(theirs, T) is None
    with two.on(0):
        found = client.find_order_by_client_id(theirs, T)
        assert found is not None and found.order_id == two.rest0.order_id


def test_a_single_order_is_found_on_any_subaccount_as_the_exchange_finds_it() -> None:
    # GET /portfolio/orders/{id} takes no subaccount
    two = Two()
    with two.on(0):
        assert two.venue.client.get_order(two.rest1.order_id).subaccount == 1


def test_positions_are_the_subaccounts_and_subaccount_0s_by_default() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        assert [(p.ticker, p.position) for p in client.get_positions()] == [(T, D(2))]
    with two.on(0):
        assert [(p.ticker, p.position) for p in client.get_positions()] == [(T, D(3))]
    with two.on(None):
        assert [(p.ticker, p.position) for p in client.get_positions()] == [(T, D(3))]
    with two.on(2):  # not created: nothing, as the exchange lists it
        assert client.get_positions() == []


def test_the_balance_is_the_subaccounts_and_subaccount_0s_by_default() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        on1 = client.get_balance().balance
    with two.on(0):
        on0 = client.get_balance().balance
    with two.on(None):
        default = client.get_balance().balance
    # each paid for its own taker fill (at 0.55, with its fee) and holds its resting bid's cost
    assert on1 == SUB1_CASH - D("1.10") - fee("2", "0.55") - D("1.60")
    assert on0 == D(800) - D("1.65") - fee("3", "0.55") - D("0.40")
    assert default == on0
    with two.on(2), pytest.raises(BadRequestError):  # not created: the exchange's 400
        client.get_balance()


def test_subaccount_balances_list_every_subaccount_of_the_venue() -> None:
    two = Two()
    client = two.venue.client
    rows = {b.subaccount: b.balance for b in client.subaccount_balances()}
    with two.on(0):
        on0 = client.get_balance().balance
    with two.on(1):
        on1 = client.get_balance().balance
    assert rows == {0: on0, 1: on1}


def test_queue_positions_are_the_subaccounts_and_subaccount_0s_by_default() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        assert set(client.get_queue_positions()) == {two.rest1.order_id}
        assert set(client.get_queue_positions(subaccount=0)) == {two.rest0.order_id}
    with two.on(None):
        assert set(client.get_queue_positions()) == {two.rest0.order_id}
        assert set(client.get_queue_positions(subaccount=1)) == {two.rest1.order_id}
        assert client.get_queue_positions(subaccount=2) == {}


def test_settlements_are_the_subaccounts_and_the_listing_covers_every_one_by_default() -> None:
    two = Two()
    two.venue.settle(T, "yes")
    client = two.venue.client
    with two.on(1):
        (mine,) = client.iter_settlements()
        assert mine.yes_count == D(2)
        (named,) = client.iter_settlements(subaccount=0)
        assert named.yes_count == D(3)
    with two.on(None):
        assert sorted(s.yes_count for s in client.iter_settlements()) == [D(2), D(3)]


# ------------------------------------------------------------------------------ writes


def test_an_order_is_placed_on_the_subaccount_acted_on() -> None:
    two = Two()
    assert two.venue.exchange.order(ledger_id(two.venue.account, 1), two.rest1.order_id)
    with two.on(1):
        assert two.venue.client.get_order(two.rest1.order_id).subaccount == 1
        assert two.venue.client.get_order(two.took1.order_id).subaccount == 1
    with two.on(0):
        assert two.venue.client.get_order(two.rest0.order_id).subaccount == 0


def test_an_order_on_a_subaccount_not_created_is_refused() -> None:
    two = Two()
    with two.on(5), pytest.raises(BadRequestError):
        two.venue.client.create_order(order(BookSide.BID, "0.40", "1", TimeInForce.GTC))


def test_a_cancel_acts_on_the_subaccount_it_names_else_the_clients_else_0() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        with pytest.raises(NotFoundError):  # subaccount 0's order is not on 1
            client.cancel_order(two.rest0.order_id)
        assert client.get_order(two.rest0.order_id).status == "resting"
        client.cancel_order(two.rest0.order_id, subaccount=0)
        client.cancel_order(two.rest1.order_id)
    assert two.venue.resting_order_ids() == []


def test_a_cancel_of_a_client_acting_on_none_is_subaccount_0s() -> None:
    two = Two()
    with two.on(None), pytest.raises(NotFoundError):
        two.venue.client.cancel_order(two.rest1.order_id)
    assert set(two.venue.resting_order_ids()) == {two.rest0.order_id, two.rest1.order_id}


def test_cancel_all_of_a_subaccount_leaves_the_others_orders_resting() -> None:
    two = Two()
    with two.on(1):
        two.venue.client.cancel_all_orders()
    assert two.venue.resting_order_ids() == [two.rest0.order_id]
    with two.on(None):  # every subaccount
        two.venue.client.cancel_all_orders()
    assert two.venue.resting_order_ids() == []


def test_a_batch_cancel_item_acts_on_its_subaccount() -> None:
    two = Two()
    client = two.venue.client
    pairs: list[tuple[str, str | None]] = [(two.rest0.order_id, T), (two.rest1.order_id, T)]
    with two.on(None):
        # an item that names no subaccount is subaccount 0's, as the exchange reads it
        first = client.batch_cancel(pairs)
        assert [r.error is None for r in first] == [True, False]
        assert two.venue.resting_order_ids() == [two.rest1.order_id]
        (second,) = client.batch_cancel(pairs[1:], subaccounts={two.rest1.order_id: 1})
        assert second.error is None
    assert two.venue.resting_order_ids() == []


def test_a_batch_cancel_of_a_client_on_a_subaccount_acts_on_it() -> None:
    two = Two()
    pairs: list[tuple[str, str | None]] = [(two.rest0.order_id, T), (two.rest1.order_id, T)]
    with two.on(1):
        results = two.venue.client.batch_cancel(pairs)
    assert [r.error is None for r in results] == [False, True]
    assert two.venue.resting_order_ids() == [two.rest0.order_id]


def test_amend_and_decrease_act_on_the_subaccount_acted_on() -> None:
    two = Two()
    client = two.venue.client
    with two.on(1):
        with pytest.raises(NotFoundError):
            client.amend_order(
                two.rest0.order_id, ticker=T, book_side=BookSide.BID, price=D("0.39"), count=D(1)
            )
        with pytest.raises(NotFoundError):
            client.decrease_order(two.rest0.order_id, reduce_by=D(1))
        client.decrease_order(two.rest1.order_id, reduce_to=D(3))
        amended = client.amend_order(
            two.rest1.order_id, ticker=T, book_side=BookSide.BID, price=D("0.39"), count=D(3)
        )
        assert amended["order"]["subaccount_number"] == 1
        assert client.get_order(amended["order"]["order_id"]).remaining_count == D(3)
    with two.on(0):
        assert client.get_order(two.rest0.order_id).remaining_count == D(1)


def test_a_resting_order_of_a_subaccount_fills_on_it() -> None:
    """The fill model's maker fills reach the order on the subaccount it rests on."""
    two = Two()
    two.clock.advance(1)
    # a NO taker meets the YES bids at 0.40: the 50 ahead of ours, then all of ours
    two.venue.trade(T, D("0.40"), D(200), Side.NO)
    client = two.venue.client
    with two.on(1):
        assert [(p.ticker, p.position) for p in client.get_positions()] == [(T, D(6))]
    with two.on(0):
        assert [(p.ticker, p.position) for p in client.get_positions()] == [(T, D(4))]
    assert two.venue.resting_order_ids() == []
