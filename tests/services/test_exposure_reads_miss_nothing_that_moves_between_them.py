"""The exposure the order commands' position limit and the assistant's account limits are held
to is three reads: the state file's orders of unknown outcome, the exchange's resting orders,
its positions. Contracts move between them while they are read (an order lands and is booked
resting, a resting order fills), always in that direction; read in that order, a move between
two reads is counted twice, never missed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import Any

from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Counted, another_accounts_order, connect_as, counted


class MovesWhileListed(OrdersApi):
    """A client's orders area whose listing of resting orders runs `before` as it is asked
    (or `after` once it has answered): what another process or the exchange did meanwhile."""

    before: Callable[[], None] | None = None
    after: Callable[[], None] | None = None

    def iter_orders(self, **kwargs: Any) -> Iterator[Order]:
        if kwargs.get("status") != "resting":
            return super().iter_orders(**kwargs)
        before, self.before = self.before, None
        if before is not None:
            before()
        listed = list(super().iter_orders(**kwargs))
        after, self.after = self.after, None
        if after is not None:
            after()
        return iter(listed)


def test_a_fill_while_the_orders_are_read_counts_on_one_side_of_the_reads(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    """A bid of 10 rests; 4 of it fill as the resting orders are read. Its 10 count whole,
    as 6 resting and 4 held or more: read after the positions, the fill was in neither (6)."""
    with connect_as(MovesWhileListed, prime.account) as client:
        client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.30"), D(10)))
        client.area.before = lambda: another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 4)

        exposure = counted(OrderService(client, store), ticker)

    assert exposure == Counted(D(4), D(6), D(0))


def test_an_order_booked_while_the_orders_are_read_counts_on_one_side_of_the_reads(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    """Another process's bid of 5 is recorded and out to the exchange; it lands, and that
    process books it resting, just after the resting orders were read. It counts as of unknown
    outcome: read after the listing, the state file had it resting and the listing did not
    (nothing counted)."""
    with connect_as(MovesWhileListed, prime.account) as client:
        other = OrderService(client, store)
        create = CreateOrder(ticker, BookSide.BID, D("0.30"), D(5))
        other.record_intent(create, side=Side.YES, action=Action.BUY)

        def lands_and_is_booked() -> None:
            other.record_answer(create, client.orders.create_order(create))

        client.area.after = lands_and_is_booked

        exposure = counted(OrderService(client, store), ticker)

    assert exposure == Counted(D(0), D(5), D(0), D(5))
