"""No defaults in money: a create answer whose counts are not counts of this order (negative,
larger than the order, or a resting order claimed to have ended with nothing filled) proves
nothing about the order. Its outcome is unknown and the order is looked up on the exchange,
never booked from the answer. The simulator is real; a transport between the client and it
rewrites the answer's counts as a broken or hostile exchange might."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.prime_tier import connect

Rewrite = Callable[[dict[str, Any]], None]


class Mangling(httpx.BaseTransport):
    """The real transport, with each order create's answer rewritten by `rewrite`."""

    def __init__(self, rewrite: Rewrite) -> None:
        self.inner = httpx.HTTPTransport()
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method != "POST" or not request.url.path.endswith("/portfolio/events/orders"):
            return response
        body = json.loads(response.read())
        self.rewrite(body)
        return httpx.Response(response.status_code, json=body, headers={"x-mangled": "1"})

    def close(self) -> None:
        self.inner.close()


def mangled_client(prime: SimHarness, rewrite: Rewrite) -> KalshiClient:
    return connect(prime.account, transport=Mangling(rewrite))


def setter(**fields: str) -> Rewrite:
    return lambda body: body.update(fields)


@pytest.mark.parametrize(
    ("rewrite", "why"),
    [
        (setter(remaining_count="-5.00"), "remaining_count -5.00"),
        (setter(fill_count="-1.00"), "fill_count -1.00"),
        (setter(remaining_count="7.00"), "more than the order's 5.00"),
        # a good-till-canceled order does not end with nothing filled and nothing resting
        (setter(remaining_count="0.00", fill_count="0.00"), "neither filled nor resting"),
    ],
    ids=["negative-remaining", "negative-fill", "too-large", "gtc-ended-empty"],
)
def test_a_create_answer_with_impossible_counts_is_unknown_until_the_lookup_settles_it(
    prime: SimHarness, store: Store, rewrite: Rewrite, why: str, ticker: str
) -> None:
    with mangled_client(prime, rewrite) as client:
        service = OrderService(client, store)
        create = CreateOrder(ticker, BookSide.BID, D("0.20"), D(5), client_order_id="c-odd")
        outcome = service.submit(create, side=Side.YES, action=Action.BUY)
    # the lookup found the order resting with all 5, as the exchange holds it
    assert (outcome.status, outcome.remaining_count) == ("resting", D(5))
    assert outcome.note is not None and "found on the exchange" in outcome.note
    intent = store.orders.get_intent("c-odd")
    assert intent is not None
    assert (intent.status, intent.remaining, intent.filled) == ("resting", D(5), D(0))
    history = [h.status for h in store.orders.order_history("c-odd")]
    assert "unknown" in history and "canceled" not in history
    [unknown] = [h for h in store.orders.order_history("c-odd") if h.status == "unknown"]
    assert unknown.note is not None and why in unknown.note


def test_an_immediate_or_cancel_order_may_end_with_nothing_filled(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    """The rule is about what the order's terms allow: IOC with no counterparty ends so."""
    with mangled_client(prime, lambda body: None) as client:
        service = OrderService(client, store)
        create = CreateOrder(
            ticker, BookSide.BID, D("0.20"), D(5), TimeInForce.IOC, client_order_id="c-ioc"
        )
        outcome = service.submit(create, side=Side.YES, action=Action.BUY)
    assert (outcome.status, outcome.fill_count, outcome.remaining_count) == ("canceled", 0, 0)
    assert outcome.note is None  # settled by the answer itself, no lookup


def test_a_batch_item_with_impossible_counts_is_unknown_not_booked(
    prime: SimHarness, ticker: str
) -> None:
    def rewrite(body: dict[str, Any]) -> None:
        for item in body.get("orders", []):
            item["remaining_count"] = "-5.00"

    class BatchMangling(Mangling):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            if not request.url.path.endswith("/portfolio/events/orders/batched"):
                return response
            body = json.loads(response.read())
            self.rewrite(body)
            return httpx.Response(response.status_code, json=body)

    with connect(prime.account, transport=BatchMangling(rewrite)) as client:
        create = CreateOrder(ticker, BookSide.BID, D("0.20"), D(5), client_order_id="c-b")
        [item] = client.orders.batch_create_orders([create])
    assert item.unknown and item.result is None
    assert item.error is not None and "remaining_count -5.00" in item.error
