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
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kalshi_cli.sim.auth import AuthFailure
from kalshi_cli.sim.core import (
    Account,
    ExchangeError,
)
from kalshi_cli.sim.ratelimit import (
    request_cost,
)
from kalshi_cli.sim.routes import api_keys, market_data, orders, portfolio, subaccounts
from kalshi_cli.sim.routes.api_keys import scope_refusal
from kalshi_cli.sim.routes.orders import _batch_items
from kalshi_cli.sim.routing import (
    DROP_RESPONSE,
    OPTIONAL_BODIES,
    Endpoint,
    RequestContext,
    SimState,
    UndecodableBody,
    decode_body,
    error_response,
    flat_error_response,
    refusal,
)

log = logging.getLogger("kalshi_cli.sim")

ENDPOINTS: tuple[Endpoint, ...] = (
    market_data.ENDPOINTS
    + portfolio.ENDPOINTS
    + orders.ENDPOINTS
    + subaccounts.ENDPOINTS
    + api_keys.ENDPOINTS
)


# --------------------------------------------------------------------------------------------
# The pipeline


async def _read_json(request: Request, struct: str) -> Any:
    raw = await request.body()
    if not raw.strip():
        if struct in OPTIONAL_BODIES:
            return {}
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
    # scopes and a subaccount restriction bind private paths; a public one needs no key at all
    key = state.exchange.api_key(stats_key) if account is not None and ep.private else None
    if key is not None:
        denied = scope_refusal(key, method, ep.operation)  # scopes: sim/routes/api_keys.py
        if denied is not None:
            return refusal(denied)
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
        ctx = RequestContext(
            request,
            account,
            body,
            state.clock.wall(),
            ep.operation,
            key.subaccount if key is not None else None,
        )
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
