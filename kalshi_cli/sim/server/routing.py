"""What every simulator route shares: the shapes of a refusal, the request context, the `Endpoint`
record a route module lists, and the parsing of query parameters and bodies (every malformed
value a 400 in the words Kalshi's Go decoder uses, before the core is touched). The routes live
in `sim/server/routes/`; `sim/server/server.py` runs the one pipeline.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.historical import HistoryPolicy
from kalshi_cli.sim.core.record_views import NewestFirst, OrderRef, OrdersNewestFirst
from kalshi_cli.sim.core.records import Account, ExchangeError, SimOrder, SimPosition, bad_request
from kalshi_cli.sim.server.auth import Authenticator
from kalshi_cli.sim.server.faults import Faults
from kalshi_cli.sim.server.history import MarketHistory
from kalshi_cli.sim.server.lag import ReadReplica
from kalshi_cli.sim.server.operations import OPERATIONS, SHARD_QUERY, SUBACCOUNT_QUERY
from kalshi_cli.sim.server.ratelimit import SimRateLimiter, Tier
from kalshi_cli.sim.server.request_bodies import GO_BATCHES, GO_STRUCTS, REQUEST_BODIES
from kalshi_cli.sim.server.schedule import SimSchedule
from kalshi_cli.sim.server.shards import ShardPaused, ShardSwitches
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX

log = logging.getLogger("kalshi_cli.sim")


API_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
ADMIN_PREFIX = "/sim/v1"
# set on a request whose committed write is to go unanswered (see `sim/server/app.py`)
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


def nested_error_body(code: str, message: str, details: str | None = None) -> Json:
    """Kalshi's usual error on the wire: `{"error": {code, message, details?}}`. The wire also
    carried `service: "exchange"` on some (REFERENCE.md); Kalshi removed `ErrorResponse.service`
    on 2026-08-06, so no error carries it."""
    return {"error": error_body(code, message, details)}


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


# a \uD800-\uDFFF escape: only then can the decoded text hold a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads_body(raw: bytes) -> Any:
    """A request body decoded as JSON, or UndecodableBody: never another exception, so no body
    gives a 500. Python's decoder goes further than what a request may be in three ways, each
    refused here: it recurses once per level of nesting (RecursionError; no Kalshi request nests
    more than three), refuses to convert an integer longer than 4,300 digits (a ValueError; no
    request field holds one), and decodes a lone UTF-16 surrogate escape ("\\ud800") into a
    string that cannot be encoded as UTF-8 again (the journal and the answer would fail on it)."""
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise UndecodableBody("invalid character in the request body (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise UndecodableBody(f"invalid JSON: {exc.msg} at offset {exc.pos}") from None
    except RecursionError:
        raise UndecodableBody("the request body is nested too deeply") from None
    except ValueError:
        raise UndecodableBody("a number in the request body is too long") from None
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(body):
        raise UndecodableBody("invalid \\u escape in a string (a lone UTF-16 surrogate)")
    return body


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
    if isinstance(exc, UndecodableBody | ShardPaused):
        return flat_error_response(exc.status, exc.code, exc.message, exc.details)
    body = nested_error_body(exc.code, exc.message, exc.details)
    return JSONResponse(body, status_code=exc.status)


def found(item: T | None, what: str) -> T:
    """`item`, or the wire's 404 for `what` ("market KX...") when there is none."""
    if item is None:
        raise ExchangeError(404, "not_found", f"{what} not found")
    return item


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
    limiter: SimRateLimiter
    auth: Authenticator
    response_hook: ResponseHook | None = None
    base_url: str = ""
    tick_interval_s: float = 0.1
    stats: Stats = field(default_factory=Stats)
    replica: ReadReplica = field(default_factory=ReadReplica)
    history: HistoryPolicy = field(default_factory=HistoryPolicy)  # the historical tier's cutoff
    # market data: top of book and open interest over time, for candlesticks; the
    # exchange's maintenance windows (both attached to the exchange in `sim/server/app.py`)
    market_history: MarketHistory = field(default_factory=MarketHistory)
    schedule: SimSchedule = field(default_factory=SimSchedule)
    shards: ShardSwitches = field(default_factory=ShardSwitches)  # each shard's pauses

    def before_change(self) -> None:
        """Keep the accounts' state for lagged reads (`read_lag_ms`) before the exchange
        changes."""
        self.replica.before_change(self.exchange, self.clock.monotonic(), self.faults.read_lag_s)

    def lagged_orders(self, account_id: str, since: float | None = None) -> list[SimOrder]:
        """The account's orders as reads see them (newest first): `read_lag_ms` ago (`since`:
        as `Exchange.orders`, the archived ones last updated before it may be left out)."""
        view = self.replica.view(account_id, self.clock.monotonic(), self.faults.read_lag_s)
        return (
            self.exchange.history.orders(account_id, since=since) if view is None else view.orders
        )

    def lags(self, account_id: str) -> bool:
        """Reads of the account's orders see an older state (`read_lag_ms`) right now."""
        lag = self.faults.read_lag_s
        return self.replica.view(account_id, self.clock.monotonic(), lag) is not None

    def lagged_order(self, account_id: str, order_id: str) -> SimOrder:
        view = self.replica.view(account_id, self.clock.monotonic(), self.faults.read_lag_s)
        if view is None:
            return self.exchange.history.order(account_id, order_id)
        order = view.order(order_id)
        if order is None:
            raise ExchangeError(404, "order_not_found", f"order {order_id} not found")
        return order

    def lagged_positions(self, account_id: str) -> list[SimPosition]:
        view = self.replica.view(account_id, self.clock.monotonic(), self.faults.read_lag_s)
        return self.exchange.accounts.positions(account_id) if view is None else view.positions


@dataclass
class RequestContext:
    request: Request
    account: Account | None
    body: Any
    now: float
    operation: str = ""  # the spec's operationId, named in query validation errors
    key_subaccount: int | None = None  # the subaccount the request's API key is restricted to

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
    private: bool = True
    batch: bool = False

    @property
    def operation(self) -> str:
        """The spec's operationId for this method and path."""
        return _OPERATION_IDS[self.method, self.template]

    @property
    def body(self) -> str | None:
        """The Go request struct the JSON body decodes into, None when none is read (the
        spec's `EmptyResponse` body carries nothing, and its operations do not read one)."""
        struct = REQUEST_BODIES.get(self.operation)
        return None if struct == "EmptyResponse" else struct


_OPERATION_IDS = {(method, template): op for method, template, op in OPERATIONS}


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
    *,
    bits: int = 64,
) -> int | None:
    """An integer query parameter (int64 unless `bits` says int32, as the spec's `format`
    does); a value that does not parse, leaves its width or breaks the spec's bounds is a
    bare-`msg` 400."""
    raw = ctx.request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _INT_TEXT.fullmatch(raw):
        raise InvalidQuery(
            ctx.operation, f"{name}: strconv.ParseInt: parsing {json.dumps(raw)}: invalid syntax"
        )
    value = int(raw)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
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


def query_subaccount(ctx: RequestContext) -> int | None:
    """The `subaccount` query parameter (0 to 63, else a bare-`msg` 400), or None when it is not
    sent or its operation does not declare it (`SUBACCOUNT_QUERY`): Kalshi's server binds no
    other, so an order create naming none in its body is placed on subaccount 0 whatever the
    query says."""
    if ctx.operation not in SUBACCOUNT_QUERY:
        return None
    return query_int(ctx, "subaccount", None, 0, SUBACCOUNT_MAX)


def shard_query(ctx: RequestContext, *, auto_route: bool = False) -> int | None:
    """The `exchange_index` query parameter, None when it is not sent or its operation does not
    declare it (`SHARD_QUERY`: Kalshi's server binds no other). The list filters take a shard
    >= 0 ("Omit to return results from all exchange shards"), the single-order writes also -1
    (auto-routing)."""
    query_subaccount(ctx)
    if ctx.operation not in SHARD_QUERY:
        return None
    return query_int(ctx, "exchange_index", None, -1 if auto_route else 0, None, bits=32)


def on_shard(state: SimState, ticker: str, shard: int | None) -> bool:
    """Whether the market is on `shard` (every shard when None); a ticker the exchange does not
    list is on shard 0."""
    if shard is None:
        return True
    market = state.exchange.reference.markets.get(ticker)
    return (market.exchange_index if market is not None else 0) == shard


def shard_of(state: SimState, ticker: str) -> int:
    """The market's shard (`exchange_index`); 0 for a ticker the exchange does not list."""
    market = state.exchange.reference.markets.get(ticker)
    return market.exchange_index if market is not None else 0


def paginate(
    items: list[T],
    key: Callable[[T], str],
    limit: int,
    cursor: str | None,
    every: Sequence[T] | None = None,
) -> tuple[list[T], str]:
    """Cursor = the key of the last item already returned; "" means no more pages. `items` is
    what the filters keep of `every` (all of it when not given), in the same order, `every`
    being what the filters of fixed fields keep (a ticker, an event), so that a cursor whose
    item a changing field has since left out (a position closed, a market closed) still marks
    where the next page starts. A cursor that names no item of either is answered as if absent
    (the first page), as Kalshi does."""
    start = 0
    if cursor:
        keys = [key(i) for i in items]
        if cursor in keys:
            start = keys.index(cursor) + 1
        elif every is not None:
            order = [key(i) for i in every]
            if cursor in order:
                later = {id(i) for i in every[order.index(cursor) + 1 :]}
                start = next((n for n, i in enumerate(items) if id(i) in later), len(items))
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (key(page[-1]) if more and page else "")


def page_by_index(
    spans: Sequence[range],
    keep: Callable[[int], bool],
    key: Callable[[int], str],
    find: Callable[[str], int | None],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[int], str]:
    """`paginate` over the records of a view read by index that `keep` keeps, without listing
    them: only the indexes of `spans` (ascending, apart) are read, so a caller leaves out
    spans it knows hold none that `keep` keeps (`keep` must still refuse everything not in the
    listing). The page starts after the cursor's record when it is one of them (else at the
    first, as `paginate`). Returns the page's indexes and the next cursor ("" at the end)."""
    start = 0
    if cursor:
        at = find(cursor)
        if at is not None and keep(at):
            start = at + 1
    indexes = (i for span in spans for i in range(max(span.start, start), span.stop))
    return page_of(indexes, keep, key, limit)


def view_page(  # noqa: PLR0917 (the listing routes' one call shape)
    ctx: RequestContext,
    name: str,
    view: NewestFirst[T],
    spans: Sequence[range],
    keep: Callable[[int], bool],
    to_json: Callable[[T], Json],
    limit: int,
) -> tuple[int, Json]:
    """The answer of a listing read by index (`page_by_index`): the page's records under
    `name`, and the next cursor."""
    page, cursor = page_by_index(
        spans, keep, view.key, view.find, limit=limit, cursor=query_str(ctx, "cursor")
    )
    return 200, {name: [to_json(view.record(i)) for i in page], "cursor": cursor}


def orders_page(
    orders: OrdersNewestFirst,
    keep: Callable[[OrderRef], bool],
    cursor: str | None,
    limit: int,
    *,
    listed: Callable[[OrderRef], bool] | None = None,
    stored: OrdersNewestFirst | None = None,
) -> tuple[list[OrderRef], str]:
    """`page_of` over a walk of an account's orders, from just after the cursor's order when
    the listing keeps it, or `listed` does (the filters but the status: an order filled since
    it was listed as resting), else from the first, as `paginate`. `stored`: every order of
    the account, where the cursor is found when `orders` leaves the archived ones out."""
    walk = orders.walk()
    if cursor:
        found = (stored or orders).find(cursor)
        if found is not None and (keep(found[0]) or (listed is not None and listed(found[0]))):
            walk = orders.walk(*found[1])
    return page_of(walk, keep, orders.key, limit)


def page_of(
    records: Iterator[T], keep: Callable[[T], bool], key: Callable[[T], str], limit: int
) -> tuple[list[T], str]:
    """The first `limit` records `keep` keeps, read on only until one more is kept (then the
    next cursor is the page's last key, else ""), as `paginate` cuts a listed page."""
    taken: list[T] = []
    for r in records:
        if keep(r):
            if len(taken) == limit:
                return taken, key(taken[-1])
            taken.append(r)
    return taken, ""


# Kalshi decodes a body into its Go struct (request_bodies.py, generated from openapi.yaml) before
# anything else looks at it: a JSON value of another type is refused as a whole, in the flat
# shape, before any item of a batch is acted on. Unknown fields are ignored and null leaves a
# field unset, as encoding/json does.


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
    if go_type.startswith("[]"):  # a list of strings (the only lists in these structs)
        if kind != "array":
            return kind
        return next((_json_kind(v) for v in value if not isinstance(v, str)), None)
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


def field_given(body: Json, name: str, required: bool = True) -> Any:
    """`body[name]`, None when absent or null; refused as missing when `required`."""
    value = body.get(name)
    if value is None and required:
        raise bad_request(f"{name} is required", "missing_parameters")
    return value


def _field_of(body: Json, name: str, kind: type[T], what: str, required: bool) -> T | None:
    """`field_given`, refused unless of its JSON type `kind` (`what` in the refusal)."""
    value = field_given(body, name, required)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise bad_request(f"{name} must be {what}")
    return value


def field_str(body: Json, name: str, *, required: bool = True) -> str | None:
    return _field_of(body, name, str, "a string", required)


def field_req(body: Json, name: str) -> str:
    value = field_str(body, name)
    assert value is not None  # field_str raises on a missing required field
    return value


def field_bool(body: Json, name: str, *, required: bool = False) -> bool:
    """`body[name]`, False when absent or null unless `required`."""
    return _field_of(body, name, bool, "a boolean", required) is True


# The spec's request precision: FixedPointCount "accepts 0-2 decimal places",
# FixedPointDollars "2-4 decimal places". Both are JSON strings; a number is a 400.
COUNT_TEXT = re.compile(r"\d+(\.\d{1,2})?")
DOLLARS_TEXT = re.compile(r"\d+\.\d{2,4}")


def field_decimal(
    body: Json, name: str, pattern: re.Pattern[str], code: str, *, required: bool = True
) -> Decimal | None:
    value = field_given(body, name, required)
    if value is None:
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


def ts_filter(ctx: RequestContext, lo_name: str, hi_name: str) -> tuple[int | None, int | None]:
    return query_int(ctx, lo_name, None), query_int(ctx, hi_name, None)


def matches(item: object, **wanted: object) -> bool:
    """Whether `item`'s attributes equal the filters' values; a filter not given (None) passes."""
    return all(value is None or getattr(item, name) == value for name, value in wanted.items())


def within(value: float | None, lo: int | None, hi: int | None) -> bool:
    if lo is None and hi is None:
        return True
    if value is None:
        return False
    return (lo is None or value >= lo) and (hi is None or value <= hi)
