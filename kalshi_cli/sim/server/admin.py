"""Accounts, keys and the admin API (`/sim/v1`), outside Kalshi's paths and loopback only.

An account is a core account plus an RSA (default) or Ed25519 key pair: the public key goes into the
exchange, the private key to `DATA_DIR/keys/KEY_ID.pem` (mode 0600, Kalshi's PEM form), so a
restarted simulator keeps every account usable. `AccountInfo` is the five keys of `account.json`.

The admin API lets a test set the stage over HTTP: create accounts and markets, settle or change a
market's status, inject faults, read request statistics, set the historical tier's lag. Every answer
uses Kalshi's error shape.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.historical import HistoryPolicyError
from kalshi_cli.sim.core.records import (
    Account,
    ExchangeError,
    MarketStatus,
    SimEvent,
    SimMarket,
    SimSeries,
    bad_request,
    settlement_timer,
)
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.faults import FaultError
from kalshi_cli.sim.server.routing import (
    API_PREFIX,
    WS_PATH,
    SimState,
    field_bool,
    field_of,
    field_str,
    flat_error_response,
    found,
    loads_body,
)
from kalshi_cli.sim.server.scenario_data import handle_get_data, handle_put_data
from kalshi_cli.sim.server.server import is_loopback
from kalshi_cli.vocabulary.keys import (
    KEY_TYPES,
    KeyType,
    generate_private_key,
    key_type,
    load_public_key,
    private_key_pem,
    public_key_pem,
)
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES
from kalshi_cli.vocabulary.request_ranges import SHARD_MAX
from kalshi_cli.vocabulary.units import ONE, ZERO, parse_dollars

Json = dict[str, Any]
DEFAULT_MARKET_LIFETIME_S = 30 * 24 * 3600


def account_info(state: SimState, key_id: str) -> AccountInfo:
    host = state.base_url.split("://", 1)[1]
    account = state.exchange.subaccounts.account_by_key(key_id)
    kind = "rsa" if account is None else key_type(load_public_key(account.public_key_pem))
    return AccountInfo(
        api_base=state.base_url + API_PREFIX,
        ws_url=f"ws://{host}{WS_PATH}",
        key_id=key_id,
        private_key_path=str(key_path(state.data_dir, key_id)),
        key_type=kind,
    )


def key_path(data_dir: Path, key_id: str) -> Path:
    return data_dir / "keys" / f"{key_id}.pem"


def write_private_key(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    path.chmod(0o600)


def new_account(state: SimState, balance_cents: int, kind: KeyType = "rsa") -> Account:
    """A fresh key pair of `kind` and a core account holding `balance_cents`."""
    key = generate_private_key(kind)
    key_id = str(uuid.uuid4())
    write_private_key(key_path(state.data_dir, key_id), private_key_pem(key))
    return state.exchange.accounts.create_account(
        key_id=key_id, public_key_pem=public_key_pem(key), cash_cents=balance_cents
    )


def write_account_json(data_dir: Path, info: AccountInfo) -> None:
    path = data_dir / "account.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------


async def _json_object(request: Request, *, optional: bool = False) -> Json:
    raw = await request.body()
    if not raw.strip() and optional:
        return {}
    body = loads_body(raw)  # bad JSON, too deep, too long a number, a lone surrogate: 400
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object", "bad_request")
    return body


def _str(body: Json, name: str, default: str | None = None) -> str:
    """A non-empty string field (`field_str`); `default` when absent or null, refused as missing
    without one."""
    value = field_str(body, name, required=default is None)
    if value is None:
        assert default is not None  # field_str refuses a missing required field
        return default
    if not value:
        raise bad_request(f"{name} must not be empty")
    return value


def _floor(body: Json) -> Decimal | None:
    """`settlement_floor_dollars`: absent or null for a market with default bounds, else a
    dollar string strictly between 0 and 1 with at most 4 decimals."""
    value = body.get("settlement_floor_dollars")
    if value is None:
        return None
    message = "settlement_floor_dollars must be a dollar string between 0 and 1 (exclusive)"
    if not isinstance(value, str):
        raise bad_request(message)
    try:
        floor = parse_dollars(value)
    except ValueError:
        raise bad_request(message) from None
    if not ZERO < floor < ONE or floor != floor.quantize(Decimal("0.0001")):
        raise bad_request(message)
    return floor


def _shard(body: Json, event: SimEvent | None) -> int:
    """A new market's `exchange_index`: its event's ("every event and market lives on exactly
    one shard"), given for a new event (default 0, at most `SHARD_MAX`)."""
    shard = _int(body, "exchange_index", 0 if event is None else event.exchange_index)
    if shard > SHARD_MAX:
        raise bad_request(f"exchange_index must be at most {SHARD_MAX}")
    if event is not None and shard != event.exchange_index:
        raise bad_request(f"event {event.event_ticker} is on exchange_index {event.exchange_index}")
    return shard


def _int(body: Json, name: str, default: int) -> int:
    """A non-negative integer field (`field_of`); `default` when absent or null."""
    value = field_of(body, name, int, "a non-negative integer", required=False)
    if value is None:
        return default
    if value < 0:
        raise bad_request(f"{name} must be a non-negative integer")
    return value


AdminHandler = Callable[[SimState, Request], Awaitable[Response]]


def _guard(state: SimState, handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if not is_loopback(request.client.host if request.client else None):
            return flat_error_response(
                403, "forbidden", "the admin API answers loopback clients only"
            )
        try:
            if request.method != "GET":
                state.before_change()  # a settle changes positions: lagged reads keep the old
            return await handler(state, request)
        except ExchangeError as exc:
            return flat_error_response(exc.status, exc.code, exc.message, exc.details)

    return endpoint


async def handle_create_account(state: SimState, request: Request) -> Response:
    body = await _json_object(request, optional=True)
    balance = _int(body, "balance_cents", 100_000)
    kind = body.get("key_type", "rsa")
    if kind not in KEY_TYPES:
        raise bad_request("key_type must be rsa or ed25519")
    account = new_account(state, balance, kind)
    return JSONResponse(account_info(state, account.key_id).to_json(), status_code=201)


async def handle_create_market(state: SimState, request: Request) -> Response:
    body = await _json_object(request)
    exchange = state.exchange
    ticker = _str(body, "ticker")
    event_ticker = _str(body, "event_ticker")
    series_ticker = _str(body, "series_ticker")
    title = _str(body, "title")
    if ticker in exchange.reference.markets:
        raise ExchangeError(409, "conflict", f"market {ticker} already exists")
    structure = _str(body, "price_level_structure", "linear_cent")
    if structure not in PRICE_STRUCTURES:
        raise bad_request(f"price_level_structure must be one of {sorted(PRICE_STRUCTURES)}")
    floor = _floor(body)
    now = state.clock.wall()
    close_time = _int(body, "close_time", int(now + DEFAULT_MARKET_LIFETIME_S))
    if close_time <= now:
        raise bad_request("close_time must be in the future")
    # a market listed before it opens is `initialized`, and the exchange's tick opens it at its
    # `open_time` (openapi `Market.status`, `open_time`; asyncapi `activated`)
    open_time = float(_int(body, "open_time", int(now))) if "open_time" in body else now
    if open_time >= close_time:
        raise bad_request("open_time must be before close_time")
    existing_event = exchange.reference.events.get(event_ticker)
    if existing_event is not None and existing_event.series_ticker != series_ticker:
        raise bad_request(f"event {event_ticker} belongs to series {existing_event.series_ticker}")
    shard = _shard(body, existing_event)
    waiver = field_of(body, "fee_waiver_expiration_time", int, "unix seconds", required=False)
    event = SimEvent(  # checks the pair before anything is added
        event_ticker=event_ticker,
        series_ticker=series_ticker,
        title=title,
        mutually_exclusive=field_bool(body, "mutually_exclusive"),
        collateral_return_type=field_str(body, "collateral_return_type", required=False) or "",
        exchange_index=shard,
    )
    strike_type, floor_strike, cap_strike = _strike(body)
    _add_series(exchange, body, series_ticker)
    if existing_event is None:
        exchange.reference.add_event(event)
    market = SimMarket(
        ticker=ticker,
        event_ticker=event_ticker,
        series_ticker=series_ticker,
        title=title,
        yes_sub_title=_str(body, "yes_sub_title", title),
        no_sub_title=_str(body, "no_sub_title", title),
        status="open" if open_time <= now else "unopened",
        price_level_structure=structure,
        price_ranges=PRICE_STRUCTURES[structure],
        open_time=open_time,
        close_time=float(close_time),  # unix seconds
        latest_expiration_time=float(close_time),  # unix seconds
        created_time=now,
        updated_time=now,
        rules_primary=field_str(body, "rules_primary", required=False) or "",
        rules_secondary=field_str(body, "rules_secondary", required=False) or "",
        settlement_floor=floor,
        fee_waiver_expiration_time=None if waiver is None else float(waiver),  # unix seconds
        strike_type=strike_type,
        floor_strike=floor_strike,
        cap_strike=cap_strike,
        settlement_timer_seconds=settlement_timer(body.get("settlement_timer_seconds", 0)),
    )
    exchange.add_market(market)
    created = exchange.reference.markets[ticker]
    return JSONResponse({"market": ser.market_json(exchange.engine, created)}, status_code=201)


async def handle_schedule_fee_change(state: SimState, request: Request) -> Response:
    """Schedule a change of a series' fees: {fee_type, fee_multiplier, scheduled_ts (unix
    seconds)}; answers the SeriesFeeChange as GET /series/fee_changes lists it."""
    body = await _json_object(request)
    fee_type = _str(body, "fee_type")
    multiplier = _multiplier(body.get("fee_multiplier"))
    scheduled = _seconds(body, "scheduled_ts")
    change = state.exchange.schedule_fee_change(
        str(request.path_params["ticker"]), fee_type, multiplier, float(scheduled)
    )
    return JSONResponse(ser.fee_change_json(change), status_code=201)


STRIKE_TYPES = (
    "greater",
    "greater_or_equal",
    "less",
    "less_or_equal",
    "between",
    "functional",
    "custom",
    "structured",
)


def _strike(body: Json) -> tuple[str, Decimal | None, Decimal | None]:
    """A market's `strike_type` (the spec's enum, or "" for none) and its `floor_strike` and
    `cap_strike` (JSON numbers, as the spec's Market has them)."""
    strike_type = field_str(body, "strike_type", required=False) or ""
    if strike_type and strike_type not in STRIKE_TYPES:
        raise bad_request(f"strike_type must be one of {STRIKE_TYPES}")
    bounds = []
    for name in ("floor_strike", "cap_strike"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise bad_request(f"{name} must be a number")
        bounds.append(None if value is None else Decimal(str(value)))
    return strike_type, bounds[0], bounds[1]


def _add_series(exchange: Exchange, body: Json, series_ticker: str) -> None:
    """A new market's series, made with the body's fees; a series that exists keeps its own."""
    fee_type = field_str(body, "fee_type", required=False)
    multiplier = _optional_multiplier(body, "fee_multiplier")
    if series_ticker not in exchange.reference.series:
        exchange.reference.add_series(
            SimSeries(
                ticker=series_ticker,
                title=series_ticker,
                fee_type=fee_type,
                fee_multiplier=multiplier,
            )
        )
    elif fee_type is not None or multiplier is not None:
        raise bad_request(f"series {series_ticker} exists: its fees are set")


def _multiplier(value: object, name: str = "fee_multiplier") -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad_request(f"{name} must be a number")
    return str(value)


def _optional_multiplier(body: Json, name: str) -> str | None:
    value = body.get(name)
    return None if value is None else _multiplier(value, name)


def _seconds(body: Json, name: str) -> int:
    """A required field of unix seconds (`field_of`: an integer)."""
    value = field_of(body, name, int, "unix seconds", required=True)
    assert value is not None  # field_of refuses a missing required field
    return value


async def handle_schedule_event_fee_change(state: SimState, request: Request) -> Response:
    """Schedule a change of an event's fee override: {fee_type_override, fee_multiplier_override
    (each null or absent: the series' own half; both: clear the override), scheduled_ts (unix
    seconds)}; answers the EventFeeChange as GET /events/fee_changes lists it."""
    body = await _json_object(request)
    fee_type = field_str(body, "fee_type_override", required=False)
    multiplier = _optional_multiplier(body, "fee_multiplier_override")
    scheduled = _seconds(body, "scheduled_ts")
    change = state.exchange.schedule_event_fee_change(
        str(request.path_params["ticker"]), fee_type, multiplier, float(scheduled)
    )
    return JSONResponse(ser.event_fee_change_json(change), status_code=201)


async def handle_add_maintenance(state: SimState, request: Request) -> Response:
    """Schedule a maintenance window: {start_ts, end_ts} (unix seconds, the exchange's clock).
    During it trading pauses (sim/server/schedule.py); answers the schedule as GET
    /exchange/schedule does."""
    body = await _json_object(request)
    start = _seconds(body, "start_ts")
    end = _seconds(body, "end_ts")
    state.schedule.add(float(start), float(end))  # unix seconds
    state.before_change()
    state.schedule.on_tick(state.clock.wall())  # a window already begun pauses at once
    now = state.clock.wall()
    return JSONResponse(
        state.schedule.schedule_json(state.exchange.reference.created_time, now), status_code=201
    )


async def handle_add_forecast(state: SimState, request: Request) -> Response:
    """Set an event's forecast from a time on: {ts (unix seconds), percentiles: {"5000":
    "97000.5", ...}} (percentile 0-9999 -> a decimal); GetEventForecastPercentilesHistory
    serves it."""
    ticker = str(request.path_params["ticker"])
    found(state.exchange.reference.events.get(ticker), f"event {ticker}")
    body = await _json_object(request)
    ts, raw = _seconds(body, "ts"), body.get("percentiles")
    if not isinstance(raw, dict) or not raw:
        raise bad_request("percentiles must be a non-empty object")
    values: dict[int, Decimal] = {}
    for key, value in raw.items():
        if not str(key).isdigit() or not 0 <= int(key) <= 9999:
            raise bad_request(f"percentile {key!r} is not 0-9999")
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            number = Decimal("NaN")
        if isinstance(value, bool) or not number.is_finite():
            raise bad_request(f"percentile {key}: not a number")
        values[int(key)] = number
    state.market_history.add_forecast(ticker, float(ts), values)  # unix seconds
    return JSONResponse(
        {
            "event_ticker": ticker,
            "ts": ts,
            "percentiles": {str(k): str(v) for k, v in values.items()},
        },
        status_code=201,
    )


async def handle_clear_maintenance(state: SimState, request: Request) -> Response:
    state.schedule.clear()
    return JSONResponse(state.schedule.schedule_json(state.exchange.reference.created_time, 0.0))


def _known_market(state: SimState, request: Request) -> str:
    ticker = str(request.path_params["ticker"])
    found(state.exchange.reference.markets.get(ticker), f"market {ticker}")
    return ticker


async def _result(request: Request) -> Literal["yes", "no"]:
    result = (await _json_object(request)).get("result")
    if result not in ("yes", "no"):
        raise bad_request("result must be yes or no")
    return "yes" if result == "yes" else "no"


async def handle_settle_market(state: SimState, request: Request) -> Response:
    """Determine and settle at once; a market determined already is settled now."""
    ticker = _known_market(state, request)
    market = state.exchange.settlement.settle(ticker, await _result(request))
    return JSONResponse({"market": ser.market_json(state.exchange.engine, market)})


async def handle_determine_market(state: SimState, request: Request) -> Response:
    """Determine now; settled once its `settlement_timer_seconds` have run out (the tick), or
    by a settle."""
    ticker = _known_market(state, request)
    market = state.exchange.settlement.determine(ticker, await _result(request))
    return JSONResponse({"market": ser.market_json(state.exchange.engine, market)})


_STATUSES: dict[str, MarketStatus] = {"open": "open", "paused": "paused", "closed": "closed"}


async def handle_set_market_status(state: SimState, request: Request) -> Response:
    ticker = _known_market(state, request)
    body = await _json_object(request)
    status = _STATUSES.get(str(body.get("status")))
    if status is None:
        raise bad_request("status must be open, paused or closed")
    market = state.exchange.settlement.set_market_status(ticker, status)
    return JSONResponse({"market": ser.market_json(state.exchange.engine, market)})


async def handle_get_faults(state: SimState, request: Request) -> Response:
    return JSONResponse(state.faults.as_json())


class _Settings(Protocol):
    """What an admin PUT changes: the faults, the historical tier's policy."""

    def update(self, data: dict[str, Any]) -> None: ...

    def as_json(self) -> Mapping[str, Any]: ...


async def _put_settings(
    settings: _Settings, refused: type[Exception], request: Request
) -> Response:
    """The body's knobs set on `settings`, answered with all of them; a knob `settings` refuses
    is a 400 and changes nothing."""
    body = await _json_object(request)
    try:
        settings.update(body)
    except refused as exc:
        raise bad_request(str(exc)) from None
    return JSONResponse(settings.as_json())


async def handle_put_faults(state: SimState, request: Request) -> Response:
    return await _put_settings(state.faults, FaultError, request)


async def handle_clear_faults(state: SimState, request: Request) -> Response:
    state.faults.clear()
    return JSONResponse(state.faults.as_json())


async def handle_get_stats(state: SimState, request: Request) -> Response:
    return JSONResponse(state.stats.as_json())


async def handle_get_historical(state: SimState, request: Request) -> Response:
    return JSONResponse(state.history.as_json())


async def handle_put_historical(state: SimState, request: Request) -> Response:
    """Set how far the historical tier's cutoff runs behind the clock: {lag_seconds,
    position_buffer_seconds} (sim/core/historical.py)."""
    return await _put_settings(state.history, HistoryPolicyError, request)


async def handle_set_shard(state: SimState, request: Request) -> Response:
    """Pause or resume one shard: {trading_active?, intra_exchange_transfers_active?} (booleans;
    one left out stays as it is). Answers the shard's status as GET /exchange/status has it."""
    body = await _json_object(request)
    index = _path_int(request, "index")
    switches = {
        name: field_of(body, name, bool, "a boolean", required=False)
        for name in ("trading_active", "intra_exchange_transfers_active")
    }
    state.shards.set(
        state.exchange,
        index,
        trading=switches["trading_active"],
        transfers=switches["intra_exchange_transfers_active"],
    )
    statuses = state.shards.statuses(state.exchange, active=True)
    return JSONResponse(next(s for s in statuses if s["exchange_index"] == index))


def _path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isdigit():
        raise bad_request(f"{name} must be a non-negative integer")
    return int(raw)


def admin_routes(state: SimState) -> list[BaseRoute]:
    def route(path: str, methods: dict[str, AdminHandler]) -> Route:
        guarded = {m: _guard(state, h) for m, h in methods.items()}

        async def endpoint(request: Request) -> Response:
            return await guarded[request.method](request)

        return Route(path, endpoint, methods=list(methods))

    return [
        route("/accounts", {"POST": handle_create_account}),
        route("/markets", {"POST": handle_create_market}),
        route("/series/{ticker}/fee_changes", {"POST": handle_schedule_fee_change}),
        route("/markets/{ticker}/settle", {"POST": handle_settle_market}),
        route("/markets/{ticker}/determine", {"POST": handle_determine_market}),
        route("/markets/{ticker}/status", {"POST": handle_set_market_status}),
        route(
            "/faults",
            {"GET": handle_get_faults, "PUT": handle_put_faults, "DELETE": handle_clear_faults},
        ),
        route("/stats", {"GET": handle_get_stats}),
        route("/data/{kind}", {"GET": handle_get_data, "PUT": handle_put_data}),
        route("/historical", {"GET": handle_get_historical, "PUT": handle_put_historical}),
        route("/events/{ticker}/fee_changes", {"POST": handle_schedule_event_fee_change}),
        route(
            "/exchange/maintenance",
            {"POST": handle_add_maintenance, "DELETE": handle_clear_maintenance},
        ),
        route("/events/{ticker}/forecasts", {"POST": handle_add_forecast}),
        route("/shards/{index}", {"POST": handle_set_shard}),
    ]
