"""Two amends of one order never race: a person's amend waits for one still in the network
(its record in flight in the state file) to be answered, shown by a read of the order, or past
the time it could land, and reads the order afresh; the last amend sent is the one that stands,
on the exchange and in the state file. The first amend is held in the network by the
simulator's `hold_request_s` fault while its client gives up (a short timeout)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import AmendOutcomeUnknown, ValidationError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side
from tests.conftest import SimHarness
from tests.prime_tier import connect
from tests.waiting import wait_until


def test_a_second_amend_waits_for_one_still_in_the_network_and_its_price_stands(
    prime: SimHarness, client: KalshiClient, store: Store, service: OrderService, ticker: str
) -> None:
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(5), D("0.03")))
    )
    order_id = placed.order_id
    assert order_id is not None
    # the first amend lands 8 s late, its client gone at 4 s: a client's deadline shorter than
    # a busy machine's stall may end before the request has left whole, and nothing lands
    prime.set_faults(hold_request_s=8.0)
    with connect(prime.account, timeout=4.0) as impatient, pytest.raises(AmendOutcomeUnknown):
        OrderService(impatient, store).amends.amend(order_id, price=D("0.04"))
    assert prime.faults()["hold_request_s"] == 0  # the first amend is the one held

    made = service.amends.amend(order_id, price=D("0.05"))

    assert made.order.yes_price == D("0.05")
    amends = "POST /portfolio/events/orders/{order_id}/amend"

    def both_seen() -> bool:
        seen = prime.stats()["accounts"][prime.account.key_id]["requests"]
        return int(seen.get(amends, 0)) == 2

    wait_until(both_seen, "both amends to reach the exchange")
    assert client.orders.get_order(order_id).yes_price == D("0.05")
    row = store.orders.get_intent(placed.client_order_id)
    assert row is not None and row.price == D("0.05")
    assert store.orders.amends_in_doubt() == []


def test_an_amend_recorded_by_another_process_after_the_wait_keeps_a_second_from_being_sent(
    prime: SimHarness, client: KalshiClient, store: Store, service: OrderService, ticker: str
) -> None:
    """Both passed the wait at once: the one whose record is second sends nothing, and says
    the order changed since it was read and how to amend it still; its next `amend` waits
    for the first."""
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(5), D("0.03")))
    )
    order_id = placed.order_id
    assert order_id is not None
    late = service.amends.prepare(order_id, price=D("0.05"))
    other = OrderService(client, store).amends.prepare(order_id, price=D("0.04"))
    assert other.local is not None
    first = OrderService(client, store).amends.record(
        order_id,
        ticker=ticker,
        book_side=other.order.book_side,
        yes_price=other.yes_price,
        rest=other.total - other.local.filled,
        post_only=None,
    )
    assert first is not None

    with pytest.raises(ValidationError) as refused:
        service.amends.submit(late)

    assert refused.value.code == "ORDER_CHANGED"
    # what the assistant, which submits a confirmed amend itself, is told, and what to do
    assert refused.value.message == (
        f"order {order_id} took another amend, or stopped resting, since it was read: nothing sent"
    )
    assert refused.value.hint == f"read it again (kalshi order show {order_id}) and amend it then"
    seen = prime.stats()["accounts"][prime.account.key_id]["requests"]
    assert int(seen.get("POST /portfolio/events/orders/{order_id}/amend", 0)) == 0
    assert client.orders.get_order(order_id).yes_price == D("0.03")
    ((_, doubted),) = store.orders.amends_in_doubt()
    assert doubted.id == first.record
