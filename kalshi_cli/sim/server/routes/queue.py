"""Queue positions (`GET /portfolio/orders/queue_positions`, `GET /portfolio/orders/{order_id}/
queue_position`): for each resting order, the contracts resting ahead of it at its price, read
from the book's real FIFO (`OrderDesk.queue_position`). The spec: "the number of preceding shares
before the order in the queue ... determined using price-time priority"; REFERENCE.md "Changes in
3.31.0": an amend of the expiry alone or a decrease keeps the place, a price change or a size
increase sends the order to the back. Computed from the live book (not the lagged replica)."""

from __future__ import annotations

from kalshi_cli.sim.core.records import ExchangeError, not_found
from kalshi_cli.sim.server.routes.subaccounts import read_ledgers
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    query_list,
    query_str,
)
from kalshi_cli.vocabulary.units import fmt_count


def handle_queue_positions(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    tickers = query_list(ctx, "market_tickers")
    event_ticker = query_str(ctx, "event_ticker")
    exchange = state.exchange
    rows: list[Json] = []
    # SubaccountQueryDefaultPrimary ("Defaults to 0"): subaccount 0's orders unless one is named
    for ledger in read_ledgers(state, ctx, all_by_default=False):
        for order in exchange.accounts.resting_orders(ledger):
            if tickers is not None and order.ticker not in tickers:
                continue
            if (
                event_ticker is not None
                and exchange.reference.event_of(order.ticker) != event_ticker
            ):
                continue
            position = exchange.desk.queue_position(ledger, order.order_id)
            rows.append(
                {
                    "order_id": order.order_id,
                    "market_ticker": order.ticker,
                    "queue_position_fp": fmt_count(position),
                }
            )
    return 200, {"queue_positions": rows}


def handle_queue_position(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    # The spec gives this path no `subaccount`, as it gives GetOrder none: the order is looked
    # for on every subaccount the key may read (a restricted key's own only), and an order on
    # none of them is the one 404 of an unknown order.
    order_id = ctx.path_param("order_id")
    missing = not_found()
    for ledger in read_ledgers(state, ctx, all_by_default=True):
        try:
            position = state.exchange.desk.queue_position(ledger, order_id)
        except ExchangeError as exc:
            missing = exc
            continue
        return 200, {"queue_position_fp": fmt_count(position)}
    raise missing


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/portfolio/orders/queue_positions", handle_queue_positions),
    Endpoint("GET", "/portfolio/orders/{order_id}/queue_position", handle_queue_position),
)
