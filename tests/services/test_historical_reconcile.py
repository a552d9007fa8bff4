"""Reconcile finds orders the historical cutoff archived: an order that finished long ago is
listed only by `/historical/orders` (and no longer read by `GET /portfolio/orders/{id}`), so an
intent whose answer was lost, or a row still resting here, is settled from there instead of
being left resting or called never placed."""

from __future__ import annotations

import time
from decimal import Decimal as D

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.records import EXECUTED, RESTING
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order, make_markets


def archive_everything(prime: SimHarness) -> None:
    prime.http.put(prime.admin_url + "/historical", json={"lag_seconds": 0}).raise_for_status()


def rest_and_get_filled(
    prime: SimHarness, client: KalshiClient, store: Store
) -> tuple[OrderService, str]:
    (ticker,) = make_markets(prime, 1)
    service = OrderService(client, store)
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.40"), strategy="s")
    placed = service.place(service.prepare(request))
    assert store.orders.get_intent(placed.client_order_id).status == RESTING  # type: ignore[union-attr]
    another_accounts_order(prime, ticker, BookSide.ASK, "0.40", 2)
    return service, placed.client_order_id


def test_a_row_resting_here_whose_order_was_archived_takes_the_archived_state(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    service, client_order_id = rest_and_get_filled(prime, client, store)
    archive_everything(prime)
    service.reconcile()
    intent = store.orders.get_intent(client_order_id)
    assert intent is not None and intent.status == EXECUTED and intent.filled == 2


def test_an_unknown_outcome_is_resolved_from_the_archived_orders(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """An intent whose answer was lost (written, sent, no answer recorded), filled and archived
    before the next reconcile."""
    create = CreateOrder(ticker, BookSide.BID, D("0.40"), D(2))
    store.orders.record_intent(
        IntentRecord(
            client_order_id=create.client_order_id,
            ticker=ticker,
            book_side=BookSide.BID,
            price=D("0.40"),
            count=D(2),
            side=Side.YES,
            action=Action.BUY,
            status="pending",
            order_id=None,
            filled=D(0),
            remaining=None,
            strategy="s",
            model_fair=None,
            reason=None,
            error=None,
            created_at=time.time(),
            updated_at=time.time(),
            time_in_force=create.time_in_force.value,
            post_only=False,
            reduce_only=False,
        )
    )
    client.orders.create_order(create)
    store.orders.mark_unknown(create.client_order_id, reason="the answer was lost (test)")
    another_accounts_order(prime, ticker, BookSide.ASK, "0.40", 2)
    archive_everything(prime)
    report = OrderService(client, store).reconcile()
    assert create.client_order_id in report.resolved_unknown
    intent = store.orders.get_intent(create.client_order_id)
    assert intent is not None and intent.status == EXECUTED and intent.filled == 2
