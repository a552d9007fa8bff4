"""RFQs and quotes on the wire (`/communications/...`) and the `communications` WebSocket channel's
messages. The behaviour is sim/core/communications.py's; this module parses requests and writes
the spec's shapes, showing each caller only what the spec lets it see. The deprecated quote paths
without the RFQ are served by the same handlers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_cli.sim.core.communications import (
    CommsNotice,
    Communications,
    QuoteRequest,
    RfqRequest,
    SimQuote,
    SimRfq,
    uuid_or_400,
)
from kalshi_cli.sim.core.records import bad_request, not_found, owner
from kalshi_cli.sim.server.routes.subaccounts import write_ledger
from kalshi_cli.sim.server.routing import (
    DOLLARS_TEXT,
    Endpoint,
    InvalidQuery,
    Json,
    RequestContext,
    SimState,
    field_bool,
    field_decimal,
    field_req,
    matches,
    paginate,
    parse_count,
    query_int,
    query_str,
    query_subaccount,
)
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars


def comms(state: SimState) -> Communications:
    return state.exchange.communications


# --------------------------------------------------------------------------------------------
# Shapes


def rfq_json(c: Communications, rfq: SimRfq, viewer: str) -> Json:
    body: Json = {
        "id": rfq.rfq_id,
        "creator_id": c.creator_id_seen(rfq, viewer),
        "market_ticker": rfq.market_ticker,
        "contracts_fp": fmt_count(rfq.contracts or Decimal(0)),
        "status": rfq.status,
        "created_ts": iso_utc(rfq.created_ts),
        "updated_ts": iso_utc(rfq.updated_ts),
        "rest_remainder": rfq.rest_remainder,
    }
    if rfq.target_cost is not None:
        body["target_cost_dollars"] = fmt_dollars(rfq.target_cost)
        body["target_cost_excludes_fees"] = rfq.target_cost_excludes_fees
    if rfq.cancelled_ts is not None:
        body["cancelled_ts"] = iso_utc(rfq.cancelled_ts)
        body["cancellation_reason"] = rfq.cancellation_reason
    if viewer == rfq.creator:
        body["creator_user_id"] = rfq.creator
        body["creator_subaccount"] = rfq.subaccount
    return body


def _quote_contracts(rfq: SimRfq, quote: SimQuote) -> Decimal:
    if rfq.contracts is not None:
        return rfq.contracts
    if quote.accepted_side == "no":
        return quote.no_contracts
    return quote.yes_contracts


def quote_json(c: Communications, quote: SimQuote, viewer: str) -> Json:
    rfq = c.rfqs[quote.rfq_id]
    body: Json = {
        "id": quote.quote_id,
        "rfq_id": quote.rfq_id,
        "creator_id": c.communications_id(quote.creator),
        "rfq_creator_id": c.creator_id_seen(rfq, viewer),
        "market_ticker": quote.market_ticker,
        "contracts_fp": fmt_count(_quote_contracts(rfq, quote)),
        "yes_bid_dollars": fmt_dollars(quote.yes_bid),
        "no_bid_dollars": fmt_dollars(quote.no_bid),
        "yes_contracts_fp": fmt_count(quote.yes_contracts),
        "no_contracts_fp": fmt_count(quote.no_contracts),
        "created_ts": iso_utc(quote.created_ts),
        "updated_ts": iso_utc(quote.updated_ts),
        "status": quote.status,
        "rest_remainder": quote.rest_remainder,
    }
    if rfq.target_cost is not None:
        body["rfq_target_cost_dollars"] = fmt_dollars(rfq.target_cost)
        body["target_cost_excludes_fees"] = rfq.target_cost_excludes_fees
    if quote.accepted_side is not None:
        body["accepted_side"] = quote.accepted_side
    for name in ("accepted_ts", "confirmed_ts", "executed_ts", "cancelled_ts"):
        value = getattr(quote, name)
        if value is not None:
            body[name] = iso_utc(value)
    if quote.cancellation_reason:
        body["cancellation_reason"] = quote.cancellation_reason
    if viewer == quote.creator:
        body["creator_user_id"] = quote.creator
        body["creator_subaccount"] = quote.subaccount
        body["post_only"] = quote.post_only
        if quote.order_id:
            body["creator_order_id"] = quote.order_id
    if viewer == rfq.creator:
        body["rfq_creator_user_id"] = rfq.creator
        body["rfq_creator_subaccount"] = rfq.subaccount
        if quote.rfq_order_id:
            body["rfq_creator_order_id"] = quote.rfq_order_id
    return body


def ws_message(c: Communications, notice: CommsNotice, viewer: str) -> Json:
    """The `msg` of a `communications` channel message, as `viewer` sees it."""
    rfq, quote = notice.rfq, notice.quote
    if quote is None:
        msg: Json = {
            "id": rfq.rfq_id,
            # asyncapi: "Currently empty for rfq_created events"
            "creator_id": "" if notice.kind == "rfq_created" else c.creator_id_seen(rfq, viewer),
            "market_ticker": rfq.market_ticker,
            "event_ticker": rfq.event_ticker,
        }
        if notice.kind == "rfq_created":
            msg["created_ts"] = iso_utc(rfq.created_ts)
        else:
            msg["deleted_ts"] = iso_utc(rfq.cancelled_ts or rfq.updated_ts)
        if rfq.contracts is not None:
            msg["contracts_fp"] = fmt_count(rfq.contracts)
        if rfq.target_cost is not None:
            msg["target_cost_dollars"] = fmt_dollars(rfq.target_cost)
        return msg
    common: Json = {
        "quote_id": quote.quote_id,
        "rfq_id": quote.rfq_id,
        "quote_creator_id": c.communications_id(quote.creator),
        "rfq_creator_id": c.creator_id_seen(rfq, viewer),
        "market_ticker": quote.market_ticker,
    }
    if notice.kind == "quote_executed":
        mine = viewer == quote.creator
        return {
            **common,
            "order_id": quote.order_id if mine else quote.rfq_order_id,
            "client_order_id": quote.client_order_id if mine else quote.rfq_client_order_id,
            "executed_ts": iso_utc(quote.executed_ts or quote.updated_ts),
        }
    msg = {
        **common,
        "event_ticker": rfq.event_ticker,
        "yes_bid_dollars": fmt_dollars(quote.yes_bid),
        "no_bid_dollars": fmt_dollars(quote.no_bid),
        "yes_contracts_offered_fp": fmt_count(quote.yes_contracts),
        "no_contracts_offered_fp": fmt_count(quote.no_contracts),
    }
    if rfq.target_cost is not None:
        msg["rfq_target_cost_dollars"] = fmt_dollars(rfq.target_cost)
    if notice.kind == "quote_created":
        msg["created_ts"] = iso_utc(quote.created_ts)
    else:
        msg["accepted_side"] = quote.accepted_side
        msg["contracts_accepted_fp"] = fmt_count(_quote_contracts(rfq, quote))
    return msg


# --------------------------------------------------------------------------------------------
# Input


def _user_filter(ctx: RequestContext, name: str) -> bool:
    value = query_str(ctx, name)
    if value is None:
        return False
    if value != "self":
        raise InvalidQuery(
            ctx.operation,
            f"{name}: value is not one of the allowed values [self]",
        )
    return True


def _uuid_query(ctx: RequestContext, name: str) -> str | None:
    value = query_str(ctx, name)
    return None if value is None else uuid_or_400(value, name)


def _subaccount(state: SimState, ctx: RequestContext) -> int:
    """The caller's subaccount a CreateRFQ or CreateQuote body names (0 when it names none),
    resolved as for an order: 400 for one not created, 403 for one the key may not use."""
    _, number = owner(write_ledger(state, ctx, ctx.body.get("subaccount")))
    return number


def _page(ctx: RequestContext, items: list[Any], limit_max: int) -> tuple[list[Any], str]:
    limit = query_int(ctx, "limit", limit_max, 1, limit_max) or limit_max
    return paginate(
        items,
        lambda i: i.rfq_id if isinstance(i, SimRfq) else i.quote_id,
        limit,
        _uuid_query(ctx, "cursor"),
    )


# --------------------------------------------------------------------------------------------
# Handlers


def handle_communications_id(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return 200, {"communications_id": Communications.communications_id(ctx.account_id)}


def handle_create_rfq(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body: Json = ctx.body
    subaccount = _subaccount(state, ctx)
    ticker = field_req(body, "market_ticker")
    rest_remainder = field_bool(body, "rest_remainder", required=True)
    whole = body.get("contracts")
    fp = parse_count(body, "contracts_fp", required=False)
    if whole is not None and fp is not None and Decimal(whole) != fp:
        raise bad_request("contracts and contracts_fp must match")
    contracts = fp if fp is not None else (None if whole is None else Decimal(whole))
    target = field_decimal(
        body, "target_cost_dollars", DOLLARS_TEXT, "invalid_parameters", required=False
    )
    centi = body.get("target_cost_centi_cents")
    if target is None and centi is not None:
        target = Decimal(centi) / 10_000
    request = RfqRequest(
        market_ticker=ticker,
        contracts=contracts,
        target_cost=target,
        rest_remainder=rest_remainder,
        replace_existing=field_bool(body, "replace_existing"),
        obscure_creator_id=field_bool(body, "obscure_creator_id"),
        target_cost_excludes_fees=field_bool(body, "target_cost_excludes_fees"),
        subaccount=subaccount,
    )
    rfq = comms(state).create_rfq(ctx.account_id, request)
    return 201, {"id": rfq.rfq_id}


def handle_list_rfqs(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    c = comms(state)
    market = query_str(ctx, "market_ticker")
    event = query_str(ctx, "event_ticker")
    status = query_str(ctx, "status")
    creator = _uuid_query(ctx, "creator_user_id")
    mine = _user_filter(ctx, "user_filter")
    # the spec's SubaccountQuery: the caller's RFQs on that subaccount; omitted, all of them
    subaccount = query_subaccount(ctx)
    rows = [
        r
        for r in reversed(list(c.rfqs.values()))  # newest first
        if matches(r, market_ticker=market, event_ticker=event, status=status, creator=creator)
        and (not mine or r.creator == ctx.account_id)
        and (subaccount is None or (r.creator == ctx.account_id and r.subaccount == subaccount))
    ]
    page, cursor = _page(ctx, rows, 100)
    return 200, {"rfqs": [rfq_json(c, r, ctx.account_id) for r in page], "cursor": cursor}


def handle_get_rfq(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    c = comms(state)
    rfq = c.rfq(ctx.path_param("rfq_id"))
    return 200, {"rfq": rfq_json(c, rfq, ctx.account_id)}


def handle_delete_rfq(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    comms(state).delete_rfq(ctx.account_id, ctx.path_param("rfq_id"))
    return 204, None


def _price(body: Json, name: str) -> Decimal:
    value = body.get(name)
    if value in ("0", "0.00", "0.0000"):
        return Decimal(0)
    price = field_decimal(body, name, DOLLARS_TEXT, "invalid_price")
    assert price is not None  # required
    return price


def handle_create_quote(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body: Json = ctx.body
    subaccount = _subaccount(state, ctx)
    rfq_id = field_req(body, "rfq_id")
    rest_remainder = field_bool(body, "rest_remainder", required=True)
    request = QuoteRequest(
        rfq_id=rfq_id,
        yes_bid=_price(body, "yes_bid"),
        no_bid=_price(body, "no_bid"),
        rest_remainder=rest_remainder,
        post_only=field_bool(body, "post_only"),
        subaccount=subaccount,
    )
    quote = comms(state).create_quote(ctx.account_id, request)
    return 201, {"id": quote.quote_id}


def handle_list_quotes(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    c = comms(state)
    me = ctx.account_id
    rfq_id = _uuid_query(ctx, "rfq_id")
    status = query_str(ctx, "status")
    quote_creator = _uuid_query(ctx, "quote_creator_user_id")
    rfq_creator = _uuid_query(ctx, "rfq_creator_user_id")
    mine = _user_filter(ctx, "user_filter")
    on_mine = _user_filter(ctx, "rfq_user_filter")
    lo, hi = query_int(ctx, "min_ts", None), query_int(ctx, "max_ts", None)
    rows = [
        q
        for q in reversed(list(c.quotes.values()))
        if c.visible(q, me)
        and matches(q, rfq_id=rfq_id, status=status, creator=quote_creator)
        and (rfq_creator is None or c.rfqs[q.rfq_id].creator == rfq_creator)
        and (not mine or q.creator == me)
        and (not on_mine or c.rfqs[q.rfq_id].creator == me)
        and (lo is None or q.created_ts >= lo)
        and (hi is None or q.created_ts <= hi)
    ]
    page, cursor = _page(ctx, rows, 500)
    return 200, {"quotes": [quote_json(c, q, me) for q in page], "cursor": cursor}


def _rfq_id(ctx: RequestContext) -> str | None:
    return ctx.path_param("rfq_id") if "rfq_id" in ctx.request.path_params else None


def handle_get_quote(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    c = comms(state)
    quote = c.quote(ctx.path_param("quote_id"), _rfq_id(ctx))
    if not c.visible(quote, ctx.account_id):
        raise not_found()
    return 200, {"quote": quote_json(c, quote, ctx.account_id)}


def handle_delete_quote(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    comms(state).delete_quote(ctx.account_id, ctx.path_param("quote_id"), _rfq_id(ctx))
    return 204, None


def handle_accept_quote(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    side = field_req(ctx.body, "accepted_side")
    comms(state).accept_quote(ctx.account_id, ctx.path_param("quote_id"), side, _rfq_id(ctx))
    return 204, None


def handle_confirm_quote(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    comms(state).confirm_quote(ctx.account_id, ctx.path_param("quote_id"), _rfq_id(ctx))
    return 204, None


_RFQ_QUOTE = "/communications/rfqs/{rfq_id}/quotes/{quote_id}"
_QUOTE = "/communications/quotes/{quote_id}"

# one quote's read and changes, served alike under its RFQ and on its own path (the spec has
# both: GetRFQQuote and GetQuote, AcceptRFQQuote and AcceptQuote, ...)
_ON_A_QUOTE = (
    ("GET", "", handle_get_quote),
    ("DELETE", "", handle_delete_quote),
    ("PUT", "/accept", handle_accept_quote),
    ("PUT", "/confirm", handle_confirm_quote),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/communications/id", handle_communications_id),
    Endpoint("GET", "/communications/rfqs", handle_list_rfqs),
    Endpoint("POST", "/communications/rfqs", handle_create_rfq),
    Endpoint("GET", "/communications/rfqs/{rfq_id}", handle_get_rfq),
    Endpoint("DELETE", "/communications/rfqs/{rfq_id}", handle_delete_rfq),
    Endpoint("GET", "/communications/quotes", handle_list_quotes),
    Endpoint("POST", "/communications/quotes", handle_create_quote),
    *(
        Endpoint(method, path + tail, handle)
        for path in (_RFQ_QUOTE, _QUOTE)
        for method, tail, handle in _ON_A_QUOTE
    ),
)
