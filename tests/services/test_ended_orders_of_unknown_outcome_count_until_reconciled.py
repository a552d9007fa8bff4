"""An order of this state file whose answer was lost goes on counting toward the order
commands' position limit and the assistant's account limits as resting, at its whole count,
after the exchange has ended it (executed or cancelled), until `kalshi reconcile` settles it.

Only resting orders are listed (not every order of the account, for each check), and a read of
the positions may lag the order's end, so dropping it once it is listed as ended could count its
contracts nowhere. Counting it on counts too much, never too little, until a reconcile books
what it did."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Counted, another_accounts_order, counted


def _lost_order_that_landed(service: OrderService, create: CreateOrder) -> str:
    """Record `create` as sent and its answer lost, then let it land on the exchange; its id."""
    buy = create.book_side is BookSide.BID
    service.record_intent(create, side=Side.YES, action=Action.BUY if buy else Action.SELL)
    service.record_unknown(create, "timed out")
    return service.client.orders.create_order(create).order_id


def test_an_executed_order_of_unknown_outcome_counts_as_resting_until_reconciled(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store)
    _lost_order_that_landed(service, CreateOrder(ticker, BookSide.BID, D("0.40"), D(7)))
    another_accounts_order(prime, ticker, BookSide.ASK, "0.40", 7)  # takes all of it
    (order,) = client.orders.iter_orders(ticker=ticker)
    assert order.status == "executed"

    # its 7 are in the position and still counted as bids: 14 on the YES side at worst
    assert counted(service, ticker) == Counted(D(7), D(7), D(0), D(7))
    (view,) = service.checks.account_views().values()
    assert [(r.action, r.remaining) for r in view.resting] == [(Action.BUY, D(7))]

    service.reconcile()
    assert counted(service, ticker) == Counted(D(7), D(0), D(0))
    (view,) = service.checks.account_views().values()
    assert view.resting == ()


def test_a_cancelled_order_of_unknown_outcome_counts_as_resting_until_reconciled(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store)
    order_id = _lost_order_that_landed(service, CreateOrder(ticker, BookSide.ASK, D("0.90"), D(5)))
    client.orders.cancel_order(order_id)

    assert counted(service, ticker) == Counted(D(0), D(0), D(5), D(5))
    assert [r.remaining for v in service.checks.account_views().values() for r in v.resting] == [
        D(5)
    ]

    service.reconcile()
    assert counted(service, ticker) == Counted(D(0), D(0), D(0))
    assert service.checks.account_views() == {}
