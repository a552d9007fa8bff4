"""The steps the amend tests share: a resting bid placed through the order service, and an amend
of it recorded in the state file before it is sent."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.services.orders.amend import Amend
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side


def bid_of_ten(service: OrderService, ticker: str) -> str:
    """A YES bid of 10 at 0.20, resting; its order id."""
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(10), D("0.20"))
    outcome = service.place(service.prepare(request))
    assert outcome.order_id is not None
    return outcome.order_id


def recorded_amend(
    service: OrderService, order_id: str, ticker: str, price: str, rest: int
) -> Amend:
    """The bid `order_id` amended to YES `price`, `rest` contracts resting: recorded, not sent."""
    amend = service.amends.record(
        order_id,
        ticker=ticker,
        book_side=BookSide.BID,
        yes_price=D(price),
        rest=D(rest),
        post_only=None,
    )
    assert amend is not None
    return amend
