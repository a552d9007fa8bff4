"""The simulator's HTTP and WebSocket server: a Starlette app served by uvicorn on loopback.

Every Kalshi path under `/trade-api/v2` goes through one pipeline (`_dispatch`), in this order:
a held order request (`hold_request_s`: the exchange sees it only afterwards) -> fault latency
-> authentication (required on private paths; checked on public ones when headers are sent)
-> request statistics -> injected 5xx/429/503 -> the tier's token bucket -> the handler, which
calls the exchange core and serializes its answer in the spec's shape. A refusal
comes in the shape Kalshi was seen to answer on the wire (REFERENCE.md "Observed on the real
wire"; `refusal`): nested `{"error": {code, message, details, service}}` for auth, order and
exchange errors, the flat `{code: "bad_request", message: "bad request", details}` for a body
that does not decode into its Go struct (`decode_body`), and a bare `{"msg": "Parameter
validation failed for <Operation>: ..."}` for a query parameter that fails validation
(`InvalidQuery`). Input is validated before the core is called, so bad input never changes
state and never gives a 500.

The core is not thread-safe, so it is only ever called from uvicorn's one event loop: handlers
are plain synchronous functions run on the loop, a background task calls `exchange.tick()`
every 100 ms, and the WebSocket hub receives core events as a listener on the same loop.

`sim/app.py` assembles these routes with the WebSocket (`ws.py`) and the admin API (`admin.py`)
into the one ASGI app uvicorn serves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kalshi_cli.clock import Clock
from kalshi_cli.models import (
    BookSide,
    SelfTradePrevention,
    TimeInForce,
    fmt_count,
    fmt_dollars,
    price_bounds,
    price_on_grid,
)
from kalshi_cli.sim import serialize as ser
from kalshi_cli.sim.auth import Authenticator, AuthFailure
from kalshi_cli.sim.core import (
    Account,
    Exchange,
    ExchangeError,
    SimMarket,
    SimOrder,
    SimPosition,
    SimSeries,
    not_found,
)
from kalshi_cli.sim.faults import Faults
from kalshi_cli.sim.lag import ReadReplica
from kalshi_cli.sim.ratelimit import (
    DEFAULT_COST,
    ENDPOINT_COSTS,
    RateLimiter,
    Tier,
    max_batch_items,
    request_cost,
)

log = logging.getLogger("kalshi_cli.sim")

API_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
ADMIN_PREFIX = "/sim/v1"
# set on a request whose committed write is to go unanswered (see `sim/app.py`)
DROP_RESPONSE = "sim_drop_response"

Json = dict[str, Any]
ResponseHook = Callable[[str, str, str, int, str, bytes], None]
T = TypeVar("T")


def error_body(code: str, message: str, details: str | None = None) -> Json:
    """The spec's flat `ErrorResponse`: the shape of a batch item's error, of an undecodable
    body's 400 and of the injected 429/5xx faults."""
    body: Json = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


def nested_error_body(
    code: str, message: str, details: str | None = None, service: str | None = None
) -> Json:
    """Kalshi's usual error on the wire: `{"error": {code, message, details?, service?}}`."""
    inner = error_body(code, message, details)
    if service:
        inner["service"] = service
    return {"error": inner}


def error_response(status: int, code: str, message: str, details: str | None = None) -> Response:
    """A refusal in Kalshi's usual (nested) shape."""
    return JSONResponse(nested_error_body(code, message, details), status_code=status)


def flat_error_response(
    status: int, code: str, message: str, details: str | None = None
) -> Response:
    return JSONResponse(error_body(code, message, details), status_code=status)


class UndecodableBody(ExchangeError):
    """A body Kalshi's JSON decoder refuses (bad JSON, a JSON type the field does not have):
    answered flat, `{"code": "bad_request", "message": "bad request", "details": ...}`, with
    `details` in the words of Go's encoding/json as seen on the wire."""

    def __init__(self, details: str) -> None:
        super().__init__(400, "bad_request", "bad request", details)


class InvalidQuery(ExchangeError):
    """A query parameter that fails Kalshi's parameter validation: answered bare,
    `{"msg": "Parameter validation failed for <Operation>: ..."}`."""

    def __init__(self, operation: str, problem: str) -> None:
        super().__init__(
            400, "bad_request", f"Parameter validation failed for {operation}: {problem}"
        )


def refusal(exc: ExchangeError) -> Response:
    """The answer to a refused Kalshi request, in the shape the wire gives that kind of refusal."""
    if isinstance(exc, InvalidQuery):
        return JSONResponse({"msg": exc.message}, status_code=exc.status)
    if isinstance(exc, UndecodableBody):
        return flat_error_response(exc.status, exc.code, exc.message, exc.details)
    body = nested_error_body(exc.code, exc.message, exc.details, service="exchange")
    return JSONResponse(body, status_code=exc.status)


def bad_request(message: str, code: str = "invalid_parameters") -> ExchangeError:
    return ExchangeError(400, code, message)


def invalid_status_filter() -> ExchangeError:
    """As Kalshi answered `GET /markets?status=<not a status>`: a nested `bad_request`."""
    return ExchangeError(400, "bad_request", "bad request", "invalid status filter")


class Stats:
    """Per-key request counts, for tests that must prove what a client did or did not send."""

    def __init__(self) -> None:
        self.requests: dict[str, Counter[str]] = defaultdict(Counter)
        self.rate_limited: Counter[str] = Counter()
        self.order_creates: Counter[str] = Counter()

    def record(self, key: str, endpoint: str) -> None:
        self.requests[key][endpoint] += 1
        if endpoint in ("POST /portfolio/events/orders", "POST /portfolio/events/orders/batched"):
            self.order_creates[key] += 1

    def as_json(self) -> Json:
        keys = sorted(set(self.requests) | set(self.rate_limited))
        return {
            "accounts": {
                k: {
                    "requests": dict(self.requests[k]),
                    "total_requests": sum(self.requests[k].values()),
                    "rate_limited": self.rate_limited[k],
                    "order_create_requests": self.order_creates[k],
                }
                for k in keys
            },
            "total_requests": sum(sum(c.values()) for c in self.requests.values()),
            "rate_limited": sum(self.rate_limited.values()),
            "order_create_requests": sum(self.order_creates.values()),
        }


@dataclass
class SimState:
    """Everything the app needs; built by `embed.build_state`."""

    exchange: Exchange
    clock: Clock
    data_dir: Path
    tier: Tier
    faults: Faults
    limiter: RateLimiter
    auth: Authenticator
    response_hook: ResponseHook | None = None
    base_url: str = ""
    tick_interval_s: float = 0.1
    stats: Stats = field(default_factory=Stats)
    replica: ReadReplica = field(default_factory=ReadReplica)

    def before_change(self) -> None:
        """Keep the accounts' state for lagged reads (`read_lag_ms`) before the exchange
        changes."""
        self.replica.before_change(self.exchange, self.clock.monotonic(), self.faults.read_lag_s)

    def lagged_orders(self, account_id: str) -> list[SimOrder]:
        """The account's orders as reads see them (newest first): `read_lag_ms` ago."""
        view = self.replica.view(account_id, self.clock.monotonic(), self.faults.read_lag_s)
        return self.exchange.orders(account_id) if view is None else view.orders

    def lagged_order(self, account_id: str, order_id: str) -> SimOrder:
        view = self.replica.view(account_id, self.clock.monotonic(), self.faults.read_lag_s)
        if view is None:
            return self.exchange.order(account_id, order_id)
        order = view.order(order_id)
        if order is None:
            raise ExchangeError(404, "order_not_found", f"order {order_id} not found")
        return order

    def lagged_positions(self, account_id: str) -> list[SimPosition]:
        view = self.replica.view(account_id, self.clock.monotonic(), self.faults.read_lag_s)
        return self.exchange.positions(account_id) if view is None else view.positions


@dataclass
class RequestContext:
    request: Request
    account: Account | None
    body: Any
    now: float
    operation: str = ""  # the spec's operationId, named in query validation errors

    @property
    def account_id(self) -> str:
        assert self.account is not None  # private endpoints only run authenticated
        return self.account.account_id

    def path_param(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[SimState, RequestContext], tuple[int, Json | None]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    handler: Handler
    operation: str  # the spec's operationId
    private: bool = True
    body: str | None = None  # the Go request struct the JSON body decodes into
    batch: bool = False


# --------------------------------------------------------------------------------------------
# Input parsing: every malformed value becomes a 400 before the core is touched


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"[+-]?\d+")


def _go_field(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def query_int(
    ctx: RequestContext,
    name: str,
    default: int | None,
    lo: int | None = None,
    hi: int | None = None,
) -> int | None:
    """An integer query parameter (int64, like every integer of the spec's queries); a value
    that does not parse, leaves int64 or breaks the spec's bounds is a bare-`msg` 400."""
    raw = ctx.request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _INT_TEXT.fullmatch(raw):
        raise InvalidQuery(
            ctx.operation, f"{name}: strconv.ParseInt: parsing {json.dumps(raw)}: invalid syntax"
        )
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidQuery(
            ctx.operation,
            f"{name}: strconv.ParseInt: parsing {json.dumps(raw)}: value out of range",
        )
    tag = "gte" if lo is not None and value < lo else "lte" if hi is not None and value > hi else ""
    if tag:
        field = _go_field(name)
        raise InvalidQuery(
            ctx.operation,
            f"Key: '{ctx.operation}Params.{field}' Error:Field validation for '{field}' "
            f"failed on the '{tag}' tag",
        )
    return value


def query_str(ctx: RequestContext, name: str) -> str | None:
    raw = ctx.request.query_params.get(name)
    return raw if raw else None


def query_bool(ctx: RequestContext, name: str) -> bool:
    raw = ctx.request.query_params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidQuery(
        ctx.operation, f"{name}: strconv.ParseBool: parsing {json.dumps(raw)}: invalid syntax"
    )


def query_list(ctx: RequestContext, name: str) -> list[str] | None:
    raw = query_str(ctx, name)
    return [t.strip() for t in raw.split(",") if t.strip()] if raw else None


def other_shard(ctx: RequestContext, *, auto_route: bool = False) -> bool:
    """True when the request asks for a subaccount or shard the simulator does not have.

    The portfolio list filters take `exchange_index` >= 0; the single-order write paths take
    the `ExchangeIndex` schema, where -1 asks for auto-routing."""
    sub = query_int(ctx, "subaccount", None, 0, 63)
    shard = query_int(ctx, "exchange_index", None, -1 if auto_route else 0, None)
    return (sub is not None and sub != 0) or (shard is not None and shard not in (0, -1))


def paginate(
    items: list[T], key: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str]:
    """Cursor = the key of the last item already returned; "" means no more pages. A cursor
    that names no item is answered as if absent (the first page), as Kalshi does."""
    start = 0
    if cursor:
        keys = [key(i) for i in items]
        if cursor in keys:
            start = keys.index(cursor) + 1
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (key(page[-1]) if more and page else "")


# The Go types of the V2 request bodies (openapi.yaml 3.31.0). Kalshi decodes a body into its
# struct before anything else looks at it: a JSON value of another type is refused as a whole,
# in the flat shape, before any item of a batch is acted on. Unknown fields are ignored and
# null leaves a field unset, as encoding/json does.
_CANCEL_ITEM = "BatchCancelOrdersV2RequestOrder"
GO_STRUCTS: dict[str, dict[str, str]] = {
    "CreateOrderV2Request": {
        "ticker": "string",
        "client_order_id": "string",
        "side": "string",
        "count": "string",
        "price": "string",
        "expiration_time": "int64",
        "time_in_force": "string",
        "post_only": "bool",
        "self_trade_prevention_type": "string",
        "cancel_order_on_pause": "bool",
        "reduce_only": "bool",
        "subaccount": "int",
        "order_group_id": "string",
        "exchange_index": "int",
    },
    "AmendOrderV2Request": {
        "ticker": "string",
        "side": "string",
        "price": "string",
        "count": "string",
        "client_order_id": "string",
        "updated_client_order_id": "string",
        "expiration_time": "int64",
        "exchange_index": "int",
    },
    "DecreaseOrderV2Request": {
        "reduce_by": "string",
        "reduce_to": "string",
        "exchange_index": "int",
        "market_ticker": "string",
    },
    _CANCEL_ITEM: {
        "order_id": "string",
        "subaccount": "int",
        "exchange_index": "int",
        "market_ticker": "string",
    },
}
GO_BATCHES = {
    "BatchCreateOrdersV2Request": "CreateOrderV2Request",
    "BatchCancelOrdersV2Request": _CANCEL_ITEM,
}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_mismatch(value: Any, go_type: str) -> str | None:
    """The `Value` Go's UnmarshalTypeError would name, or None when `value` decodes."""
    kind = _json_kind(value)
    if go_type == "string":
        return None if kind == "string" else kind
    if go_type == "bool":
        return None if kind == "bool" else kind
    if kind != "number":
        return kind
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return None
    return f"number {json.dumps(value)}"


def decode_body(body: Any, struct: str) -> None:
    """Refuse, as Kalshi's decoder does, a body that does not decode into `struct`."""
    item_struct = GO_BATCHES.get(struct)
    if not isinstance(body, dict):
        raise UndecodableBody(
            f"json: cannot unmarshal {_json_kind(body)} into Go value of type {struct}"
        )
    if item_struct is None:
        _decode_fields(body, struct, struct)
        return
    items = body.get("orders")
    if items is None:
        return
    if not isinstance(items, list):
        raise UndecodableBody(
            f"json: cannot unmarshal {_json_kind(items)} into Go struct field {struct}.orders "
            f"of type []{item_struct}"
        )
    for item in items:
        if item is None:
            continue
        if not isinstance(item, dict):
            raise UndecodableBody(
                f"json: cannot unmarshal {_json_kind(item)} into Go struct field "
                f"{struct}.orders of type {item_struct}"
            )
        _decode_fields(item, item_struct, f"{struct}.orders")


def _decode_fields(body: Json, struct: str, where: str) -> None:
    for name, go_type in GO_STRUCTS[struct].items():
        value = body.get(name)
        if value is None:
            continue
        bad = _go_mismatch(value, go_type)
        if bad is not None:
            raise UndecodableBody(
                f"json: cannot unmarshal {bad} into Go struct field {where}.{name} "
                f"of type {go_type}"
            )


def field_str(body: Json, name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required", "missing_parameters")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def field_req(body: Json, name: str) -> str:
    value = field_str(body, name)
    assert value is not None  # field_str raises on a missing required field
    return value


def field_bool(body: Json, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be a boolean")
    return value


# The spec's request precision: FixedPointCount "accepts 0-2 decimal places",
# FixedPointDollars "2-4 decimal places". Both are JSON strings; a number is a 400.
COUNT_TEXT = re.compile(r"\d+(\.\d{1,2})?")
DOLLARS_TEXT = re.compile(r"\d+\.\d{2,4}")


def field_decimal(
    body: Json, name: str, pattern: re.Pattern[str], code: str, *, required: bool = True
) -> Decimal | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required", "missing_parameters")
        return None
    if not isinstance(value, str):
        raise bad_request(f'{name} must be a fixed-point string such as "10.00"')
    if not pattern.fullmatch(value):
        raise bad_request(
            f"{name} {value!r} is not a fixed-point string of the spec's precision", code
        )
    try:
        return Decimal(value)
    except InvalidOperation:
        raise bad_request(f"{name} {value!r} is not a number", code) from None


def parse_count(
    body: Json, name: str, *, allow_zero: bool = False, required: bool = True
) -> Decimal | None:
    """A FixedPointCount field; whole-contract rules per market are the core's to check."""
    count = field_decimal(body, name, COUNT_TEXT, "invalid_count", required=required)
    if count is None:
        return None
    if count == 0 and not allow_zero:
        raise bad_request(f"{name} must be positive", "invalid_count")
    return count


def market_or_400(state: SimState, ticker: str) -> SimMarket:
    market = state.exchange.markets.get(ticker)
    if market is None:
        raise bad_request(f"market {ticker} not found", "market_not_found")
    return market


def parse_price(body: Json, market: SimMarket) -> Decimal:
    price = field_decimal(body, "price", DOLLARS_TEXT, "invalid_price")
    assert price is not None
    low, high = price_bounds(market.price_ranges)
    if not low <= price <= high:
        raise bad_request(f"price {price} is outside {low}-{high}", "invalid_price")
    if not price_on_grid(price, market.price_ranges):
        raise bad_request(
            f"price {price} is not on the tick grid of {market.ticker} "
            f"({market.price_level_structure})",
            "invalid_price",
        )
    return price


def parse_book_side(body: Json) -> BookSide:
    side = field_req(body, "side")
    try:
        return BookSide(side)
    except ValueError:
        raise bad_request("side must be bid or ask") from None


def parse_shard_fields(body: Json) -> None:
    sub = body.get("subaccount")
    if sub is not None and (isinstance(sub, bool) or not isinstance(sub, int) or sub != 0):
        raise bad_request("the simulator has subaccount 0 only")
    shard = body.get("exchange_index")
    if shard is not None and (isinstance(shard, bool) or shard not in (0, -1)):
        raise bad_request("the simulator has exchange_index 0 only")


# The spec types expiration_time as int64 Unix seconds, and every answer that carries it names
# it as an RFC 3339 date-time, whose years end at 9999: a value past either bound cannot be
# served back, so it is an invalid request rather than an order no listing could show.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
LAST_DATE_TIME_S = 253_402_300_799  # 9999-12-31T23:59:59Z


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


def parse_create(state: SimState, body: Any) -> Json:
    if not isinstance(body, dict):
        raise bad_request("an order must be a JSON object", "bad_request")
    ticker = field_req(body, "ticker")
    market = market_or_400(state, ticker)
    book_side = parse_book_side(body)
    count = parse_count(body, "count")
    price = parse_price(body, market)
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
    if body.get("order_group_id") is not None:
        raise bad_request("order groups are not supported by the simulator")
    parse_shard_fields(body)
    return {
        "ticker": ticker,
        "book_side": book_side,
        "price": price,
        "count": count,
        "time_in_force": tif,
        "self_trade_prevention": stp,
        "client_order_id": field_str(body, "client_order_id", required=False),
        "post_only": field_bool(body, "post_only"),
        "reduce_only": field_bool(body, "reduce_only"),
        "expiration_time": expiration,
        "cancel_order_on_pause": field_bool(body, "cancel_order_on_pause"),
    }


# --------------------------------------------------------------------------------------------
# Handlers: market data


def handle_get_exchange_status(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return 200, {
        "exchange_active": True,
        "trading_active": True,
        "intra_exchange_transfers_active": False,
        "exchange_index_statuses": [
            {
                "exchange_index": 0,
                "description": "simulated event-contract exchange",
                "exchange_active": True,
                "trading_active": True,
                "intra_exchange_transfers_active": False,
            }
        ],
    }


def _ts_filter(ctx: RequestContext, lo_name: str, hi_name: str) -> tuple[int | None, int | None]:
    return query_int(ctx, lo_name, None), query_int(ctx, hi_name, None)


def _within(value: float | None, lo: int | None, hi: int | None) -> bool:
    if lo is None and hi is None:
        return True
    if value is None:
        return False
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def handle_get_markets(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 0, 1000) or 100
    status = query_str(ctx, "status")
    if status is not None and status not in ser.MARKET_STATUS:
        raise invalid_status_filter()
    event_ticker = query_str(ctx, "event_ticker")
    series_ticker = query_str(ctx, "series_ticker")
    tickers = query_list(ctx, "tickers")
    created = _ts_filter(ctx, "min_created_ts", "max_created_ts")
    close = _ts_filter(ctx, "min_close_ts", "max_close_ts")
    settled = _ts_filter(ctx, "min_settled_ts", "max_settled_ts")
    updated = _ts_filter(ctx, "min_updated_ts", "max_updated_ts")
    mve_filter = query_str(ctx, "mve_filter")
    if mve_filter not in (None, "exclude", "only"):
        raise bad_request("mve_filter must be only or exclude")
    _check_market_filter_combination(
        status=status,
        created=created,
        close=close,
        settled=settled,
        updated=updated,
        mve_filter=mve_filter,
        event_ticker=event_ticker,
        tickers=tickers,
        series_ticker=series_ticker,
    )
    only_mve = mve_filter == "only"  # the simulator has no multivariate markets
    markets = [
        m
        for m in state.exchange.markets.values()
        if not only_mve
        and (status is None or m.status == status)
        and (event_ticker is None or m.event_ticker == event_ticker)
        and (series_ticker is None or m.series_ticker == series_ticker)
        and (tickers is None or m.ticker in tickers)
        and _within(m.created_time, *created)
        and _within(m.close_time, *close)
        and _within(m.settled_time, *settled)
        and _within(m.updated_time, *updated)
    ]
    page, cursor = paginate(markets, lambda m: m.ticker, limit, query_str(ctx, "cursor"))
    return 200, {"markets": [ser.market_json(state.exchange, m) for m in page], "cursor": cursor}


def _check_market_filter_combination(
    *,
    status: str | None,
    created: tuple[int | None, int | None],
    close: tuple[int | None, int | None],
    settled: tuple[int | None, int | None],
    updated: tuple[int | None, int | None],
    mve_filter: str | None,
    event_ticker: str | None,
    tickers: list[str] | None,
    series_ticker: str | None,
) -> None:
    """GET /markets: timestamp families exclude one another and some statuses (spec table)."""
    families = {
        "min/max_created_ts": (created, (None, "unopened", "open")),
        "min/max_close_ts": (close, (None, "closed")),
        "min/max_settled_ts": (settled, (None, "settled")),
    }
    used = [name for name, (pair, _) in families.items() if pair != (None, None)]
    if updated != (None, None):
        used.append("min/max_updated_ts")
    if len(used) > 1:
        raise bad_request(f"timestamp filters {' and '.join(used)} cannot be combined")
    for name in used:
        if name == "min/max_updated_ts":
            if status is not None or event_ticker is not None or tickers is not None:
                raise bad_request("min/max_updated_ts cannot be combined with other filters")
            if mve_filter == "only" or (series_ticker is not None and mve_filter != "exclude"):
                raise bad_request(
                    "min/max_updated_ts combine only with mve_filter=exclude (and series_ticker "
                    "with it)"
                )
        elif status not in families[name][1]:
            raise bad_request(f"{name} cannot be combined with status={status}")


def _market_or_404(state: SimState, ticker: str) -> SimMarket:
    market = state.exchange.markets.get(ticker)
    if market is None:
        raise ExchangeError(404, "not_found", f"market {ticker} not found")
    return market


def handle_get_market(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    market = _market_or_404(state, ctx.path_param("ticker"))
    return 200, {"market": ser.market_json(state.exchange, market)}


def handle_get_market_orderbook(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    market = _market_or_404(state, ctx.path_param("ticker"))
    depth = query_int(ctx, "depth", 0, 0, 100) or 0
    return 200, ser.orderbook_json(state.exchange, market.ticker, depth)


def handle_get_trades(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 0, 1000) or 100
    ticker = query_str(ctx, "ticker")
    lo, hi = _ts_filter(ctx, "min_ts", "max_ts")
    only_block = query_bool(ctx, "is_block_trade")  # the simulator has no block trades
    trades = [t for t in state.exchange.trades(ticker) if _within(t.ts, lo, hi) and not only_block]
    page, cursor = paginate(trades, lambda t: t.trade_id, limit, query_str(ctx, "cursor"))
    return 200, {"trades": [ser.trade_json(t) for t in page], "cursor": cursor}


def handle_get_market_candlesticks(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    market = _market_or_404(state, ctx.path_param("ticker"))
    if market.series_ticker != ctx.path_param("series_ticker"):
        raise ExchangeError(404, "not_found", f"market {market.ticker} is not in that series")
    start = query_int(ctx, "start_ts", None)
    end = query_int(ctx, "end_ts", None)
    period = query_int(ctx, "period_interval", None)
    if start is None or end is None or period is None:
        raise bad_request("start_ts, end_ts and period_interval are required", "missing_parameters")
    if period not in (1, 60, 1440):
        raise bad_request("period_interval must be 1, 60 or 1440")
    if end < start:
        raise bad_request("end_ts must not be before start_ts")
    candles = ser.candlesticks_json(
        state.exchange.trades(market.ticker), start, end, period, market.open_interest
    )
    return 200, {"ticker": market.ticker, "candlesticks": candles}


def _event_status_matches(state: SimState, event_ticker: str, status: str) -> bool:
    statuses = {m.status for m in state.exchange.markets.values() if m.event_ticker == event_ticker}
    return status in statuses


def handle_get_events(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 200, 1, 200) or 200
    status = query_str(ctx, "status")
    if status is not None and status not in ("unopened", "open", "closed", "settled"):
        raise invalid_status_filter()
    series_ticker = query_str(ctx, "series_ticker")
    tickers = query_list(ctx, "tickers")
    nested = query_bool(ctx, "with_nested_markets")
    milestones = query_bool(ctx, "with_milestones")
    min_close = query_int(ctx, "min_close_ts", None)
    min_updated = query_int(ctx, "min_updated_ts", None)
    closes: dict[str, list[float]] = defaultdict(list)
    if min_close is not None:
        for m in state.exchange.markets.values():
            closes[m.event_ticker].append(m.close_time)
    events = [
        e
        for e in state.exchange.events.values()
        if (series_ticker is None or e.series_ticker == series_ticker)
        and (tickers is None or e.event_ticker in tickers)
        and (status is None or _event_status_matches(state, e.event_ticker, status))
        # "at least one market with close timestamp greater than" min_close_ts
        and (min_close is None or any(c > min_close for c in closes[e.event_ticker]))
        and (min_updated is None or e.updated_time >= min_updated)
    ]
    page, cursor = paginate(events, lambda e: e.event_ticker, limit, query_str(ctx, "cursor"))
    out = [
        ser.event_json(
            e,
            state.exchange.series.get(e.series_ticker),
            _event_markets(state, e.event_ticker) if nested else None,
        )
        for e in page
    ]
    response: Json = {"events": out, "cursor": cursor}
    if milestones:
        response["milestones"] = []  # the simulator has no milestones
    return 200, response


def _event_markets(state: SimState, event_ticker: str) -> list[Json]:
    return [
        ser.market_json(state.exchange, m)
        for m in state.exchange.markets.values()
        if m.event_ticker == event_ticker
    ]


def handle_get_event(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ticker = ctx.path_param("event_ticker")
    event = state.exchange.events.get(ticker)
    if event is None:
        raise ExchangeError(404, "not_found", f"event {ticker} not found")
    markets = _event_markets(state, ticker)
    nested = query_bool(ctx, "with_nested_markets")
    series = state.exchange.series.get(event.series_ticker)
    return 200, {
        "event": ser.event_json(event, series, markets if nested else None),
        "markets": markets,
    }


def _series_out(
    state: SimState, series: SimSeries, *, volume: bool, product_metadata: bool
) -> Json:
    data = ser.series_json(series, state.exchange.series_fees(series.ticker))
    if volume:
        traded = sum(
            (m.volume for m in state.exchange.markets.values() if m.series_ticker == series.ticker),
            Decimal(0),
        )
        data["volume_fp"] = fmt_count(traded)
    if product_metadata:
        data["product_metadata"] = {}  # the simulator keeps no product metadata
    return data


def handle_get_series_list(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    category = query_str(ctx, "category")
    tags = query_list(ctx, "tags")
    volume = query_bool(ctx, "include_volume")
    product_metadata = query_bool(ctx, "include_product_metadata")
    min_updated = query_int(ctx, "min_updated_ts", None)
    series = [
        s
        for s in state.exchange.series.values()
        if (category is None or s.category == category)
        and (tags is None or any(t in s.tags for t in tags))
        and (min_updated is None or s.updated_time >= min_updated)
    ]
    out = [_series_out(state, s, volume=volume, product_metadata=product_metadata) for s in series]
    return 200, {"series": out}


def handle_get_series_fee_changes(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetSeriesFeeChanges: the scheduled changes still to come (`show_historical`: those
    already in effect too), of one series or of all."""
    historical = query_bool(ctx, "show_historical")
    now = state.clock.wall()
    changes = [
        ser.fee_change_json(c)
        for c in state.exchange.fee_changes(query_str(ctx, "series_ticker"))
        if historical or c.scheduled_ts > now
    ]
    return 200, {"series_fee_change_arr": changes}


def handle_get_series(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ticker = ctx.path_param("series_ticker")
    volume = query_bool(ctx, "include_volume")
    series = state.exchange.series.get(ticker)
    if series is None:
        raise ExchangeError(404, "not_found", f"series {ticker} not found")
    return 200, {"series": _series_out(state, series, volume=volume, product_metadata=False)}


# --------------------------------------------------------------------------------------------
# Handlers: portfolio reads


def handle_get_balance(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    other_shard(ctx)
    account = state.exchange.account(ctx.account_id)
    # exact cash less what is held, floored to $0.0001; `balance` is that truncated to the cent
    balance_dollars = fmt_dollars(account.balance)
    return 200, {
        "balance": account.cash_cents,
        "balance_dollars": balance_dollars,
        "portfolio_value": state.exchange.portfolio_value_cents(ctx.account_id),
        "updated_ts": int(ctx.now),
        "balance_breakdown": [{"exchange_index": 0, "balance": balance_dollars}],
    }


def handle_get_positions(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    ticker = query_str(ctx, "ticker")
    event_ticker = query_str(ctx, "event_ticker")
    filters = query_list(ctx, "count_filter") or []
    if any(f not in ("position", "total_traded") for f in filters):
        raise bad_request("count_filter takes position and/or total_traded")
    positions = [] if other_shard(ctx) else state.lagged_positions(ctx.account_id)

    def keep(p: Any) -> bool:
        market = state.exchange.markets.get(p.ticker)
        return (
            (ticker is None or p.ticker == ticker)
            and (
                event_ticker is None or (market is not None and market.event_ticker == event_ticker)
            )
            and ("position" not in filters or p.position != 0)
            and ("total_traded" not in filters or p.total_traded != 0)
        )

    selected = [p for p in positions if keep(p)]
    page, cursor = paginate(selected, lambda p: p.ticker, limit, query_str(ctx, "cursor"))
    return 200, {
        "market_positions": [ser.position_json(p) for p in page],
        "event_positions": ser.event_positions_json(state.exchange, page),
        "cursor": cursor,
    }


class _TickerRow(Protocol):
    @property
    def ticker(self) -> str: ...


R = TypeVar("R", bound=_TickerRow)


def _filtered_page(
    ctx: RequestContext,
    name: str,
    *,
    rows: Callable[[str], Sequence[R]],
    by: str,
    field: Callable[[R], str | None],
    when: Callable[[R], float | None],
    cursor_key: Callable[[R], str],
    to_json: Callable[[R], Json],
) -> tuple[int, Json | None]:
    """A portfolio listing filtered by `ticker`, the query parameter `by` (matched against
    `field`) and `min_ts`/`max_ts` (against `when`), then paginated; the query parameters are
    read in this order, so the first bad one is the one refused."""
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    ticker = query_str(ctx, "ticker")
    wanted = query_str(ctx, by)
    lo, hi = _ts_filter(ctx, "min_ts", "max_ts")
    found = [] if other_shard(ctx) else rows(ctx.account_id)
    selected = [
        r
        for r in found
        if (ticker is None or r.ticker == ticker)
        and (wanted is None or field(r) == wanted)
        and _within(when(r), lo, hi)
    ]
    page, cursor = paginate(selected, cursor_key, limit, query_str(ctx, "cursor"))
    return 200, {name: [to_json(r) for r in page], "cursor": cursor}


def handle_get_fills(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return _filtered_page(
        ctx,
        "fills",
        rows=state.exchange.fills,
        by="order_id",
        field=lambda f: f.order_id,
        when=lambda f: f.ts,
        cursor_key=lambda f: f.fill_id,
        to_json=ser.fill_json,
    )


def handle_get_settlements(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return _filtered_page(
        ctx,
        "settlements",
        rows=state.exchange.settlements,
        by="event_ticker",
        field=lambda s: s.event_ticker,
        when=lambda s: s.settled_time,
        cursor_key=lambda s: s.ticker,
        to_json=ser.settlement_json,
    )


def handle_get_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    ticker = query_str(ctx, "ticker")
    event_tickers = query_list(ctx, "event_ticker")
    if event_tickers is not None and len(event_tickers) > 10:
        raise bad_request("at most 10 event tickers")
    status = query_str(ctx, "status")
    if status is not None and status not in ("resting", "canceled", "executed"):
        raise invalid_status_filter()
    lo, hi = _ts_filter(ctx, "min_ts", "max_ts")
    orders = [] if other_shard(ctx) else state.lagged_orders(ctx.account_id)

    def event_of(ticker: str) -> str | None:
        market = state.exchange.markets.get(ticker)
        return market.event_ticker if market else None

    selected = [
        o
        for o in orders
        if (ticker is None or o.ticker == ticker)
        and (event_tickers is None or event_of(o.ticker) in event_tickers)
        and (status is None or o.status == status)
        and _within(o.created_time, lo, hi)
    ]
    page, cursor = paginate(selected, lambda o: o.order_id, limit, query_str(ctx, "cursor"))
    return 200, {"orders": [ser.order_json(o) for o in page], "cursor": cursor}


def handle_get_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    order = state.lagged_order(ctx.account_id, ctx.path_param("order_id"))
    return 200, {"order": ser.order_json(order)}


# --------------------------------------------------------------------------------------------
# Handlers: V2 order writes


def _create_one(state: SimState, ctx: RequestContext, body: Any) -> Json:
    request = parse_create(state, body)
    result = state.exchange.place_order(ctx.account_id, **request)
    order = result.order
    response: Json = {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "fill_count": fmt_count(order.fill_count),
        "remaining_count": fmt_count(order.remaining_count),
        "ts_ms": ser.ts_ms(state.clock.wall()),
    }
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
            parse_shard_fields(item)
            order, reduced = state.exchange.cancel_order(ctx.account_id, order_id)
            results.append(
                {
                    "order_id": order.order_id,
                    "client_order_id": order.client_order_id,
                    "reduced_by": fmt_count(reduced),
                    "ts_ms": ser.ts_ms(state.clock.wall()),
                }
            )
        except ExchangeError as exc:
            results.append(
                {
                    "order_id": order_id,
                    "reduced_by": fmt_count(Decimal(0)),
                    "error": error_body(exc.code, exc.message, exc.details),
                }
            )
    return 200, {"orders": results}


def _check_single_order_query(ctx: RequestContext) -> None:
    if other_shard(ctx, auto_route=True):
        raise not_found()


def handle_cancel_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    _check_single_order_query(ctx)
    # an order cancelled, executed or unknown: one identical 404 `not_found` (the core's)
    order, reduced = state.exchange.cancel_order(ctx.account_id, ctx.path_param("order_id"))
    return 200, {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "reduced_by": fmt_count(reduced),
        "ts_ms": ser.ts_ms(state.clock.wall()),
    }


def handle_cancel_all_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    if not other_shard(ctx):
        state.exchange.cancel_all(ctx.account_id)
    return 204, None


def handle_amend_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    _check_single_order_query(ctx)
    body = ctx.body
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object", "bad_request")
    ticker = field_req(body, "ticker")
    market = market_or_400(state, ticker)
    book_side = parse_book_side(body)
    price = parse_price(body, market)
    count = parse_count(body, "count")
    assert count is not None
    field_str(body, "client_order_id", required=False)
    updated = field_str(body, "updated_client_order_id", required=False)
    expiration = body.get("expiration_time")
    if expiration is not None:
        if isinstance(expiration, bool) or not isinstance(expiration, int) or expiration < 0:
            raise bad_request("expiration_time must be Unix seconds (0 removes the expiry)")
        check_expiration_range(expiration)
    parse_shard_fields(body)
    _old, new, fills = state.exchange.amend_order(
        ctx.account_id,
        ctx.path_param("order_id"),
        ticker=ticker,
        book_side=book_side,
        price=price,
        count=count,
        updated_client_order_id=updated,
        expiration_time=expiration,
    )
    response: Json = {
        "order_id": new.order_id,
        "client_order_id": new.client_order_id,
        "remaining_count": fmt_count(new.remaining_count),
        "fill_count": fmt_count(new.fill_count),
        "ts_ms": ser.ts_ms(state.clock.wall()),
    }
    response.update(ser.fill_averages(fills))
    return 200, response


def handle_decrease_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    _check_single_order_query(ctx)
    body = ctx.body
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object", "bad_request")
    reduce_by = parse_count(body, "reduce_by", required=False)
    reduce_to = parse_count(body, "reduce_to", allow_zero=True, required=False)
    if (reduce_by is None) == (reduce_to is None):
        raise bad_request("send exactly one of reduce_by or reduce_to")
    if body.get("market_ticker") is not None:
        field_str(body, "market_ticker")
    parse_shard_fields(body)
    order = state.exchange.decrease_order(
        ctx.account_id, ctx.path_param("order_id"), reduce_by=reduce_by, reduce_to=reduce_to
    )
    return 200, {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "remaining_count": fmt_count(order.remaining_count),
        "ts_ms": ser.ts_ms(state.clock.wall()),
    }


# --------------------------------------------------------------------------------------------
# Handlers: account


def handle_get_account_api_limits(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    tier = state.tier
    return 200, {
        "usage_tier": tier.name,
        "read": {"refill_rate": tier.read_per_s, "bucket_capacity": tier.read_capacity},
        "write": {"refill_rate": tier.write_per_s, "bucket_capacity": tier.write_capacity},
        "grants": [],
    }


def handle_get_account_endpoint_costs(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    costs = [
        {"method": method, "path": API_PREFIX + template, "cost": cost}
        for (method, template), cost in ENDPOINT_COSTS.items()
    ]
    return 200, {"default_cost": DEFAULT_COST, "endpoint_costs": costs}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/exchange/status", handle_get_exchange_status, "GetExchangeStatus", private=False
    ),
    Endpoint("GET", "/markets", handle_get_markets, "GetMarkets", private=False),
    Endpoint("GET", "/markets/trades", handle_get_trades, "GetTrades", private=False),
    Endpoint("GET", "/markets/{ticker}", handle_get_market, "GetMarket", private=False),
    # public since API 3.31.0 (the spec dropped its `security`)
    Endpoint(
        "GET",
        "/markets/{ticker}/orderbook",
        handle_get_market_orderbook,
        "GetMarketOrderbook",
        private=False,
    ),
    Endpoint(
        "GET",
        "/series/{series_ticker}/markets/{ticker}/candlesticks",
        handle_get_market_candlesticks,
        "GetMarketCandlesticks",
        private=False,
    ),
    Endpoint("GET", "/events", handle_get_events, "GetEvents", private=False),
    Endpoint("GET", "/events/{event_ticker}", handle_get_event, "GetEvent", private=False),
    Endpoint("GET", "/series", handle_get_series_list, "GetSeriesList", private=False),
    Endpoint(
        "GET",
        "/series/fee_changes",
        handle_get_series_fee_changes,
        "GetSeriesFeeChanges",
        private=False,
    ),
    Endpoint("GET", "/series/{series_ticker}", handle_get_series, "GetSeries", private=False),
    Endpoint("GET", "/portfolio/balance", handle_get_balance, "GetBalance"),
    Endpoint("GET", "/portfolio/positions", handle_get_positions, "GetPositions"),
    Endpoint("GET", "/portfolio/fills", handle_get_fills, "GetFills"),
    Endpoint("GET", "/portfolio/settlements", handle_get_settlements, "GetSettlements"),
    Endpoint("GET", "/portfolio/orders", handle_get_orders, "GetOrders"),
    Endpoint("GET", "/portfolio/orders/{order_id}", handle_get_order, "GetOrder"),
    Endpoint(
        "POST",
        "/portfolio/events/orders",
        handle_create_order,
        "CreateOrderV2",
        body="CreateOrderV2Request",
    ),
    Endpoint("DELETE", "/portfolio/events/orders", handle_cancel_all_orders, "CancelAllOrders"),
    Endpoint(
        "POST",
        "/portfolio/events/orders/batched",
        handle_batch_create_orders,
        "BatchCreateOrdersV2",
        body="BatchCreateOrdersV2Request",
        batch=True,
    ),
    Endpoint(
        "DELETE",
        "/portfolio/events/orders/batched",
        handle_batch_cancel_orders,
        "BatchCancelOrdersV2",
        body="BatchCancelOrdersV2Request",
        batch=True,
    ),
    Endpoint("DELETE", "/portfolio/events/orders/{order_id}", handle_cancel_order, "CancelOrderV2"),
    Endpoint(
        "POST",
        "/portfolio/events/orders/{order_id}/amend",
        handle_amend_order,
        "AmendOrderV2",
        body="AmendOrderV2Request",
    ),
    Endpoint(
        "POST",
        "/portfolio/events/orders/{order_id}/decrease",
        handle_decrease_order,
        "DecreaseOrderV2",
        body="DecreaseOrderV2Request",
    ),
    Endpoint("GET", "/account/limits", handle_get_account_api_limits, "GetAccountApiLimits"),
    Endpoint(
        "GET",
        "/account/endpoint_costs",
        handle_get_account_endpoint_costs,
        "GetAccountEndpointCosts",
        private=False,
    ),
)


# --------------------------------------------------------------------------------------------
# The pipeline


async def _read_json(request: Request, struct: str) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise UndecodableBody("unexpected end of JSON input")
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise UndecodableBody("invalid character in the request body (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise UndecodableBody(f"invalid JSON: {exc.msg} at offset {exc.pos}") from None
    except RecursionError:
        # the decoder recurses once per level; no Kalshi request body nests more than three
        raise UndecodableBody("the request body is nested too deeply") from None
    decode_body(body, struct)
    return body


_CREATE = "POST /portfolio/events/orders"
# the order writes for which the 3.31.0 spec documents 503 ServiceUnavailableError
_WRITES_WITH_503 = (_CREATE, "POST /portfolio/events/orders/{order_id}/amend")
_INJECTED_503 = "service unavailable (injected fault)"


async def _dispatch(state: SimState, ep: Endpoint, request: Request) -> Response:
    faults = state.faults
    method = request.method
    endpoint_name = f"{method} {ep.template}"
    if endpoint_name == _CREATE:
        hold = faults.take_hold()
        if hold > 0:
            # held in the network: the body is already on its way (the client may give up and
            # close the connection meanwhile); the exchange sees the request only afterwards
            await request.body()
            await asyncio.sleep(hold)
    if faults.latency_s > 0:
        await asyncio.sleep(faults.latency_s)
    account: Account | None = None
    stats_key = request.headers.get("KALSHI-ACCESS-KEY") or "anonymous"
    if ep.private or state.auth.has_credentials(request.headers):
        try:
            account = state.auth.authenticate(method, request.url.path, request.headers)
        except AuthFailure as exc:
            state.stats.record(stats_key, endpoint_name)
            return error_response(401, exc.code, exc.message, exc.details)
    state.stats.record(stats_key, endpoint_name)
    if faults.inject_5xx():
        if ep.template == "/exchange/status":
            # the spec gives this endpoint's 5xx answers the ExchangeStatus shape
            down = {"exchange_active": False, "trading_active": False}
            return JSONResponse(down, status_code=503)
        return flat_error_response(500, "internal_server_error", "injected fault: internal error")
    if faults.inject_429():
        state.stats.rate_limited[stats_key] += 1
        return flat_error_response(429, "too_many_requests", "too many requests (injected fault)")
    if endpoint_name in _WRITES_WITH_503 and faults.write_503():
        return flat_error_response(503, "service_unavailable", _INJECTED_503)
    try:
        body = await _read_json(request, ep.body) if ep.body else None
        if account is not None:
            # a malformed or oversized batch is a 400 before any token is taken
            batch_items = len(_batch_items(state, body, method)) if ep.batch else None
            cost = request_cost(method, ep.template, batch_items)
            if not state.limiter.allow(account.account_id, method, cost):
                state.stats.rate_limited[stats_key] += 1
                return flat_error_response(429, "too_many_requests", "too many requests")
        ctx = RequestContext(request, account, body, state.clock.wall(), ep.operation)
        if account is not None:
            state.replica.watch(account.account_id)
            if method != "GET":
                state.before_change()
        status, payload = ep.handler(state, ctx)
    except ExchangeError as exc:
        return refusal(exc)
    except Exception:
        log.exception("simulator handler failed: %s", endpoint_name)
        return flat_error_response(500, "internal_server_error", "internal error")
    if endpoint_name in _WRITES_WITH_503 and status < 300 and faults.write_503_after_commit():
        return flat_error_response(503, "service_unavailable", _INJECTED_503)
    if method != "GET" and status < 300 and faults.drop_after_commit():
        request.state.__setattr__(DROP_RESPONSE, True)
    if payload is None:
        return Response(status_code=status)
    return JSONResponse(payload, status_code=status)


def api_routes(state: SimState) -> list[BaseRoute]:
    """One Route per path carrying all its methods, so a wrong method is a 405, not a 404."""
    by_path: dict[str, list[Endpoint]] = defaultdict(list)
    for ep in ENDPOINTS:
        by_path[ep.template].append(ep)
    routes: list[BaseRoute] = []
    for template, eps in by_path.items():
        table = {ep.method: ep for ep in eps}

        def make(table: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await _dispatch(state, table[request.method], request)

            return endpoint

        routes.append(Route(template, make(table), methods=list(table)))
    return routes


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    message = {404: "no such path", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
