"""The V2 order writes: create (one and batched), cancel (one, batched, all), amend and
decrease; each body is parsed into the core's terms before the core is called.

Each write goes to one shard's matching engine: the one `exchange_index` names, or, when it is
omitted or -1, the one the market ticker auto-routes to (REFERENCE.md: "omitted means route by
ticker; -1 forces auto-routing"). An order id alone cannot find its shard ("Auto-routing needs
`market_ticker`"), so a cancel, decrease or batch-cancel item naming neither goes to shard 0,
where an order of another shard is not found (404). Cancel-all covers every shard."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.records import (
    ExchangeError,
    PlaceRequest,
    SimMarket,
    SimOrder,
    amend_counts,
    bad_request,
    not_found,
)
from kalshi_cli.sim.server.ratelimit import max_batch_items
from kalshi_cli.sim.server.routes.subaccounts import read_ledgers, write_ledger
from kalshi_cli.sim.server.routing import (
    DOLLARS_TEXT,
    INT64_MAX,
    INT64_MIN,
    Endpoint,
    Json,
    RequestContext,
    SimState,
    error_body,
    field_bool,
    field_decimal,
    field_req,
    field_str,
    parse_count,
    query_str,
    shard_of,
    shard_query,
)
from kalshi_cli.vocabulary.clock import LAST_DATE_TIME_S
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce, fmt_count


def market_or_400(state: SimState, ticker: str) -> SimMarket:
    market = state.exchange.reference.markets.get(ticker)
    if market is None:
        raise bad_request(f"market {ticker} not found", "market_not_found")
    return market


def parse_price(state: SimState, body: Json, market: SimMarket) -> Decimal:
    price = field_decimal(body, "price", DOLLARS_TEXT, "invalid_price")
    assert price is not None
    state.exchange.reference.check_price(market, price)
    return price


def parse_book_side(body: Json) -> BookSide:
    side = field_req(body, "side")
    try:
        return BookSide(side)
    except ValueError:
        raise bad_request("side must be bid or ask") from None


def routed_shard(state: SimState, shard: Any, market_ticker: str | None) -> int:
    """The shard a write goes to: `shard` (a body's or the query's `exchange_index`) when it
    names one, else the market's (auto-routing by `market_ticker`), else 0."""
    if shard is not None and (isinstance(shard, bool) or not isinstance(shard, int) or shard < -1):
        raise bad_request("exchange_index must be an integer: a shard, or -1 to auto-route")
    if shard is not None and shard >= 0:
        return shard
    return shard_of(state, market_ticker) if market_ticker else 0


def order_ledger(
    state: SimState, ctx: RequestContext, order_id: str, shard: int, subaccount: Any = None
) -> str:
    """The ledger a write to one of its orders acts on (`write_ledger`, `subaccount` a body's
    field), once the order is found on `shard`, where the write goes: the shard's engine does
    not know an order of another, so an order cancelled, executed, unknown or on another shard
    is one identical 404 `not_found` (the core's own, byte for byte)."""
    ledger = write_ledger(state, ctx, subaccount)
    order = state.exchange.history.order(ledger, order_id)
    if shard_of(state, order.ticker) != shard:
        raise not_found()
    return ledger


def trading_shard(state: SimState, market: SimMarket, shard: int) -> None:
    """An order placed or amended on `shard`: refused unless the market is on it (the shard's
    engine has no other) and trading there is not paused (503, as a paused exchange refuses)."""
    if market.exchange_index != shard:
        raise bad_request(
            f"market {market.ticker} is not on exchange_index {shard}", "market_not_found"
        )
    state.shards.check_trading(shard)


# The spec types expiration_time as int64 Unix seconds, and every answer that carries it names
# it as an RFC 3339 date-time, whose years end at 9999: a value past either bound cannot be
# served back, so it is an invalid request rather than an order no listing could show
# (`LAST_DATE_TIME_S`).


def parse_expiration_time(body: Json, tif: TimeInForce) -> int | None:
    expiration = body.get("expiration_time")
    if expiration is None:
        return None
    if isinstance(expiration, bool) or not isinstance(expiration, int):
        raise bad_request("expiration_time must be an integer (Unix seconds)")
    check_expiration_range(expiration)
    if tif is not TimeInForce.GTC:
        raise bad_request("expiration_time is only allowed with good_till_canceled")
    return expiration


def check_expiration_range(expiration: int) -> None:
    """An expiry every answer that carries it can name as a date-time (create and amend)."""
    if not INT64_MIN <= expiration <= INT64_MAX:
        raise bad_request(
            "expiration_time does not fit the int64 Unix seconds the spec asks for", "bad_request"
        )
    if expiration > LAST_DATE_TIME_S:
        raise bad_request(
            f"expiration_time {expiration} is later than 9999-12-31T23:59:59Z "
            f"({LAST_DATE_TIME_S}), the last second a date-time can name"
        )


def optional_id(body: Json, name: str) -> str | None:
    """A client id field of the order bodies (`client_order_id`, `updated_client_order_id`):
    the spec makes each an `x-go-type-skip-optional-pointer` string, so Kalshi's decoder reads
    "" exactly as a field left out, and "" names no id."""
    return field_str(body, name, required=False) or None


def parse_create(state: SimState, body: Any) -> PlaceRequest:
    if not isinstance(body, dict):
        raise bad_request("an order must be a JSON object", "bad_request")
    ticker = field_req(body, "ticker")
    market = market_or_400(state, ticker)
    book_side = parse_book_side(body)
    count = parse_count(body, "count")
    assert count is not None  # a required field: refused above when absent
    price = parse_price(state, body, market)
    try:
        tif = TimeInForce(field_req(body, "time_in_force"))
    except ValueError:
        raise bad_request(
            "time_in_force must be fill_or_kill, good_till_canceled or immediate_or_cancel"
        ) from None
    try:
        stp = SelfTradePrevention(field_req(body, "self_trade_prevention_type"))
    except ValueError:
        raise bad_request("self_trade_prevention_type must be taker_at_cross or maker") from None
    expiration = parse_expiration_time(body, tif)
    trading_shard(state, market, routed_shard(state, body.get("exchange_index"), ticker))
    return PlaceRequest(
        ticker=ticker,
        book_side=book_side,
        price=price,
        count=count,
        time_in_force=tif,
        self_trade_prevention=stp,
        client_order_id=optional_id(body, "client_order_id"),
        post_only=field_bool(body, "post_only"),
        reduce_only=field_bool(body, "reduce_only"),
        expiration_time=expiration,
        cancel_order_on_pause=field_bool(body, "cancel_order_on_pause"),
        order_group_id=field_str(body, "order_group_id", required=False) or None,
    )


def _answer(state: SimState, order: SimOrder, **counts: Decimal) -> Json:
    """An order write's answer: the order's ids, the `counts` it names, and the time."""
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        **{name: fmt_count(count) for name, count in counts.items()},
        "ts_ms": ser.ts_ms(state.clock.wall()),
    }


def _create_one(state: SimState, ctx: RequestContext, body: Any) -> Json:
    request = parse_create(state, body)
    ledger = write_ledger(state, ctx, body.get("subaccount"))
    result = state.exchange.desk.place_order(ledger, request)
    order = result.order
    response = _answer(
        state, order, fill_count=order.fill_count, remaining_count=order.remaining_count
    )
    response.update(ser.fill_averages(result.fills))
    return response


def handle_create_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return 201, _create_one(state, ctx, ctx.body)


def _batch_items(state: SimState, body: Any, method: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
        raise bad_request('expected {"orders": [...]}', "bad_request")
    items: list[Any] = body["orders"]
    if not items:
        raise bad_request("orders must not be empty")
    limit = max_batch_items(state.tier, method)
    if len(items) > limit:
        raise bad_request(f"at most {limit} orders per batch on the {state.tier.name} tier")
    return items


def handle_batch_create_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    results: list[Json] = []
    for item in _batch_items(state, ctx.body, "POST"):
        client_order_id = item.get("client_order_id") if isinstance(item, dict) else None
        try:
            results.append(_create_one(state, ctx, item))
        except ExchangeError as exc:
            results.append(
                {
                    "client_order_id": client_order_id
                    if isinstance(client_order_id, str)
                    else None,
                    "error": error_body(exc.code, exc.message, exc.details),
                }
            )
    return 201, {"orders": results}


def handle_batch_cancel_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    results: list[Json] = []
    for item in _batch_items(state, ctx.body, "DELETE"):
        order_id = item.get("order_id") if isinstance(item, dict) else None
        if not isinstance(order_id, str):
            raise bad_request("every item needs an order_id string", "missing_parameters")
        try:
            shard = routed_shard(state, item.get("exchange_index"), item.get("market_ticker"))
            ledger = order_ledger(state, ctx, order_id, shard, item.get("subaccount"))
            order, reduced = state.exchange.desk.cancel_order(ledger, order_id)
            results.append(_answer(state, order, reduced_by=reduced))
        except ExchangeError as exc:
            results.append(
                {
                    "order_id": order_id,
                    "reduced_by": fmt_count(Decimal(0)),
                    "error": error_body(exc.code, exc.message, exc.details),
                }
            )
    return 200, {"orders": results}


def handle_cancel_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    shard = routed_shard(state, shard_query(ctx, auto_route=True), query_str(ctx, "market_ticker"))
    order_id = ctx.path_param("order_id")
    ledger = order_ledger(state, ctx, order_id, shard)
    order, reduced = state.exchange.desk.cancel_order(ledger, order_id)
    return 200, _answer(state, order, reduced_by=reduced)


def handle_cancel_all_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    for ledger in read_ledgers(state, ctx, all_by_default=True):  # "across every exchange shard"
        state.exchange.desk.cancel_all(ledger)
    return 204, None


def handle_amend_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body  # an object: the pipeline decoded it into the operation's request struct
    ticker = field_req(body, "ticker")
    market = market_or_400(state, ticker)
    book_side = parse_book_side(body)
    price = parse_price(state, body, market)
    count = parse_count(body, "count")
    assert count is not None
    updated = optional_id(body, "updated_client_order_id")
    expiration = body.get("expiration_time")
    if expiration is not None:
        if isinstance(expiration, bool) or not isinstance(expiration, int) or expiration < 0:
            raise bad_request("expiration_time must be Unix seconds (0 removes the expiry)")
        check_expiration_range(expiration)
    shard = routed_shard(state, body.get("exchange_index"), ticker)
    order_id = ctx.path_param("order_id")
    ledger = order_ledger(state, ctx, order_id, shard)
    trading_shard(state, market, shard)
    old, new, fills = state.exchange.desk.amend_order(
        ledger,
        order_id,
        ticker=ticker,
        book_side=book_side,
        price=price,
        count=count,
        updated_client_order_id=updated,
        expiration_time=expiration,
    )
    response = _answer(state, new)
    counts = amend_counts(old, new, fills)  # "only present" when it filled or changed them
    if counts is not None:
        response["remaining_count"] = fmt_count(counts[0])
        response["fill_count"] = fmt_count(counts[1])
    response.update(ser.fill_averages(fills))
    return 200, response


def handle_decrease_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body  # an object: the pipeline decoded it into the operation's request struct
    reduce_by = parse_count(body, "reduce_by", required=False)
    reduce_to = parse_count(body, "reduce_to", allow_zero=True, required=False)
    if (reduce_by is None) == (reduce_to is None):
        raise bad_request("send exactly one of reduce_by or reduce_to")
    shard = routed_shard(state, body.get("exchange_index"), body.get("market_ticker"))
    order_id = ctx.path_param("order_id")
    ledger = order_ledger(state, ctx, order_id, shard)
    order = state.exchange.desk.decrease_order(
        ledger,
        order_id,
        reduce_by=reduce_by,
        reduce_to=reduce_to,
    )
    return 200, _answer(state, order, remaining_count=order.remaining_count)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/portfolio/events/orders", handle_create_order),
    Endpoint("DELETE", "/portfolio/events/orders", handle_cancel_all_orders),
    Endpoint("POST", "/portfolio/events/orders/batched", handle_batch_create_orders, batch=True),
    Endpoint("DELETE", "/portfolio/events/orders/batched", handle_batch_cancel_orders, batch=True),
    Endpoint("DELETE", "/portfolio/events/orders/{order_id}", handle_cancel_order),
    Endpoint("POST", "/portfolio/events/orders/{order_id}/amend", handle_amend_order),
    Endpoint("POST", "/portfolio/events/orders/{order_id}/decrease", handle_decrease_order),
)
